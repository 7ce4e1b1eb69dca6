"""Databases made by earlier releases (schema and rows frozen in fixtures/, made by those releases'
own code) open in place with today's stores: every row survives, and the tables end as a new
database's, on SQLite and on PostgreSQL. PostgreSQL databases numbered their migrations their own
way before bot/storage/schema.py wrote the tables once: each old number is renumbered.

fixtures/release_*.sql: the release before bot/storage/ (SQLite at version 5, PostgreSQL at its
own 4); fixtures/guess_*.sql: the /guess migration as the release after it made it (SQLite 6,
PostgreSQL's own 5), applied on top."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.storage import open_store, open_voice_book
from bot.storage.postgres import NUMBERED_BEFORE
from bot.storage.schema import SCHEMA_VERSION
from tests.bot.storage.harness import SNOWFLAKE, direct, migrate
from tests.pg_server import connect as pg_connect
from tests.pg_server import create_database, drop_database

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = {"guild_settings", "user_settings", "bot_state", "replies", "voices", "voice_jobs", "guess_rounds",
          "guess_votes", "guess_scores", "guess_fooled"}


def fixture_sql(database: str | None, *names: str, up_to: int | None = None) -> str:
    """The fixtures for this database, in order; with `up_to`, PostgreSQL's release only as far as
    the migration it numbered `up_to` (the database an earlier release left, before any rows)."""
    suffix = "sqlite" if database is None else "postgres"
    text = "\n".join((FIXTURES / f"{name}_{suffix}.sql").read_text() for name in names)
    if up_to is not None:
        recorded = f"INSERT INTO schema_version (version) VALUES ({up_to});"
        text = text[:text.index(recorded) + len(recorded)]
    return text


async def made_by(database: str | None, tmp_path: Path, sql: str) -> BotConfig:
    """`sql` loaded as it was written: into a SQLite file, or a PostgreSQL database."""
    if database is None:
        path = tmp_path / "bot.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.executescript(sql)
        return BotConfig(db_path=path, voices_dir=tmp_path / "voices")
    connection = await pg_connect(database)
    try:
        await connection.connection.execute(sql)
    finally:
        await connection.close()
    return BotConfig(db_path=tmp_path / "unused.sqlite3", voices_dir=tmp_path / "voices",
                     database_url=database)


async def upgraded(config: BotConfig) -> None:
    await (await open_store(config)).close()


async def structure(config: BotConfig) -> dict[str, object]:
    """Everything a migration decides, as the database itself reports it: tables, columns (order,
    type, nullability, default, key), CHECK and other constraints, indexes, triggers and storage.
    Constraint texts are compared with length() for char_length() and octet_length(), which the
    old PostgreSQL migrations wrote and mean the same on text and bytea."""
    if config.database_url is None:
        return _sqlite_structure(config.db_path)
    where = config.database_url

    async def rows(sql: str) -> list[tuple]:
        return sorted(await direct(where, sql))

    public = "connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'schema_%'"
    constraints = await rows(f"SELECT conrelid::regclass::text, contype, pg_get_constraintdef(oid) "
                             f"FROM pg_constraint WHERE {public}")
    found = {
        "columns": await rows("SELECT table_name, ordinal_position, column_name, data_type, is_nullable, "
                              "column_default, is_identity FROM information_schema.columns "
                              "WHERE table_schema = 'public' AND table_name NOT LIKE 'schema_%'"),
        "constraints": sorted((table, kind, re.sub(r"\b(char|octet)_length\(", "length(", definition))
                              for table, kind, definition in constraints),
        "indexes": await rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = "
                              "'public' AND tablename NOT LIKE 'schema_%'"),
        "triggers": await rows("SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger "
                               "WHERE NOT tgisinternal"),
        "functions": await rows("SELECT proname, prosrc FROM pg_proc "
                                "WHERE pronamespace = 'public'::regnamespace"),
        "storage": await rows("SELECT attrelid::regclass::text, attname, attstorage FROM pg_attribute "
                              "JOIN pg_class ON pg_class.oid = attrelid WHERE relnamespace = "
                              "'public'::regnamespace AND relkind = 'r' AND attnum > 0 "
                              "AND relname NOT LIKE 'schema_%'"),
    }
    found["tables"] = {row[0] for row in found["columns"]}
    return found


def _sqlite_structure(path: Path) -> dict[str, object]:
    with sqlite3.connect(path) as connection:
        tables = {name: sql for name, sql in connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        return {
            "tables": set(tables),
            "columns": {name: connection.execute(f"PRAGMA table_xinfo({name})").fetchall()
                        for name in tables},
            "checks": {name: sorted(_checks(sql)) for name, sql in tables.items()},
            "strict": {name: sql.rstrip().endswith("STRICT") for name, sql in tables.items()},
            "indexes": sorted((table, name, " ".join(sql.split())) for table, name, sql in connection.execute(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")),
            "keys": {name: connection.execute(f"PRAGMA index_list({name})").fetchall() for name in tables},
        }


def _checks(sql: str) -> list[str]:
    """The expressions of a CREATE TABLE's CHECK constraints, spaces collapsed."""
    found = []
    for match in re.finditer(r"CHECK \(", sql):
        depth, start = 1, match.end()
        end = start
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        found.append(" ".join(sql[start:end - 1].split()))
    return found


@pytest.fixture
async def new_database(database, tmp_path, request) -> BotConfig:
    """Another database of the same kind, made by today's code alone, to compare with."""
    if database is None:
        config = BotConfig(db_path=tmp_path / "new.sqlite3", voices_dir=tmp_path / "new-voices")
        await upgraded(config)
        yield config
        return
    server = request.getfixturevalue("pg_server")
    url = await create_database(server)
    config = BotConfig(db_path=tmp_path / "unused.sqlite3", voices_dir=tmp_path / "voices", database_url=url)
    await upgraded(config)
    yield config
    await drop_database(server, url)


async def test_a_database_made_by_the_release_opens_in_place_and_keeps_every_row(database, tmp_path,
                                                                               monkeypatch):
    config = await made_by(database, tmp_path, fixture_sql(database, "release"))
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
        assert await direct(where, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    else:
        assert await direct(where, "SELECT number FROM schema_migrations ORDER BY number") == [
            (number,) for number in range(1, SCHEMA_VERSION + 1)]
        assert await direct(where, "SELECT to_regclass('schema_version')") == [(None,)]


@pytest.mark.parametrize("releases", [("release",), ("release", "guess")])
async def test_a_database_made_by_earlier_releases_ends_with_a_new_databases_tables(database, tmp_path,
                                                                                 new_database, releases):
    config = await made_by(database, tmp_path, fixture_sql(database, *releases))
    await upgraded(config)
    made, new = await structure(config), await structure(new_database)
    assert made["tables"] >= TABLES
    assert made == new


@pytest.mark.parametrize("number", sorted(NUMBERED_BEFORE))
async def test_each_old_postgresql_numbering_is_renumbered_and_the_rest_made(database_url, tmp_path, number,
                                                                            caplog):
    """A PostgreSQL database any earlier release left (its own migrations 1 to `number`) ends with
    every migration recorded once, every table, and its settings."""
    sql = (fixture_sql(database_url, "release", "guess") if number == 5
           else fixture_sql(database_url, "release", up_to=number))
    config = await made_by(database_url, tmp_path, sql)
    await direct(database_url, "INSERT INTO guild_settings (guild_id, temperature) VALUES (99, 1.5)")
    with caplog.at_level(logging.INFO, logger="bot.storage.postgres"):
        migrate(config)
    assert f"numbered its migrations the old way (schema_version, up to {number})" in caplog.text
    assert await direct(database_url, "SELECT number FROM schema_migrations ORDER BY number") == [
        (number,) for number in range(1, SCHEMA_VERSION + 1)]
    assert (await structure(config))["tables"] >= TABLES
    store = await open_store(config)
    try:
        assert (await store.get(99)).temperature == 1.5
        await store.set_state("key", "value")
        assert await store.get_state("key") == "value"
    finally:
        await store.close()


@pytest.mark.parametrize("fixture, version", [("release_sqlite.sql", 5), ("release_postgres.sql", 4),
                                              ("guess_sqlite.sql", 6), ("guess_postgres.sql", 5)])
def test_the_fixtures_are_of_the_releases_they_say(fixture, version):
    """Each fixture is the release it names: its schema version as that release recorded it (a new
    migration leaves the fixtures of earlier releases as they were)."""
    text = (FIXTURES / fixture).read_text()
    made = [int(number) for number in re.findall(r"PRAGMA user_version = (\d+);|VALUES \((\d+)\);", text)
            for number in number if number]
    assert made and max(made) == version
