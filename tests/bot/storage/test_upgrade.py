"""A database made by the release before bot/storage/ (schema and rows frozen in fixtures/, made by
that release's own code) opens in place with today's stores, and every row survives."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.storage import open_store, open_voice_book
from bot.storage.schema import POSTGRES_SCHEMA_VERSION, SQLITE_SCHEMA_VERSION
from tests.bot.storage.harness import SNOWFLAKE, direct
from tests.pg_server import connect as pg_connect

FIXTURES = Path(__file__).parent / "fixtures"


async def made_by_the_release(database: str | None, tmp_path: Path) -> BotConfig:
    """The fixture loaded as it was written: a SQLite file, or a PostgreSQL schema."""
    if database is None:
        path = tmp_path / "bot.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.executescript((FIXTURES / "release_sqlite.sql").read_text())
        return BotConfig(db_path=path, voices_dir=tmp_path / "voices")
    connection = await pg_connect(database)
    try:
        await connection.connection.execute((FIXTURES / "release_postgres.sql").read_text())
    finally:
        await connection.close()
    return BotConfig(db_path=tmp_path / "unused.sqlite3", voices_dir=tmp_path / "voices",
                     database_url=database)


async def test_a_database_made_by_the_release_opens_in_place_and_keeps_every_row(database, tmp_path,
                                                                               monkeypatch):
    config = await made_by_the_release(database, tmp_path)
    where = config.db_path if database is None else database
    (created_at,), = await direct(where, "SELECT created_at FROM replies")
    store = await open_store(config)
    try:
        assert (await store.get(SNOWFLAKE)).temperature == 1.25
        assert (await store.get(42)).model == "voice:lore"
        assert (await store.get_user(7)).length == 640
        assert await store.get_state("synced-commands:1:global") == "abc123"
        monkeypatch.setattr(time, "time", lambda: created_at + 1)  # the reply as fresh as it was
        reply = await store.get_reply("0123456789abcdef")
        assert (reply.requester_id, reply.seed, reply.prompt, reply.continued) == (
            5, "ROMEO:", "ROMEO: O, she", False)
        monkeypatch.undo()
        assert (await store.set_value(SNOWFLAKE, "length", 99)).length == 99  # and it takes changes
    finally:
        await store.close()
    book = open_voice_book(config)
    try:
        (voice,) = await book.voices(42)
        assert (voice.name, voice.base, voice.bits_after) == ("lore", "lstm", 2.4)
        assert (await book.latest_job(42)).state == "done"
    finally:
        await book.close()
    if database is None:
        assert await direct(where, "PRAGMA user_version") == [(SQLITE_SCHEMA_VERSION,)]
    else:
        assert await direct(where, "SELECT max(version) FROM schema_version") == [(POSTGRES_SCHEMA_VERSION,)]


@pytest.mark.parametrize("fixture, version", [("release_sqlite.sql", SQLITE_SCHEMA_VERSION),
                                              ("release_postgres.sql", POSTGRES_SCHEMA_VERSION)])
def test_the_fixtures_are_of_the_schema_version_this_code_knows(fixture, version):
    """The fixture is of a release this code upgrades from: its schema version is at most this
    code's (a new migration leaves the fixture of the release before it as it was)."""
    text = (FIXTURES / fixture).read_text()
    made = [int(number) for number in re.findall(r"PRAGMA user_version = (\d+);|VALUES \((\d+)\);", text)
            for number in number if number]
    assert made and max(made) <= version
