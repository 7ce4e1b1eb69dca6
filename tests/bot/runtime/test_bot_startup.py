"""Starting and stopping: refusals with exit code 2, command sync only when needed, SIGTERM, health."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.config import EXIT_CONFIG, BotConfig
from bot.ops.health import check_heartbeat
from bot.runtime.client import ShakespeareBot
from bot.runtime.runner import TOKEN_REJECTED, discord_endpoints, run_bot, sync_command_set
from bot.storage.sqlite_store import SqliteSettingsStore
from discord_emulator import Emulator
from tests.bot.harness import config_for, make_checkpoints

REPO = Path(__file__).resolve().parents[3]


async def run_until_ready(config: BotConfig) -> int:
    """Start the bot in process, wait until it has connected, stop it; its exit code."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(config, stop=stop, handle_signals=False))
    deadline = time.monotonic() + 30
    # The heartbeat appears once the bot is connected and its database answers.
    while not (config.heartbeat_file.exists() or task.done()):
        assert time.monotonic() < deadline, "the bot did not connect"
        await asyncio.sleep(0.02)
    stop.set()
    return await task


def syncs(emu: Emulator) -> list[str]:
    return [call.path for call in emu.recorder.find("PUT /applications/*")]


async def test_a_token_discord_rejects_is_one_logged_sentence_and_exit_code_2(tmp_path, caplog):
    async with Emulator() as emu:
        config = config_for(emu, tmp_path, token=emu.world.token + "x")
        with caplog.at_level(logging.ERROR):
            assert await run_bot(config, handle_signals=False) == EXIT_CONFIG
    assert [record.getMessage() for record in caplog.records] == [TOKEN_REJECTED]
    assert all(record.exc_info is None for record in caplog.records)


async def test_an_unreachable_api_is_one_logged_sentence_and_exit_code_2(tmp_path, caplog):
    async with Emulator() as emu:
        config = config_for(emu, tmp_path)
    # The emulator has stopped: nothing listens at its address any more.
    with caplog.at_level(logging.ERROR):
        assert await run_bot(config, handle_signals=False) == EXIT_CONFIG
        assert await sync_command_set(config, None) == EXIT_CONFIG
    assert [record.getMessage()[:30] for record in caplog.records] == ["Cannot reach Discord at http:/"] * 2
    assert "check the network and DISCORD_API_BASE." in caplog.records[0].getMessage()
    assert all(record.exc_info is None for record in caplog.records)


async def test_no_checkpoints_is_one_logged_sentence_and_exit_code_2(tmp_path, caplog):
    async with Emulator() as emu:
        config = config_for(emu, tmp_path, checkpoint_dir=tmp_path / "empty")
        with caplog.at_level(logging.ERROR):
            assert await run_bot(config, handle_signals=False) == EXIT_CONFIG
    [record] = caplog.records
    assert record.getMessage().startswith("Cannot load the models from CHECKPOINT_DIR=")
    assert not record.exc_info


async def test_commands_are_synced_at_start_only_when_they_changed(tmp_path):
    async with Emulator() as emu:
        config = config_for(emu, tmp_path)
        assert await run_until_ready(config) == 0
        assert syncs(emu) == [f"/applications/{emu.world.application_id}/commands"]
        config.heartbeat_file.unlink(missing_ok=True)
        assert await run_until_ready(config) == 0  # a restart: same commands, same database
        assert len(syncs(emu)) == 1
        store = await SqliteSettingsStore.open(config.db_path)
        try:
            # What a new release's changed commands look like to the bot: a different stored hash.
            await store.set_state(f"synced-commands:{emu.world.application_id}:global", "older")
        finally:
            await store.close()
        config.heartbeat_file.unlink(missing_ok=True)
        assert await run_until_ready(config) == 0
        assert len(syncs(emu)) == 2


async def test_a_dev_guild_gets_the_commands_at_once_and_sync_can_be_forced(tmp_path):
    async with Emulator() as emu:
        guild = emu.world.guild.id
        config = config_for(emu, tmp_path, dev_guild_id=guild)
        assert await run_until_ready(config) == 0
        guild_route = f"/applications/{emu.world.application_id}/guilds/{guild}/commands"
        assert syncs(emu) == [guild_route]
        assert await sync_command_set(config, guild) == 0  # explicit: syncs even though unchanged
        assert await sync_command_set(config, None) == 0
        assert syncs(emu) == [guild_route, guild_route, f"/applications/{emu.world.application_id}/commands"]


async def test_a_sync_discord_refuses_is_one_logged_sentence_and_exit_code_2(tmp_path, caplog):
    async with Emulator() as emu:
        config = config_for(emu, tmp_path)
        assert await sync_command_set(config, 424242) == 2  # a server the bot was never added to
    refusals = [record for record in caplog.records if "refused the command sync" in record.getMessage()]
    assert len(refusals) == 1 and refusals[0].exc_info is None
    assert "HTTP 403" in refusals[0].getMessage()


async def test_the_bot_points_discord_py_at_the_configured_endpoints_and_restores_them(tmp_path):
    import discord

    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    config = BotConfig(api_base="http://127.0.0.1:1/api/v10", gateway_url="ws://127.0.0.1:1/gateway")
    with discord_endpoints(config):
        assert discord.http.Route.BASE == "http://127.0.0.1:1/api/v10"
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"
    after = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    assert after == before


async def test_shard_settings_reach_the_client(tmp_path):
    config = BotConfig(shard_count=4, shard_ids=(1, 3))
    store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    try:
        bot = ShakespeareBot(config, engine=None, store=store)  # type: ignore[arg-type]  # not started
        assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])
    finally:
        await store.close()


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "healthcheck"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_sigterm_stops_the_process_cleanly_and_healthcheck_follows_the_heartbeat(tmp_path):
    async with Emulator() as emu:
        heartbeat = tmp_path / "heartbeat"
        env = {**os.environ, **emu.bot_env(), "BOT_DB_PATH": str(tmp_path / "bot.sqlite3"),
               "BOT_HEARTBEAT_PATH": str(heartbeat), "DEVICE": "cpu",
               "CHECKPOINT_DIR": str(make_checkpoints(tmp_path / "checkpoints"))}
        assert healthcheck(env).returncode == 1  # not started yet
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not heartbeat.exists():
                assert process.returncode is None and time.monotonic() < deadline, "the bot did not start"
                await asyncio.sleep(0.1)
            checked = await asyncio.to_thread(healthcheck, env)
            assert checked.returncode == 0, checked.stdout
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        log = output.decode()
        assert process.returncode == 0, log
        assert "Received SIGTERM; stopping." in log and "Stopped cleanly." in log
        assert "Traceback" not in log
        assert not heartbeat.exists()
        assert "No heartbeat" in check_heartbeat(heartbeat)
