"""The settings stores' memory stays bounded however many servers and people they read, on both
databases: a row read long ago is dropped and read again from the database when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import bounded
from bot.storage.bounded import LeastRecentlyUsed
from bot.storage.postgres_store import PostgresSettingsStore
from bot.storage.sqlite_store import SqliteSettingsStore


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = LeastRecentlyUsed(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the more recent
    cache["c"] = 3
    assert list(cache) == ["a", "c"] and cache.get("b") is None


@pytest.fixture
async def store(database: str | None, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(bounded, "CACHED_SETTINGS", 5)
    opened = await (SqliteSettingsStore.open(tmp_path / "bot.sqlite3") if database is None
                    else PostgresSettingsStore.open(database))
    yield opened
    await opened.close()


async def test_a_store_keeps_a_bounded_number_of_rows_in_memory(store) -> None:
    await store.set_value(1, "length", 42)
    for owner in range(2, 200):
        assert (await store.get(owner)).length != 42
        await store.get_user(owner)
    kept = [len(store._cache), len(getattr(store, "_last", ()))]
    assert max(kept) <= 5, kept
    assert (await store.get(1)).length == 42  # dropped from memory long ago, read again
