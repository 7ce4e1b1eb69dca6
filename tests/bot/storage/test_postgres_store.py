"""The PostgreSQL settings store against a real server (tests/pg_server.py): the same behaviour as the
SQLite one, a cache kept right across processes through LISTEN/NOTIFY, migrations applied once
however many processes start together, and a database that goes away and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time

import psycopg
import pytest

from bot.config import BotConfig, ConfigError
from bot.errors import (
    UNREACHABLE,
    SettingsBusyError,
    SettingsStoreError,
    SettingsUnavailableError,
)
from bot.storage import open_store, open_voice_book
from bot.storage.pg_voices import PostgresVoiceBook
from bot.storage.postgres import POSTGRES
from bot.storage.postgres_store import PostgresSettingsStore
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.settings import (
    DEFAULT_SETTINGS,
    MAX_LENGTH,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    GuildSettings,
)
from bot.storage.sqlite_store import SqliteSettingsStore
from bot.storage.sqlite_voices import SqliteVoiceBook
from tests.bot.storage.harness import GUILD, one_sentence, record
from tests.pg_server import connect as pg_connect


@pytest.fixture
async def store(database_url):
    opened = await PostgresSettingsStore.open(database_url)
    yield opened
    await opened.close()


@contextlib.asynccontextmanager
async def raw(url: str):
    """A plain connection, as an operator's psql would be."""
    connection = await pg_connect(url)
    try:
        yield connection
    finally:
        await connection.close()


async def eventually(condition, within: float, step: float = 0.01) -> float:
    """Seconds until `await condition()` is true; fails past `within`."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > within:
            pytest.fail(f"not true within {within} s")
        await asyncio.sleep(step)
    return time.monotonic() - started


# -- settings: the same behaviour as SQLite --

async def test_the_range_ends_are_accepted_and_temperatures_keep_every_digit(store, database_url):
    assert (await store.set_value(GUILD, "temperature", MIN_TEMPERATURE)).temperature == MIN_TEMPERATURE
    assert (await store.get(GUILD)).temperature == 0.1  # real would read back 0.10000000149011612
    assert (await store.set_value(GUILD, "temperature", MAX_TEMPERATURE)).temperature == MAX_TEMPERATURE
    assert (await store.set_value(GUILD, "temperature", 1)).temperature == 1.0
    assert (await store.set_value(GUILD, "length", MIN_LENGTH)).length == MIN_LENGTH
    assert (await store.set_value(GUILD, "length", MAX_LENGTH)).length == MAX_LENGTH
    async with raw(database_url) as connection:
        types = await connection.fetch("SELECT table_name, data_type FROM information_schema.columns "
                                       "WHERE column_name = 'temperature'")
    assert {table: data_type for table, data_type in types} == {
        "guild_settings": "double precision", "user_settings": "double precision",
        "replies": "double precision"}


@pytest.mark.parametrize("table", ["guild_settings", "user_settings"])
@pytest.mark.parametrize("column, good, bad", [
    ("temperature", [MIN_TEMPERATURE, MAX_TEMPERATURE], [MIN_TEMPERATURE - 1e-9, MAX_TEMPERATURE + 1e-9]),
    ("length", [MIN_LENGTH, MAX_LENGTH], [MIN_LENGTH - 1, MAX_LENGTH + 1]),
    ("model", ["a", "m" * 32], ["", "m" * 33]),
])
async def test_the_schema_refuses_what_the_code_refuses_even_when_written_directly(
        store, database_url, table, column, good, bad):
    key = "guild_id" if table == "guild_settings" else "user_id"
    insert = (f"INSERT INTO {table} ({key}, {column}) VALUES ($1, $2) "
              f"ON CONFLICT ({key}) DO UPDATE SET {column} = excluded.{column}")
    async with raw(database_url) as connection:
        for value in good:
            await connection.execute(insert, 1, value)
        for value in bad:
            with pytest.raises(psycopg.errors.CheckViolation):
                await connection.execute(insert, 2, value)
        with pytest.raises(psycopg.errors.CheckViolation):
            await connection.execute(insert, 0, good[0])  # ids are positive


async def test_a_change_that_waits_out_the_lock_timeout_is_one_sentence_and_changes_nothing(database_url):
    store = await PostgresSettingsStore.open(database_url, busy_timeout_ms=200)
    try:
        await store.set_value(GUILD, "length", 10)
        async with raw(database_url) as operator, operator.transaction():
            await operator.execute("SELECT * FROM guild_settings WHERE guild_id = $1 FOR UPDATE", GUILD)
            with pytest.raises(SettingsBusyError, match="^The settings database is busy, so nothing "
                                                         "was changed; try again in a moment.$"):
                await store.set_value(GUILD, "length", 20)
            with pytest.raises(SettingsBusyError):
                await store.reset(GUILD)
            assert (await asyncio.wait_for(store.get(GUILD), 2)).length == 10  # reads go on meanwhile
            assert (await store.set_value(GUILD + 1, "length", 30)).length == 30  # other owners too
        assert (await store.set_value(GUILD, "length", 40)).length == 40  # works again at once
    finally:
        await store.close()


async def test_reads_go_on_while_changes_wait_for_a_lock_and_the_changes_land_after(database_url):
    """An operator's transaction blocks every write; more changes wait than the pool has
    connections, yet reads of settings never cached are answered at once, and then every change lands."""
    store = await PostgresSettingsStore.open(database_url, busy_timeout_ms=5000)
    try:
        async with raw(database_url) as operator:
            transaction = operator.transaction()
            await transaction.start()
            await operator.execute("LOCK TABLE guild_settings IN EXCLUSIVE MODE")  # reads allowed
            writes = [asyncio.create_task(store.set_value(owner, "length", 10 + owner))
                      for owner in range(1, 9)]
            await asyncio.sleep(0.3)
            assert not any(write.done() for write in writes)
            started = time.monotonic()
            for owner in range(100, 110):
                assert await asyncio.wait_for(store.get(owner), 2) == DEFAULT_SETTINGS
            assert await asyncio.wait_for(store.get_state("anything"), 2) is None
            await asyncio.wait_for(store.check(), 2)
            assert time.monotonic() - started < 1.0
            await transaction.rollback()
        results = await asyncio.wait_for(asyncio.gather(*writes), 10)
        assert [settings.length for settings in results] == [10 + owner for owner in range(1, 9)]
    finally:
        await store.close()


async def test_a_cached_read_asks_the_database_nothing(store, monkeypatch):
    await store.set_value(GUILD, "length", 12)

    async def read_and_cached() -> bool:  # our own change's notification may land during a read
        return (await store.get(GUILD)).length == 12 and ("guild", GUILD) in store._cache

    await eventually(read_and_cached, within=2)

    async def no_query(*_args, **_kwargs):
        raise AssertionError("the database was asked")

    monkeypatch.setattr(store, "_run", no_query)
    assert (await store.get(GUILD)).length == 12


# -- replies: the same bounds as bot/storage/replies.py --

# -- the SQLite store's own tests, run on PostgreSQL too --

@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_both_backends_answer_the_same(backend, database_url, tmp_path):
    if backend == "sqlite":
        store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    else:
        store = await PostgresSettingsStore.open(database_url)
    try:
        answers = [await store.get(GUILD), await store.set_value(GUILD, "length", 5),
                   await store.set_user_value(GUILD, "model", "gru"), await store.get(GUILD),
                   await store.get_user(GUILD)]
        await store.reset(GUILD)
        answers += [await store.get(GUILD), await store.get_state("k")]
        await store.set_state("k", "v")
        await store.save_reply(record())
        reply = await store.get_reply(record().key)
        answers += [await store.get_state("k"), (reply.seed, reply.temperature, reply.continued)]
        await store.check()
    finally:
        await store.close()
    assert [getattr(answer, "changed", None) for answer in answers][:5] == [
        frozenset(), {"length"}, {"model"}, {"length"}, {"model"}]
    assert answers == [DEFAULT_SETTINGS, GuildSettings(length=5),
                       GuildSettings(model="gru"), GuildSettings(length=5),
                       GuildSettings(model="gru"), DEFAULT_SETTINGS, None, "v",
                       ("ROMEO:", 0.8, False)]


# -- several processes on one database --

async def test_a_change_through_one_store_is_seen_by_another_within_a_second(database_url):
    ours = await PostgresSettingsStore.open(database_url)
    theirs = await PostgresSettingsStore.open(database_url)  # another process or host, in effect
    try:
        for store in (ours, theirs):
            assert await store.get(GUILD) == DEFAULT_SETTINGS  # now cached in both
            assert await store.get_user(GUILD) == DEFAULT_SETTINGS
        waits = []
        for length in (10, 20, 30):
            await theirs.set_value(GUILD, "length", length)
            waits.append(await eventually(lambda length=length: _has(ours.get(GUILD), length), within=1.0))
        await theirs.set_user_value(GUILD, "length", 7)
        waits.append(await eventually(lambda: _has(ours.get_user(GUILD), 7), within=1.0))
        assert (await ours.get(GUILD)).length == 30  # the user's change dropped nobody's guild row
        await ours.reset(GUILD)
        waits.append(await eventually(lambda: _same(theirs.get(GUILD), DEFAULT_SETTINGS), within=1.0))
        # An operator's change by hand reaches the bots too (the trigger notifies), TRUNCATE included.
        async with raw(database_url) as operator:
            await operator.execute("INSERT INTO guild_settings (guild_id, length) VALUES ($1, 99)", GUILD)
            waits.append(await eventually(lambda: _has(ours.get(GUILD), 99), within=1.0))
            await operator.execute("TRUNCATE guild_settings")
            waits.append(await eventually(lambda: _same(ours.get(GUILD), DEFAULT_SETTINGS), within=1.0))
        shown = ", ".join(f"{wait * 1000:.0f}" for wait in waits)
        print(f"\nchanges seen by the other store after {shown} ms")
        # Between changes, reads come from the cache: no query at all. (The read that saw the
        # TRUNCATE may have overlapped a second notification of it, and such a read is rightly not
        # cached; the next one, with no change in flight, is.)
        assert await ours.get(GUILD) == DEFAULT_SETTINGS
        assert (ours._listening, ("guild", GUILD) in ours._cache) == (True, True)
    finally:
        await ours.close()
        await theirs.close()


async def _has(read, length: int) -> bool:
    return (await read).length == length


async def _same(read, settings) -> bool:
    return await read == settings


async def test_migrations_are_applied_once_when_four_stores_open_at_the_same_moment(database_url):
    stores = await asyncio.gather(*(PostgresSettingsStore.open(database_url) for _ in range(4)))
    try:
        await stores[0].set_value(GUILD, "length", 11)
        for store in stores:
            assert (await store.get(GUILD)).length == 11
    finally:
        for store in stores:
            await store.close()
    async with raw(database_url) as connection:
        versions = [row[0] for row in await connection.fetch("SELECT number FROM schema_migrations "
                                                                     "ORDER BY number")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


async def test_an_older_database_is_migrated_and_keeps_its_settings(database_url):
    async with raw(database_url) as connection:  # as a bot of today's history, after its first migration
        await connection.execute("CREATE TABLE schema_migrations (number integer PRIMARY KEY "
                                 "CHECK (number > 0), applied_at timestamptz NOT NULL DEFAULT now())")
        await connection.execute(POSTGRES.migration(1))
        await connection.execute("INSERT INTO schema_migrations (number) VALUES (1)")
        await connection.execute("INSERT INTO guild_settings (guild_id, temperature) VALUES ($1, 1.5)", GUILD)
    store = await PostgresSettingsStore.open(database_url)
    try:
        assert (await store.get(GUILD)).temperature == 1.5
        await store.set_state("key", "value")  # a table a later migration added
        assert await store.get_state("key") == "value"
    finally:
        await store.close()


@pytest.mark.parametrize("table, column", [("schema_migrations", "number"), ("schema_version", "version")])
async def test_a_database_from_a_newer_bot_is_refused_with_one_sentence(database_url, table, column):
    """Numbered as today (schema_migrations) or as before the tables were written once
    (schema_version): a migration this bot does not know is a newer bot's, and nothing changes."""
    async with raw(database_url) as connection:
        await connection.execute(f"CREATE TABLE {table} ({column} integer PRIMARY KEY, "
                                 "applied_at timestamptz NOT NULL DEFAULT now())")
        await connection.execute(f"INSERT INTO {table} ({column}) VALUES (99)")
    with pytest.raises(SettingsStoreError, match="newer than this bot") as refusal:
        await PostgresSettingsStore.open(database_url)
    assert one_sentence(str(refusal.value))
    async with raw(database_url) as connection:
        assert await connection.fetch(f"SELECT {column} FROM {table}") == [(99,)]
        assert await connection.fetchval("SELECT to_regclass('guild_settings')") is None


# -- the database unreachable --

async def test_an_unreachable_database_at_open_is_one_sentence_without_the_password(pg_server):
    from tests.pg_server import free_port

    url = f"postgresql://bot:s3cret@127.0.0.1:{free_port()}/shakespeare"
    with pytest.raises(SettingsStoreError) as refusal:
        await PostgresSettingsStore.open(url)
    message = str(refusal.value)
    assert message.startswith("Cannot use the settings database at 127.0.0.1:")
    assert one_sentence(message) and "s3cret" not in message
    with pytest.raises(SettingsStoreError, match="does not exist"):  # a server that answers, no database
        await PostgresSettingsStore.open(pg_server.url("no_such_database"))


async def test_the_database_stopped_under_a_running_store_then_started_again(
        pg_server, database_url, caplog):
    caplog.set_level(logging.INFO, logger="bot.storage.postgres_store")
    store = await PostgresSettingsStore.open(database_url)
    try:
        await store.set_value(GUILD, "length", 77)
        await store.set_user_value(GUILD, "model", "gru")
        assert (await store.get(GUILD)).length == 77
        await store.save_reply(record())
        await asyncio.to_thread(pg_server.stop)
        try:
            started = time.monotonic()
            for _ in range(3):
                assert (await store.get(GUILD)).length == 77  # the last settings read
                assert (await store.get_user(GUILD)).model == "gru"
                assert await store.get(GUILD + 1) == DEFAULT_SETTINGS  # never read: the defaults
            assert time.monotonic() - started < 2.5  # nobody waits on a dead database
            for change in (lambda: store.set_value(GUILD, "length", 5), lambda: store.reset(GUILD),
                           lambda: store.set_user_value(GUILD, "length", 5),
                           lambda: store.set_state("k", "v"),
                           lambda: store.save_reply(record("ffffffffffffffff")),
                           lambda: store.get_reply(record().key),
                           lambda: store.update_reply(record().key, body="b", prompt="p")):
                with pytest.raises(SettingsUnavailableError) as refusal:
                    await change()
                assert str(refusal.value) == UNREACHABLE and one_sentence(str(refusal.value))
            with pytest.raises(SettingsStoreError, match="cannot be reached") as health:
                await store.check()
            assert "\n" not in str(health.value)
            messages = [record.getMessage() for record in caplog.records]
            assert sum("cannot be reached" in message for message in messages) == 1  # logged once
            assert sum("serving the settings last read (" in message for message in messages) == 1
            assert sum("serving the defaults (" in message for message in messages) == 1
        finally:
            await asyncio.to_thread(pg_server.start)
        back = await eventually(lambda: _answers(store), within=5, step=0.05)
        print(f"\nthe store works again {back:.2f} s after the server started")
        assert (await store.set_value(GUILD, "length", 88)).length == 88
        assert (await store.get(GUILD)).length == 88
        assert (await store.get_reply(record().key)) is not None
        assert any("answers again" in record.getMessage() for record in caplog.records)
        await eventually(lambda: _listening(store), within=3)
        # ...and caching is right again: another store's change is seen within a second.
        other = await PostgresSettingsStore.open(database_url)
        try:
            await other.set_value(GUILD, "length", 99)
            await eventually(lambda: _has(store.get(GUILD), 99), within=1.0)
        finally:
            await other.close()
    finally:
        await store.close()


async def _answers(store: PostgresSettingsStore) -> bool:
    try:
        await store.check()
    except SettingsStoreError:
        return False
    return True


async def _listening(store: PostgresSettingsStore) -> bool:
    return store._listening


async def test_while_the_listen_connection_is_away_nothing_is_cached(database_url, monkeypatch, caplog):
    store = await PostgresSettingsStore.open(database_url)
    try:
        assert (await store.get(GUILD)).length == DEFAULT_SETTINGS.length and store._cache
        reconnect = store._listen

        async def refused() -> None:
            raise OSError("refused for the test")

        monkeypatch.setattr(store, "_listen", refused)
        async with raw(database_url) as operator:
            await operator.execute("SELECT pg_terminate_backend($1)", store._listener.info.backend_pid)
            await eventually(lambda: _not(_listening(store)), within=3)
            assert store._cache == {} and "not caching" in caplog.text
            # Notifications are not heard now, so every read asks the database, and is right.
            await operator.execute("INSERT INTO guild_settings (guild_id, length) VALUES ($1, 5)", GUILD)
            assert (await store.get(GUILD)).length == 5
            await operator.execute("UPDATE guild_settings SET length = 6 WHERE guild_id = $1", GUILD)
            assert (await store.get(GUILD)).length == 6 and store._cache == {}
            await store.check()  # the database itself answers: healthy
            monkeypatch.setattr(store, "_listen", reconnect)
            await eventually(lambda: _listening(store), within=3)
            assert (await store.get(GUILD)).length == 6 and store._cache
            await operator.execute("UPDATE guild_settings SET length = 7 WHERE guild_id = $1", GUILD)
            await eventually(lambda: _has(store.get(GUILD), 7), within=1.0)
    finally:
        await store.close()


async def _not(awaitable) -> bool:
    return not await awaitable


# -- choosing the backend --

async def test_database_url_picks_postgres_for_settings_and_voices_alike(database_url, tmp_path):
    config = BotConfig.from_env({"DATABASE_URL": database_url, "BOT_DB_PATH": str(tmp_path / "bot.sqlite3")})
    assert config.database_url == database_url and database_url not in repr(config)
    store = await open_store(config)
    try:
        assert isinstance(store, PostgresSettingsStore)
        await store.set_value(GUILD, "length", 3)
        assert isinstance(open_voice_book(config), PostgresVoiceBook)
    finally:
        await store.close()
    async with raw(database_url) as connection:  # the voices' tables are here, with the settings
        tables = {row[0] for row in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"voices", "voice_jobs", "guild_settings"} <= tables
    assert not (tmp_path / "bot.sqlite3").exists()  # nothing is kept in SQLite any more
    sqlite_config = BotConfig.from_env({"BOT_DB_PATH": str(tmp_path / "bot.sqlite3")})
    plain = await open_store(sqlite_config)
    try:
        assert isinstance(plain, SqliteSettingsStore)
        assert isinstance(open_voice_book(sqlite_config), SqliteVoiceBook)
    finally:
        await plain.close()
    with sqlite3.connect(tmp_path / "bot.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"voices", "voice_jobs", "guild_settings"} <= tables


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "secret", "http://h/db"])
def test_a_database_url_that_is_not_postgres_is_one_sentence_without_its_value(url):
    with pytest.raises(ConfigError) as refusal:
        BotConfig.from_env({"DATABASE_URL": url})
    assert "secret" not in str(refusal.value) and str(refusal.value).startswith("DATABASE_URL must be")
