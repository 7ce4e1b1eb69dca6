"""What the buttons under a reply need, in the store: kept durably, bounded in number, size and age."""

from __future__ import annotations

import pytest

from bot.storage.replies import ReplyRecord
from bot.storage.sqlite_store import SqliteSettingsStore
from tests.bot.storage.harness import run_python


def record(key: str = "0123456789abcdef", **changes) -> ReplyRecord:
    values = {"requester_id": 42, "seed": "ROMEO:", "model": "lstm", "temperature": 0.8, "length": 300,
              "body": " O, she doth teach", "prompt": "ROMEO: O, she doth teach"}
    return ReplyRecord(key, **{**values, **changes})


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


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
