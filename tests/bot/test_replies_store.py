"""What the buttons under a reply need, in the store: kept durably, bounded in number, size and age."""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage import replies as store_module
from bot.storage.replies import MAX_REPLY_BODY, MAX_REPLY_PROMPT, MAX_REPLY_SEED, ReplyRecord
from bot.storage.sqlite_store import SqliteSettingsStore
from tests.bot.test_store import run_python


def record(key: str = "0123456789abcdef", **changes) -> ReplyRecord:
    values = {"requester_id": 42, "seed": "ROMEO:", "model": "lstm", "temperature": 0.8, "length": 300,
              "body": " O, she doth teach", "prompt": "ROMEO: O, she doth teach"}
    return ReplyRecord(key, **{**values, **changes})


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


async def test_a_reply_is_stored_read_back_and_extended(store):
    await store.save_reply(record())
    loaded = await store.get_reply("0123456789abcdef")
    assert loaded is not None and loaded.created_at > 0
    assert (loaded.seed, loaded.body, loaded.prompt, loaded.continued) == (
        "ROMEO:", " O, she doth teach", "ROMEO: O, she doth teach", False)
    more = " the torches"
    await store.update_reply(loaded.key, body=loaded.body + more, prompt=loaded.prompt + more)
    again = await store.get_reply(loaded.key)
    assert again is not None and again.body.endswith("the torches") and again.prompt.endswith("the torches")
    assert await store.get_reply("ffffffffffffffff") is None


async def test_sizes_are_bounded_keeping_the_ends_that_matter(store):
    long = record(seed="s" * 5000 + "END", body="b" * 5000, prompt="p" * 5000 + "LAST")
    assert len(long.seed) == MAX_REPLY_SEED and long.seed.endswith("END")
    assert len(long.body) == MAX_REPLY_BODY and len(long.prompt) == MAX_REPLY_PROMPT
    await store.save_reply(long)
    await store.update_reply(long.key, body="x" * 9000, prompt="y" * 9000 + "TAIL")
    stored = await store.get_reply(long.key)
    assert stored is not None and len(stored.body) == MAX_REPLY_BODY and stored.prompt.endswith("TAIL")


async def test_old_replies_expire_and_the_number_kept_is_bounded(store, monkeypatch):
    monkeypatch.setattr(store_module, "MAX_REPLIES", 3)
    clock = [1_000_000.0]
    monkeypatch.setattr(store_module.time, "time", lambda: clock[0])
    for index in range(5):
        clock[0] += 1
        await store.save_reply(record(f"{index:016x}"))
    kept = [key for key in (f"{index:016x}" for index in range(5)) if await store.get_reply(key)]
    assert kept == [f"{index:016x}" for index in (2, 3, 4)]  # the newest three
    clock[0] += store_module.REPLY_TTL_SECONDS + 1
    assert await store.get_reply(f"{4:016x}") is None  # expired: never served, even before pruning
    await store.save_reply(record("aaaaaaaaaaaaaaaa"))
    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT key FROM replies").fetchall() == [("aaaaaaaaaaaaaaaa",)]


@pytest.mark.parametrize("column, bad", [("key", "short"), ("temperature", 9.0), ("length", 0),
                                         ("body", "b" * 2001), ("prompt", "")])
async def test_the_schema_refuses_what_the_code_never_writes(store, column, bad):
    values = {"key": "0123456789abcdef", "requester_id": 1, "seed": "a", "model": "lstm", "temperature": 0.8,
              "length": 5, "body": "b", "prompt": "p", "continued": 0, "created_at": 1.0, column: bad}
    with sqlite3.connect(store.path) as connection, pytest.raises(sqlite3.IntegrityError):
        columns, marks = ", ".join(values), ", ".join("?" * len(values))
        connection.execute(f"INSERT INTO replies ({columns}) VALUES ({marks})", tuple(values.values()))


async def test_a_reply_stored_before_the_message_is_sent_survives_kill_9(tmp_path):
    path = tmp_path / "bot.sqlite3"
    process = run_python(f"""
        import asyncio, os, signal
        from bot.storage.replies import ReplyRecord
        from bot.storage.sqlite_store import SqliteSettingsStore
        async def main():
            store = await SqliteSettingsStore.open({str(path)!r})
            reply = ReplyRecord("0123456789abcdef", 7, "ROMEO:", "gru", 1.1, 50, "x", "ROMEO:x")
            await store.save_reply(reply)
            print("stored", flush=True)   # the moment the bot would send the message with buttons
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
    """)
    out, err = process.communicate(timeout=60)
    assert process.returncode == -9 and out == "stored\n", err
    reopened = await SqliteSettingsStore.open(path)
    try:
        loaded = await reopened.get_reply("0123456789abcdef")
        assert loaded is not None and (loaded.model, loaded.temperature, loaded.length) == ("gru", 1.1, 50)
    finally:
        await reopened.close()
