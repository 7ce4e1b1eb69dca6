"""`python -m bot --self-test`: the real bot against an in-process local Discord, end to end.

One member's /shakespeare and one admin's /settings change go through the emulator, the real
discord.py client, the engine and the settings database (BOT_DB_PATH, or PostgreSQL when
DATABASE_URL is set); after the bot stopped, the database is reopened to show the change was
stored (it stays: the container's smoke test reads it back from a second container). Exit 0 only
if every check passed. No token and no network needed.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path

from bot.config import BotConfig
from bot.devtools.playground import BOT_CAST
from bot.runtime.runner import EXIT_OK, run_bot
from bot.storage import open_store
from discord_emulator import Emulator

READY_TIMEOUT = 180.0  # loading the shipped models on a slow CPU takes a while
REPLY_TIMEOUT = 120.0
SEED = "ROMEO:"
TEMPERATURE = 1.3


def _say(line: str) -> None:
    print(f"self-test: {line}", flush=True)


async def _exchange(emu: Emulator, bot: asyncio.Task, failures: list[str]) -> None:
    """Send the two commands; each wrong reply adds a sentence to `failures`."""
    ready = asyncio.ensure_future(emu.wait_until_ready(READY_TIMEOUT))
    await asyncio.wait({ready, bot}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        failures.append("the bot stopped before it connected")
        return
    ready.result()
    _say("the bot connected and synced its commands")

    sent = await emu.send_command("/shakespeare", user="member", options={"seed": SEED, "length": 80})
    reply = await sent.wait_reply(REPLY_TIMEOUT)
    content = reply.content
    if reply.ephemeral or SEED not in content or "```" not in content or len(content) > 2000:
        failures.append(f"/shakespeare replied {content!r}")
    else:
        _say(f"/shakespeare answered with {len(content)} characters")

    sent = await emu.send_command("/settings temperature", user="admin", options={"value": TEMPERATURE})
    reply = await sent.wait_reply(REPLY_TIMEOUT)
    if not reply.ephemeral or f"{TEMPERATURE:g}" not in reply.content:
        failures.append(f"/settings temperature replied {reply.content!r}")
    else:
        _say(f"/settings temperature answered {reply.content!r}")


async def run_self_test(config: BotConfig) -> int:
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bot-selftest-") as scratch:
        async with Emulator(cast=BOT_CAST) as emu:
            # Only the endpoints, token and heartbeat differ from the real configuration: the
            # heartbeat must not stand in for a real bot sharing this /data volume.
            test_config = replace(
                config, token=emu.world.token, api_base=emu.api_base, gateway_url=emu.gateway_url,
                shard_count=None, shard_ids=None, dev_guild_id=None,
                heartbeat_path=Path(scratch) / "heartbeat",
            )
            stop = asyncio.Event()
            bot = asyncio.create_task(run_bot(test_config, stop=stop, handle_signals=False))
            try:
                await _exchange(emu, bot, failures)
            except Exception as error:  # the emulator's NoResponse, a timeout, an HTTP error
                failures.append(f"{type(error).__name__}: {error}")
            finally:
                stop.set()
                # An exit code, or the exception of a bug in the bot (kept to report it, not raised).
                [outcome] = await asyncio.gather(bot, return_exceptions=True)
            if outcome != EXIT_OK:
                failures.append(f"the bot ended with {outcome!r} (its log is above)")
            guild_id = emu.world.guild.id
    if not failures:
        where = _database(config)
        store = await open_store(config)
        try:
            stored = await store.get(guild_id)
        finally:
            await store.close()
        if stored.temperature != TEMPERATURE:
            failures.append(f"{where} holds temperature {stored.temperature}, not {TEMPERATURE}")
        else:
            _say(f"the change is stored in {where}")
    for failure in failures:
        _say(f"FAILED: {failure}")
    _say("passed" if not failures else "failed")
    return 0 if not failures else 1


def _database(config: BotConfig) -> str:
    if config.database_url is None:
        return str(config.db_path)
    from bot.storage.postgres import describe  # psycopg is imported only when chosen

    return describe(config.database_url)
