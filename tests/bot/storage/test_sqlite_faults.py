"""The settings file under bad luck: damaged pages, a full disk, the file deleted or replaced while the
bot runs, and interactions Discord had already expired. One sentence each, nothing half-written."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.config import EXIT_CONFIG
from bot.errors import DAMAGED, FULL, MOVED, SettingsStoreError, SettingsUnavailableError
from bot.runtime.runner import run_bot
from bot.storage.replies import ReplyRecord
from bot.storage.settings import DEFAULT_SETTINGS
from bot.storage.sqlite_store import SqliteSettingsStore
from discord_emulator import Emulator, Rules
from tests.bot.harness import config_for, poem, refusal, running_bot

GUILD = 1234


async def filled_store(path: Path, guilds: int = 3000) -> None:
    store = await SqliteSettingsStore.open(path)
    try:
        for guild in range(1, guilds + 1):
            await store.set_value(guild, "length", 1 + guild % 1500)
    finally:
        await store.close()
    with sqlite3.connect(path) as connection:  # everything into the main file, the WAL emptied
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def tear_pages(path: Path) -> None:
    """A torn copy: the header page intact, pages behind it overwritten with something else."""
    with path.open("r+b") as file:
        file.seek(4096 * 3)
        file.write(bytes(range(256)) * 64 * 6)


async def test_a_file_with_damaged_pages_is_refused_at_open_with_one_sentence(tmp_path):
    path = tmp_path / "bot.sqlite3"
    await filled_store(path)
    tear_pages(path)
    with pytest.raises(SettingsStoreError) as refused:
        await SqliteSettingsStore.open(path)
    message = str(refused.value)
    assert message.startswith(f"The settings database {path} is damaged")
    assert "restore it from a backup (docs/deploy.md, Backups)" in message


async def test_the_bot_refuses_to_start_on_a_damaged_file_exit_2_and_no_traceback(tmp_path, caplog):
    path = tmp_path / "bot.sqlite3"
    await filled_store(path, guilds=2000)
    tear_pages(path)
    async with Emulator() as emu:
        config = config_for(emu, tmp_path, db_path=path)
        with caplog.at_level(logging.ERROR):
            assert await run_bot(config, handle_signals=False) == EXIT_CONFIG
    [record] = caplog.records
    assert "is damaged" in record.getMessage() and record.exc_info is None


async def test_the_check_at_open_stays_fast_on_a_large_file(tmp_path):
    # Start-up runs SQLite's quick_check on every open: time it on a file far larger than a bot's.
    path = tmp_path / "large.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT)")
        connection.executemany("INSERT INTO filler (text) VALUES (?)", (("x" * 400,) for _ in range(100_000)))
    size = path.stat().st_size
    store = await SqliteSettingsStore.open(path)  # migrates it, then checks it
    await store.close()
    started = time.perf_counter()
    store = await SqliteSettingsStore.open(path)
    seconds = time.perf_counter() - started
    await store.close()
    assert size > 40 * 1024 * 1024
    # Not a timing assertion on speed: a check that read nothing could not take this long either.
    print(f"open with quick_check of {size / 2**20:.0f} MB: {seconds:.2f} s")


async def test_damage_found_while_running_serves_defaults_refuses_changes_and_fails_health(
        tmp_path, monkeypatch, caplog):
    store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    try:
        await store.set_value(GUILD, "length", 77)

        async def malformed(*args, **kwargs):
            raise sqlite3.DatabaseError("database disk image is malformed")

        monkeypatch.setattr(store, "_read_cached", malformed)
        with caplog.at_level(logging.WARNING):
            assert await store.get(GUILD) == DEFAULT_SETTINGS
            assert await store.get(GUILD) == DEFAULT_SETTINGS
        with pytest.raises(SettingsUnavailableError, match=DAMAGED):
            await store.set_value(GUILD, "length", 5)
        with pytest.raises(SettingsStoreError, match="is damaged"):
            await store.check()
        assert len([record for record in caplog.records if "damaged" in record.getMessage()]) == 1
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "bot.sqlite3") as connection:
        assert connection.execute("SELECT length FROM guild_settings").fetchall() == [(77,)]


async def test_a_full_disk_refuses_the_change_says_so_and_logs_once(tmp_path, caplog):
    store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    try:
        # SQLite's own size cap gives the SQLITE_FULL a full disk gives.
        async with store._writer.execute("PRAGMA page_count") as cursor:
            (pages,) = await cursor.fetchone()
        await store._writer.execute(f"PRAGMA max_page_count = {pages}")
        stored, refusals = 0, 0
        with caplog.at_level(logging.WARNING):
            for guild in range(1, 2000):
                try:
                    await store.set_value(guild, "model", "m" * 32)
                    stored += 1
                except SettingsUnavailableError as error:
                    assert str(error) == FULL
                    refusals += 1
                    if refusals == 3:
                        break
        assert refusals == 3
        full = [record for record in caplog.records if "full" in record.getMessage()]
        assert len(full) == 1 and full[0].exc_info is None
        async with store._reader.execute("SELECT count(*) FROM guild_settings") as cursor:
            assert (await cursor.fetchone())[0] == stored  # nothing half-written
    finally:
        await store.close()


async def test_a_full_disk_reaches_the_admin_as_one_sentence(tmp_path):
    async with running_bot(tmp_path) as run:
        async with run.store._writer.execute("PRAGMA page_count") as cursor:
            (pages,) = await cursor.fetchone()
        await run.store._writer.execute(f"PRAGMA max_page_count = {pages}")
        guild = run.emu.world.guild.id
        reply = None
        for guild_id in range(10**17, 10**17 + 4000):  # rows as large as the admin's, until no room
            try:
                await run.store.set_value(guild_id, "length", 7)
            except SettingsUnavailableError:
                reply = await run.ask("/settings length", user="admin", value=12)
                break
        assert reply is not None and refusal(reply) == FULL
        assert (await run.store.get(guild)).length == DEFAULT_SETTINGS.length
        poem(await run.ask("/shakespeare", seed="a", length=5))  # and it keeps writing


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_file_deleted_or_replaced_while_running_refuses_changes_until_restart(tmp_path, how, caplog):
    path = tmp_path / "bot.sqlite3"
    store = await SqliteSettingsStore.open(path)
    try:
        await store.set_value(GUILD, "length", 33)
        await store.check()
        if how == "deleted":
            for leftover in tmp_path.glob("bot.sqlite3*"):
                leftover.unlink()
        else:
            other = await SqliteSettingsStore.open(tmp_path / "other.sqlite3")
            await other.close()
            os.replace(tmp_path / "other.sqlite3", path)
        with caplog.at_level(logging.ERROR):
            for _ in range(2):
                with pytest.raises(SettingsUnavailableError, match=MOVED):
                    await store.set_value(GUILD, "length", 44)
            with pytest.raises(SettingsUnavailableError, match=MOVED):
                await store.save_reply(ReplyRecord("0123456789abcdef", 1, "a", "lstm", 0.8, 5, "b", "ab"))
        with pytest.raises(SettingsStoreError, match="deleted or replaced"):
            await store.check()
        assert len([record for record in caplog.records if "deleted or replaced" in record.getMessage()]) == 1
        assert (await store.get(GUILD)).length == 33  # reads go on from what the bot opened
    finally:
        await store.close()


async def test_an_interaction_discord_already_expired_gets_one_warning_and_no_second_try(tmp_path, caplog):
    async with running_bot(tmp_path, refused_calls=1) as run:
        run.emu.rules = Rules(ack_window=0.0)  # whatever the bot sends first comes too late
        with caplog.at_level(logging.WARNING):
            sent = await run.emu.send_command("/shakespeare", options={"seed": "ROMEO:", "length": 5})
            deadline = asyncio.get_running_loop().time() + 30
            while not sent.record.rejected_late:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # room for a wrong second attempt to show up
        run.emu.rules = Rules()
        assert sent.record.rejected_late == 1 and sent.record.followups == []
        assert [call.path for call in run.emu.recorder.find(f"POST /interactions/{sent.record.id}/*")] != []
        assert len(run.emu.recorder.find(f"POST /interactions/{sent.record.id}/*")) == 1
        bot_records = [record for record in caplog.records if record.name.startswith("bot")]
        assert [record.levelname for record in bot_records] == ["WARNING"], bot_records
        assert "had expired" in bot_records[0].getMessage() and bot_records[0].exc_info is None
        poem(await run.ask("/shakespeare", seed="a", length=5))  # no cooldown was used up


@pytest.mark.parametrize("event, data", [
    ("GUILD_ROLE_CREATE", {}),                                   # the role is missing
    ("GUILD_UPDATE", {"id": "not-a-number"}),
    ("GUILD_ROLE_UPDATE", {"role": "not a role"}),
])
async def test_a_gateway_event_discord_py_cannot_read_costs_that_event_only(tmp_path, caplog, event, data):
    async with running_bot(tmp_path) as run:
        guild = run.emu.world.guild.id
        with caplog.at_level(logging.WARNING):
            await run.emu.gateway.dispatch_for_guild(guild, event, {"guild_id": str(guild), **data})
            poem(await run.ask("/shakespeare", seed="still here", length=5))  # the connection is fine
        assert not run.task.done()
        skipped = [record for record in caplog.records if "could not be read" in record.getMessage()]
        assert len(skipped) == 1 and event in skipped[0].getMessage() and skipped[0].exc_info is None
        assert run.emu.gateway.identifies == 1  # it did not have to reconnect either


async def test_a_connection_whose_heartbeats_go_unacknowledged_is_resumed_within_two_intervals(tmp_path):
    # Discord: no ACK between two heartbeats means a dead connection; close it and resume. With
    # discord.py's fixed 60 s this took a minute whatever the interval; here the interval is 1 s (a
    # busy test machine may stall the loop for a fraction of that without a false alarm).
    async with running_bot(tmp_path, heartbeat_interval_ms=1000) as run:
        gateway = run.emu.gateway
        resumes, identifies = gateway.resumes, gateway.identifies
        await asyncio.sleep(2.5)  # heartbeats flow and are acknowledged: nothing happens
        assert (gateway.resumes, gateway.identifies) == (resumes, identifies)
        gateway.ack_heartbeats = False
        started = asyncio.get_running_loop().time()
        while gateway.resumes == resumes and gateway.identifies == identifies:
            assert asyncio.get_running_loop().time() - started < 10, "the dead connection was kept"
            await asyncio.sleep(0.02)
        noticed = asyncio.get_running_loop().time() - started
        gateway.ack_heartbeats = True
        await gateway.wait_connected(10)
        assert noticed < 4.0  # the heartbeat due after the missed ACK, plus one interval and slack
        poem(await run.ask("/shakespeare", seed="back", length=5))
