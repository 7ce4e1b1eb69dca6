"""Scale-out (issue 7): two bot processes, one shard each, sharing one SQLite settings file.

One emulator with two servers that Discord's rule routes to different shards, and two real
`python -m bot` processes (SHARD_COUNT=2, SHARD_IDS=0 and 1, the same BOT_DB_PATH). Each process
reaches the emulator at its own address, so every answer can be traced to the process that sent
it. Both servers' admins change settings at the same moment; each change must be confirmed by the
process that owns its server's shard, and the file must end with each server's last values.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yarl

from bot.devtools.playground import BOT_CAST, BOT_COMMAND
from discord_emulator import Emulator, Reply, SentInteraction
from discord_emulator.models import Guild
from discord_emulator.process import BotProcess
from tests.e2e.helpers import BOT_START_TIMEOUT, REPLY_TIMEOUT, bot_env, settings_shown

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SHARD_COUNT = 2
CHANGES_PER_GUILD = 20
SETTINGS = ("temperature", "length", "model")


def shard_of(guild_id: int) -> int:
    """Discord's rule for which shard receives a guild's events."""
    return (guild_id >> 22) % SHARD_COUNT


@dataclass(frozen=True)
class Change:
    setting: str
    value: float | int | str
    command: str
    confirmation: str


def planned_changes(guild_number: int) -> list[Change]:
    """Temperature, length and model in turn, with temperatures and lengths no other guild uses."""
    changes = []
    for step in range(CHANGES_PER_GUILD):
        unique = guild_number * CHANGES_PER_GUILD + step
        setting = SETTINGS[step % len(SETTINGS)]
        if setting == "temperature":
            temperature = round(0.1 + 0.04 * unique, 2)
            changes.append(Change(setting, temperature, f"/settings temperature value:{temperature}",
                                  f"Temperature is now {temperature:g} on this server."))
        elif setting == "length":
            length = 10 + unique
            changes.append(Change(setting, length, f"/settings length value:{length}",
                                  f"Length is now {length} characters on this server."))
        else:  # the only shipped checkpoint
            changes.append(Change(setting, "lstm", "/settings model name:LSTM",
                                  "The model is now lstm on this server."))
    return changes


def last_values(changes: list[Change]) -> dict[str, float | int | str]:
    return {change.setting: change.value for change in changes}


def answering_ports(emu: Emulator, interaction: SentInteraction) -> set[int]:
    """The emulator ports that calls answering this interaction (callback, webhooks) came in on."""
    return {call.port for call in emu.calls if interaction.record.token in call.path}


async def test_two_shard_processes_change_settings_at_once_in_one_file(tmp_path: Path) -> None:
    async with Emulator(cast=BOT_CAST) as emu:
        globe = emu.world.guild
        rose = emu.world.add_guild("The Rose", shard=(1 - shard_of(globe.id), SHARD_COUNT))
        guilds: list[Guild] = [globe, rose]
        assert sorted(shard_of(guild.id) for guild in guilds) == [0, 1]

        db_path = tmp_path / "settings.sqlite3"
        processes: list[BotProcess] = []
        ports: list[int] = []
        for shard in range(SHARD_COUNT):
            env = {**bot_env(db_path), "SHARD_COUNT": str(SHARD_COUNT), "SHARD_IDS": str(shard)}
            process = BotProcess(emu, BOT_COMMAND, env, tmp_path / f"shard-{shard}.log")
            # BotProcess puts the emulator's own address over `env`; this one is the process's own.
            api_base = await emu.add_address()
            process.env["DISCORD_API_BASE"] = api_base
            processes.append(process)
            ports.append(yarl.URL(api_base).port or 0)

        try:
            started = time.monotonic()
            for process in processes:  # one at a time: one IDENTIFY per 5 s (max_concurrency 1)
                await process.start()
                await process.wait_identified(BOT_START_TIMEOUT)
            await asyncio.gather(*(process.wait_ready(BOT_START_TIMEOUT) for process in processes))
            assert sorted(session.shard_id for session in emu.gateway.live_sessions()) == [0, 1]
            ready = time.monotonic()

            # Both admins at once: the two servers' changes go out interleaved, none waiting for a reply.
            plans = {guild.id: planned_changes(number) for number, guild in enumerate(guilds)}
            sent: dict[int, list[SentInteraction]] = {guild.id: [] for guild in guilds}
            for step in range(CHANGES_PER_GUILD):
                for guild in guilds:
                    interaction = await emu.send_command(plans[guild.id][step].command, guild_id=guild.id)
                    sent[guild.id].append(interaction)
            replies: dict[int, list[Reply]] = {
                guild.id: await asyncio.gather(*(one.wait_reply(REPLY_TIMEOUT) for one in sent[guild.id]))
                for guild in guilds
            }
            changed = time.monotonic()
            await asyncio.sleep(0.5)  # room for a second answer, from either process, to arrive

            for guild in guilds:
                owner_port = ports[shard_of(guild.id)]
                plan = plans[guild.id]
                for step, interaction in enumerate(sent[guild.id]):
                    change, reply = plan[step], replies[guild.id][step]
                    # Each admin is told the value they chose, even with changes queued behind it.
                    assert reply.content == change.confirmation and reply.ephemeral, (change, reply.content)
                    assert interaction.record.answers == 1, change
                    assert answering_ports(emu, interaction) == {owner_port}, change

            for guild in guilds:
                shown_sent = await emu.send_command("/settings show", guild_id=guild.id)
                shown = await shown_sent.wait_reply(REPLY_TIMEOUT)
                last = last_values(plans[guild.id])
                assert settings_shown(shown) == {
                    name: (str(value), "set by an admin") for name, value in last.items()
                }, guild.name
                assert answering_ports(emu, shown_sent) == {ports[shard_of(guild.id)]}
        finally:
            exit_codes = await asyncio.gather(*(process.stop() for process in processes))
        logs = "\n\n".join(process.log_tail() for process in processes)
        assert exit_codes == [0, 0], f"exit statuses {exit_codes}:\n{logs}"

        with sqlite3.connect(db_path) as connection:
            rows = connection.execute("SELECT guild_id, temperature, length, model FROM guild_settings")
            stored = {guild_id: (temperature, length, model) for guild_id, temperature, length, model in rows}
        connection.close()
        assert stored == {
            guild.id: tuple(last_values(plans[guild.id])[name] for name in SETTINGS) for guild in guilds
        }
        assert emu.rejected_calls() == []
        assert emu.recorder.unknown_routes() == []
        assert emu.contract_violations() == []
        print(f"shards: ready in {ready - started:.1f} s; {CHANGES_PER_GUILD} changes in each of "
              f"{len(guilds)} servers answered in {changed - ready:.1f} s")
