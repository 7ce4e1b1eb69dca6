"""What the storage tests share: rows to store, and a look at the tables under either database
(as sqlite3 or an operator's psql would see them), so one test can check both."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

from bot.config import BotConfig
from bot.storage import open_store
from bot.storage.replies import ReplyRecord
from bot.storage.sqlite_voices import SqliteVoiceBook
from bot.storage.voices import VoiceBook
from tests.helpers import tiny_checkpoint
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


def migrate(config: BotConfig) -> None:
    """What the bot and the trainer do at start: open the settings store, whose migrations make every
    table (on a thread of its own: a test may have an event loop running)."""
    async def opened() -> None:
        await (await open_store(config)).close()

    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, opened()).result()


def texts_kept(book: VoiceBook) -> int:
    """Uploaded texts the book still keeps: files in VOICES_DIR (SQLite), job rows (PostgreSQL)."""
    if isinstance(book, SqliteVoiceBook):
        return len(list(book.uploads.glob("*"))) if book.uploads.exists() else 0
    with psycopg.connect(book.url) as connection:
        return connection.execute("SELECT count(*) FROM voice_jobs WHERE text IS NOT NULL").fetchone()[0]


async def finish_with(book: VoiceBook, job, data: bytes = b"weights", **checkpoint) -> None:
    """Finish `job` as the trainer would, with a tiny checkpoint (given its options) or `data` as
    its voice's bytes."""
    path = book.training_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    if checkpoint:
        tiny_checkpoint(path, "lstm", **checkpoint)
    else:
        path.write_bytes(data)
    assert await book.finish(job, path, 3.0, 2.0)
    await book.drop_text(job)  # as the trainer does once the job ended
