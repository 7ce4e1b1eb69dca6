"""The SQLite settings store: defaults merged on read, refusals, durability, concurrency, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.errors import SettingsBusyError, SettingsStoreError
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.settings import DEFAULT_SETTINGS, MAX_LENGTH, MAX_TEMPERATURE, MIN_LENGTH, MIN_TEMPERATURE
from bot.storage.sqlite import SQLITE
from bot.storage.sqlite_store import SqliteSettingsStore
from tests.bot.storage.harness import GUILD, run_python
from tests.helpers import held_write_lock


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


def raw_rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT guild_id, temperature, length, model FROM guild_settings ORDER BY guild_id"
        ).fetchall()


@pytest.mark.parametrize("column, good, bad", [
    ("temperature", [MIN_TEMPERATURE, MAX_TEMPERATURE],
     [MIN_TEMPERATURE - 1e-9, MAX_TEMPERATURE + 1e-9, "hot"]),
    ("length", [MIN_LENGTH, MAX_LENGTH], [MIN_LENGTH - 1, MAX_LENGTH + 1, 2.5]),
    ("model", ["a", "m" * 32], ["", "m" * 33]),
])
async def test_the_schema_refuses_what_the_code_refuses_even_when_written_directly(store, column, good, bad):
    """The CHECK constraints repeat the code's ranges; a write that skips the code still fails."""
    insert = f"INSERT OR REPLACE INTO guild_settings (guild_id, {column}) VALUES (?, ?)"
    with sqlite3.connect(store.path) as connection:
        for value in good:
            connection.execute(insert, (1, value))
        for value in bad:
            with pytest.raises(sqlite3.IntegrityError):
                connection.execute(insert, (2, value))


async def test_settings_survive_closing_and_reopening(tmp_path):
    path = tmp_path / "bot.sqlite3"
    first = await SqliteSettingsStore.open(path)
    await first.set_value(GUILD, "temperature", 0.5)
    await first.set_state("synced-commands:1:global", "abc")
    await first.close()
    second = await SqliteSettingsStore.open(path)
    try:
        assert (await second.get(GUILD)).temperature == 0.5
        assert await second.get_state("synced-commands:1:global") == "abc"
        assert await second.get_state("never-set") is None
    finally:
        await second.close()


async def test_a_change_reported_as_done_survives_kill_9_right_after(tmp_path):
    path = tmp_path / "bot.sqlite3"
    process = run_python(f"""
        import asyncio, os, signal
        from bot.storage.sqlite_store import SqliteSettingsStore
        async def main():
            store = await SqliteSettingsStore.open({str(path)!r})
            await store.set_value({GUILD}, "length", 777)
            print("stored", flush=True)   # the moment the bot would tell the admin
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
    """)
    out, err = process.communicate(timeout=60)
    assert process.returncode == -9, err
    assert out == "stored\n"
    reopened = await SqliteSettingsStore.open(path)
    try:
        assert (await reopened.get(GUILD)).length == 777
    finally:
        await reopened.close()


async def test_two_processes_writing_at_once_both_succeed(tmp_path):
    """Two shard processes share one file: neither sees "database is locked", no write is lost."""
    path = tmp_path / "bot.sqlite3"
    writes = 40
    script = """
        import asyncio, sys
        from bot.storage.sqlite_store import SqliteSettingsStore
        async def main(worker):
            store = await SqliteSettingsStore.open({path!r})
            for i in range({writes}):
                await store.set_value(1000 * worker + i, "length", 1 + i)
                await store.set_value(1, "length", 1 + i)   # both fight over the same guild too
            await store.close()
        asyncio.run(main({worker}))
    """
    # Both start on a fresh file, so they also race to create the schema.
    processes = [run_python(script.format(path=str(path), writes=writes, worker=worker)) for worker in (1, 2)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    rows = raw_rows(path)
    assert len(rows) == 1 + 2 * writes
    assert {row[2] for row in rows if row[0] >= 1000} == set(range(1, writes + 1))
    assert dict((row[0], row[2]) for row in rows)[1] == writes


async def test_an_older_database_is_migrated_and_keeps_its_settings(tmp_path):
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as connection:  # a database written by the first release
        connection.executescript(SQLITE.migration(1))
        connection.execute("INSERT INTO guild_settings (guild_id, temperature) VALUES (?, 1.5)", (GUILD,))
        connection.execute("PRAGMA user_version = 1")
    store = await SqliteSettingsStore.open(path)
    try:
        assert (await store.get(GUILD)).temperature == 1.5
        await store.set_state("key", "value")  # the table migration 2 added
        assert await store.get_state("key") == "value"
    finally:
        await store.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_database_from_a_newer_bot_is_refused_not_damaged(tmp_path):
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(SettingsStoreError, match="newer than this bot"):
        await SqliteSettingsStore.open(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (99,)


async def test_an_unusable_path_is_one_sentence(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(SettingsStoreError, match="Cannot open the settings database"):
        await SqliteSettingsStore.open(tmp_path / "taken" / "bot.sqlite3")


async def test_wal_and_busy_timeout_let_processes_share_the_file(store):
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for connection in (store._writer, store._reader):
        async with connection.execute("PRAGMA busy_timeout") as cursor:
            assert (await cursor.fetchone())[0] >= 5000


async def test_reads_go_on_while_a_write_waits_for_another_process_lock(store):
    """An operator's open write transaction makes our write wait; every read is still answered,
    with the last committed values, and the write lands once the lock is let go."""
    await store.set_value(GUILD, "length", 10)
    with held_write_lock(store.path):
        writing = asyncio.create_task(store.set_value(GUILD, "length", 20))
        await asyncio.sleep(0.3)
        assert not writing.done()  # waiting out the lock (busy timeout)
        assert (await asyncio.wait_for(store.get(GUILD), 2)).length == 10
        assert await asyncio.wait_for(store.get(GUILD + 1), 2) == DEFAULT_SETTINGS
        assert await asyncio.wait_for(store.get_state("anything"), 2) is None
        await asyncio.wait_for(store.check(), 2)
        assert not writing.done()
    assert (await asyncio.wait_for(writing, 10)).length == 20
    assert (await store.get(GUILD)).length == 20
    assert raw_rows(store.path) == [(GUILD, None, 20, None)]


async def test_a_change_that_waits_out_the_busy_timeout_is_one_sentence_and_changes_nothing(tmp_path):
    store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3", busy_timeout_ms=200)
    try:
        await store.set_value(GUILD, "length", 10)
        with held_write_lock(store.path):
            with pytest.raises(SettingsBusyError, match="^The settings database is busy, so nothing "
                                                         "was changed; try again in a moment.$"):
                await store.set_value(GUILD, "length", 20)
            with pytest.raises(SettingsBusyError):
                await store.reset(GUILD)
            assert (await store.get(GUILD)).length == 10
        assert raw_rows(store.path) == [(GUILD, None, 10, None)]
        assert (await store.set_value(GUILD, "length", 30)).length == 30  # works again at once
    finally:
        await store.close()


async def test_the_read_connection_cannot_write(store):
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await store._reader.execute("DELETE FROM guild_settings")


async def test_the_cache_follows_writes_from_this_and_other_processes(tmp_path):
    path = tmp_path / "bot.sqlite3"
    ours = await SqliteSettingsStore.open(path)
    theirs = await SqliteSettingsStore.open(path)  # another shard process, in effect
    try:
        assert (await ours.get(GUILD)).length == DEFAULT_SETTINGS.length  # now cached
        await ours.set_value(GUILD, "length", 10)
        assert (await ours.get(GUILD)).length == 10
        await theirs.set_value(GUILD, "length", 20)
        assert (await ours.get(GUILD)).length == 20
        await theirs.reset(GUILD)
        assert await ours.get(GUILD) == DEFAULT_SETTINGS
    finally:
        await ours.close()
        await theirs.close()


