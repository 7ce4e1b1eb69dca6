"""What the storage tests share: rows to store, and a look at the tables under either database
(as sqlite3 or an operator's psql would see them), so one test can check both."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

from bot.storage.replies import ReplyRecord
from tests.pg_server import connect as pg_connect

REPO = Path(__file__).resolve().parents[3]
GUILD = 1234
SNOWFLAKE = 1_234_567_890_123_456_789  # a real Discord id: past 32 bits, so bigint columns
# What each database's driver raises for a row its CHECK constraints refuse.
CHECK_REFUSED = (sqlite3.IntegrityError, psycopg.errors.CheckViolation)


def record(key: str = "0123456789abcdef", **changes) -> ReplyRecord:
    values = {"requester_id": SNOWFLAKE, "seed": "ROMEO:", "model": "lstm", "temperature": 0.8, "length": 300,
              "body": " O, she doth teach", "prompt": "ROMEO: O, she doth teach"}
    return ReplyRecord(key, **{**values, **changes})


def one_sentence(text: str) -> bool:
    return text.endswith(".") and ". " not in text and "\n" not in text


def run_python(code: str, timeout: float = 60) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def direct(where: str | Path, sql: str, *params: object) -> list[tuple]:
    """Run `sql` (? placeholders) straight on the database, past the store: a SQLite file's path, or
    a PostgreSQL URL. The rows it returned."""
    if isinstance(where, Path):
        with sqlite3.connect(where) as connection:
            return connection.execute(sql, params).fetchall()
    connection = await pg_connect(where)
    try:
        cursor = await connection.connection.execute(sql.replace("?", "%s"), params or None)
        return await cursor.fetchall() if cursor.description else []
    finally:
        await connection.close()


async def guild_rows(where: str | Path) -> list[tuple]:
    return await direct(where, "SELECT guild_id, temperature, length, model FROM guild_settings "
                               "ORDER BY guild_id")
