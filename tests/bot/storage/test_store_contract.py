"""Every settings store behaviour the bot relies on, run against SQLite and against PostgreSQL (the
`database` fixture, tests/conftest.py): one test, both databases. What only one database has (its
locks, its files, LISTEN) is in test_sqlite_store.py and test_postgres_store.py."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from bot.errors import SettingsError, SettingsStoreError
from bot.storage import replies
from bot.storage.postgres_store import PostgresSettingsStore
from bot.storage.replies import MAX_REPLY_BODY, MAX_REPLY_PROMPT, MAX_REPLY_SEED
from bot.storage.settings import DEFAULT_SETTINGS, MAX_LENGTH, MAX_TEMPERATURE, MIN_LENGTH, MIN_TEMPERATURE
from bot.storage.sqlite_store import SqliteSettingsStore
from tests.bot.storage.harness import (
    CHECK_REFUSED,
    GUILD,
    SNOWFLAKE,
    direct,
    guild_rows,
    one_sentence,
    record,
)


@pytest.fixture
def where(database, tmp_path) -> str | Path:
    """The database under test: a SQLite file's path, or a PostgreSQL URL."""
    return tmp_path / "bot.sqlite3" if database is None else database


async def open_store(where: str | Path):
    if isinstance(where, Path):
        return await SqliteSettingsStore.open(where)
    return await PostgresSettingsStore.open(where)


@pytest.fixture
async def store(where):
    opened = await open_store(where)
    yield opened
    await opened.close()


# -- settings --

async def test_a_guild_nobody_configured_gets_the_defaults_and_nothing_is_stored(store, where):
    settings = await store.get(GUILD)
    assert settings == DEFAULT_SETTINGS and settings.changed == frozenset()
    assert await guild_rows(where) == []


async def test_only_the_changed_setting_is_stored_and_null_means_the_default(store, where):
    settings = await store.set_value(SNOWFLAKE, "temperature", 1.2)
    assert (settings.temperature, settings.length, settings.model) == (1.2, DEFAULT_SETTINGS.length,
                                                                        DEFAULT_SETTINGS.model)
    assert settings.changed == {"temperature"}
    assert await guild_rows(where) == [(SNOWFLAKE, 1.2, None, None)]
    await store.set_value(SNOWFLAKE, "length", 250)
    await store.set_value(SNOWFLAKE, "model", "voice:lore")
    settings = await store.get(SNOWFLAKE)
    assert (settings.temperature, settings.length, settings.model) == (1.2, 250, "voice:lore")
    assert await store.get(SNOWFLAKE + 1) == DEFAULT_SETTINGS  # other guilds are untouched


async def test_each_of_many_queued_changes_reports_its_own_value_and_the_last_stays(store):
    values = [round(0.1 + 0.05 * step, 2) for step in range(30)]
    results = await asyncio.gather(*(store.set_value(7, "temperature", value) for value in values))
    assert [settings.temperature for settings in results] == values
    assert (await store.get(7)).temperature == values[-1]


async def test_reset_forgets_every_change(store, where):
    await store.set_value(GUILD, "length", 99)
    assert (await store.get(GUILD)).length == 99
    await store.reset(GUILD)
    assert await store.get(GUILD) == DEFAULT_SETTINGS
    assert await guild_rows(where) == []


@pytest.mark.parametrize("name, value", [
    ("temperature", MIN_TEMPERATURE / 2), ("temperature", MAX_TEMPERATURE + 0.01),
    ("temperature", math.nan), ("temperature", math.inf), ("temperature", 10**400), ("temperature", "1.0"),
    ("temperature", True),
    ("temperature", None), ("length", MIN_LENGTH - 1), ("length", MAX_LENGTH + 1), ("length", 10**9),
    ("length", 300.0), ("length", "300"), ("model", ""), ("model", "x" * 33), ("model", "lstm; DROP"),
    ("model", "l\u00e9stm"), ("model", 7), ("colour", "red"),
])
async def test_values_outside_their_range_are_refused_with_one_sentence(store, name, value):
    with pytest.raises(SettingsError) as refusal:
        await store.set_value(GUILD, name, value)
    assert one_sentence(str(refusal.value))
    with pytest.raises(SettingsError):
        await store.set_user_value(GUILD, name, value)
    assert await store.get(GUILD) == DEFAULT_SETTINGS and await store.get_user(GUILD) == DEFAULT_SETTINGS


async def test_the_range_ends_themselves_are_accepted(store):
    assert (await store.set_value(GUILD, "temperature", MIN_TEMPERATURE)).temperature == MIN_TEMPERATURE
    assert (await store.set_value(GUILD, "temperature", MAX_TEMPERATURE)).temperature == MAX_TEMPERATURE
    assert (await store.set_value(GUILD, "temperature", 1)).temperature == 1.0
    assert (await store.set_value(GUILD, "length", MIN_LENGTH)).length == MIN_LENGTH
    assert (await store.set_value(GUILD, "length", MAX_LENGTH)).length == MAX_LENGTH


async def test_a_persons_own_defaults_are_kept_apart_from_any_servers(store, where):
    # The same number as a guild id and a user id: two different owners, never mixed up.
    await store.set_value(GUILD, "length", 50)
    assert await store.get_user(GUILD) == DEFAULT_SETTINGS
    chosen = await store.set_user_value(GUILD, "temperature", 1.5)
    assert (chosen.temperature, chosen.changed) == (1.5, frozenset({"temperature"}))
    assert (await store.get(GUILD)).temperature == DEFAULT_SETTINGS.temperature
    with pytest.raises(CHECK_REFUSED):  # the schema refuses it too, written past the store
        await direct(where, "INSERT INTO user_settings (user_id, length) VALUES (5, 99999)")
    await store.reset_user(GUILD)
    assert await store.get_user(GUILD) == DEFAULT_SETTINGS and (await store.get(GUILD)).length == 50
    await store.set_user_value(GUILD, "model", "gru")
    await store.reset(GUILD)
    assert (await store.get_user(GUILD)).model == "gru" and await store.get(GUILD) == DEFAULT_SETTINGS


async def test_state_is_kept(store):
    assert await store.get_state("never-set") is None
    await store.set_state("synced-commands:1:global", "abc")
    await store.set_state("synced-commands:1:global", "def")
    assert await store.get_state("synced-commands:1:global") == "def"


async def test_everything_survives_closing_and_reopening(where):
    first = await open_store(where)
    await first.set_value(SNOWFLAKE, "length", 77)
    await first.set_user_value(5, "model", "gru")
    await first.set_state("synced-commands:1:global", "abc")
    await first.save_reply(record())
    await first.close()
    second = await open_store(where)
    try:
        assert (await second.get(SNOWFLAKE)).length == 77 and (await second.get_user(5)).model == "gru"
        assert await second.get_state("synced-commands:1:global") == "abc"
        assert (await second.get_reply("0123456789abcdef")).requester_id == SNOWFLAKE
    finally:
        await second.close()


async def test_check_reports_a_closed_store(where):
    store = await open_store(where)
    await store.check()
    await store.close()
    with pytest.raises(SettingsStoreError):
        await store.check()


# -- replies: what the buttons under a reply need --

async def test_a_reply_is_stored_read_back_and_extended(store):
    await store.save_reply(record(continued=True))
    loaded = await store.get_reply("0123456789abcdef")
    assert loaded is not None and loaded.created_at > 0 and loaded.continued is True
    assert (loaded.seed, loaded.body, loaded.prompt, loaded.requester_id, loaded.temperature) == (
        "ROMEO:", " O, she doth teach", "ROMEO: O, she doth teach", SNOWFLAKE, 0.8)
    more = " the torches"
    await store.update_reply(loaded.key, body=loaded.body + more, prompt=loaded.prompt + more)
    again = await store.get_reply(loaded.key)
    assert again is not None and again.body.endswith("the torches") and again.prompt.endswith("the torches")
    assert await store.get_reply("ffffffffffffffff") is None


async def test_reply_sizes_are_bounded_keeping_the_ends_that_matter(store):
    long = record(seed="s" * 5000 + "END", body="b" * 5000, prompt="p" * 5000 + "LAST")
    assert len(long.seed) == MAX_REPLY_SEED and long.seed.endswith("END")
    assert len(long.body) == MAX_REPLY_BODY and len(long.prompt) == MAX_REPLY_PROMPT
    await store.save_reply(long)
    await store.update_reply(long.key, body="x" * 9000, prompt="y" * 9000 + "TAIL")
    stored = await store.get_reply(long.key)
    assert stored is not None and len(stored.body) == MAX_REPLY_BODY
    assert stored.prompt.endswith("TAIL") and stored.seed.endswith("END")


async def test_old_replies_expire_and_the_number_kept_is_bounded(store, where, monkeypatch):
    monkeypatch.setattr(replies, "MAX_REPLIES", 3)
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    for index in range(5):
        clock[0] += 1
        await store.save_reply(record(f"{index:016x}"))
    kept = [key for key in (f"{index:016x}" for index in range(5)) if await store.get_reply(key)]
    assert kept == [f"{index:016x}" for index in (2, 3, 4)]  # the newest three
    clock[0] += replies.REPLY_TTL_SECONDS + 1
    assert await store.get_reply(f"{4:016x}") is None  # expired: never served, even before pruning
    await store.save_reply(record("aaaaaaaaaaaaaaaa"))
    assert await direct(where, "SELECT key FROM replies") == [("aaaaaaaaaaaaaaaa",)]


@pytest.mark.parametrize("column, bad", [("key", "short"), ("temperature", 9.0), ("length", 0),
                                         ("body", "b" * 2001), ("prompt", ""), ("requester_id", 0)])
async def test_the_replies_schema_refuses_what_the_code_never_writes(where, store, column, bad):
    values = {"key": "k" * 16, "requester_id": 1, "seed": "s", "model": "lstm", "temperature": 0.8,
              "length": 5, "body": "b", "prompt": "p", "continued": False, "created_at": 1.0, column: bad}
    marks = ", ".join("?" for _ in values)
    with pytest.raises(CHECK_REFUSED):
        await direct(where, f"INSERT INTO replies ({', '.join(values)}) VALUES ({marks})", *values.values())
