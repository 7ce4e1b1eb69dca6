"""What the bot's tests share: tiny checkpoints, the bot serving the local Discord emulator in this
process (`running_bot`), its configuration for a run (`config_for`), and readers of its replies.

The bot runs against discord_emulator, so each interaction takes the path a real one takes:
gateway INTERACTION_CREATE, discord.py's CommandTree with its checks, transformers and cooldowns,
our tree's error handler, and the REST callback and follow-up the emulator judges by Discord's
rules. Models are tiny random checkpoints: these tests are about plumbing, not prose.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import BotConfig
from bot.runtime.client import ShakespeareBot
from bot.runtime.runner import discord_endpoints, serve
from bot.storage.settings import BUSY_TIMEOUT_MS
from bot.storage.sqlite_store import SqliteSettingsStore
from charlm.alphabet import Alphabet
from charlm.checkpoint import save_checkpoint
from charlm.engine import GenerationEngine
from charlm.models import ModelConfig, build_model
from charlm.training.finetune import MIN_CHARACTERS
from discord_emulator import Emulator, Reply
from tests.helpers import TINY_TEXT

HEADER = re.compile(r"\*(?P<model>[^,*]+), temperature (?P<temperature>[\d.]+)(?P<notes>[^*]*)\*\n```\n")


def make_checkpoints(directory: Path, kinds: tuple[str, ...] = ("lstm",), hidden_size: int = 32) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        model = build_model(ModelConfig(kind, len(Alphabet()), hidden_size))
        save_checkpoint(directory / f"{kind}.safetensors", model, Alphabet(),
                        {"val_nats_per_char": 1.5, "minutes": 12})
    return directory


@dataclass
class Running:
    emu: Emulator
    bot: ShakespeareBot
    store: SqliteSettingsStore
    engine: GenerationEngine
    stop: asyncio.Event
    task: asyncio.Task

    async def ask(self, command: str, *, user: str = "member", guild: bool = True,
                  forge: bool = False, **options: object) -> Reply:
        sent = await self.emu.send_command(command, user=user, guild=guild, options=options or None,
                                           forge=forge)
        return await sent.wait_reply(30)


@asynccontextmanager
async def running_bot(tmp_path: Path, kinds: tuple[str, ...] = ("lstm",), hidden_size: int = 32,
                      drain_seconds: float = 10, busy_timeout_ms: int = BUSY_TIMEOUT_MS,
                      refused_calls: int = 0, heartbeat_interval_ms: int = 41_250,
                      config_options: dict | None = None, database_url: str | None = None,
                      **engine_options: int):
    """The bot serving the emulator; its database is SQLite in tmp_path, or PostgreSQL at
    `database_url` (as DATABASE_URL chooses)."""
    checkpoints = make_checkpoints(tmp_path / "checkpoints", kinds, hidden_size)
    engine = GenerationEngine.from_directory(checkpoints, device="cpu", **engine_options)
    if database_url is None:
        store = await SqliteSettingsStore.open(tmp_path / "bot.sqlite3", busy_timeout_ms)
    else:
        from bot.storage.postgres_store import PostgresSettingsStore

        store = await PostgresSettingsStore.open(database_url, busy_timeout_ms=busy_timeout_ms)
    try:
        async with Emulator(heartbeat_interval_ms=heartbeat_interval_ms) as emu:
            config = BotConfig(token=emu.world.token, api_base=emu.api_base, gateway_url=emu.gateway_url,
                               db_path=tmp_path / "bot.sqlite3", database_url=database_url,
                               heartbeat_path=tmp_path / "heartbeat",
                               drain_seconds=drain_seconds, checkpoint_dir=checkpoints,
                               cdn_url=emu.cdn_base, **(config_options or {}))
            with discord_endpoints(config):
                async with ShakespeareBot(config, engine=engine, store=store) as bot:
                    stop = asyncio.Event()
                    task = asyncio.create_task(serve(bot, emu.world.token, stop))
                    await emu.wait_until_ready(30)
                    try:
                        yield Running(emu, bot, store, engine, stop, task)
                    finally:
                        stop.set()
                        await task
            # Nothing the bot sent was refused by the emulator (but the refusals a test provokes)
            # or broke Discord's published contract.
            assert len(emu.rejected_calls()) == refused_calls, emu.rejected_calls()
            assert emu.contract_violations() == []
    finally:
        await engine.aclose()
        await store.close()


def poem(reply: Reply) -> tuple[str, float, str, str]:
    """(model, temperature, notes, code block text without the zero-width spaces) of a reply."""
    assert not reply.ephemeral
    match = HEADER.match(reply.content)
    assert match, reply.content
    assert reply.content.endswith("\n```") and reply.content.count("```") == 2
    block = reply.content[match.end():-len("\n```")].replace("\u200b", "")
    return match["model"], float(match["temperature"]), match["notes"], block


def refusal(reply: Reply) -> str:
    assert reply.ephemeral, reply.content
    return reply.content


def config_for(emu: Emulator, tmp_path: Path, **changes: object) -> BotConfig:
    values = dict(token=emu.world.token, api_base=emu.api_base, gateway_url=emu.gateway_url,
                  db_path=tmp_path / "bot.sqlite3", heartbeat_path=tmp_path / "heartbeat",
                  checkpoint_dir=make_checkpoints(tmp_path / "checkpoints"), device="cpu")
    return BotConfig(**{**values, **changes})


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """label -> custom_id of the buttons under a message."""
    return {button["label"]: button["custom_id"] for row in message.get("components") or []
            for button in row["components"]}


# /voice train through the emulator (tests/bot/commands/test_voice_commands.py and the security tests)
TEXT = (TINY_TEXT * (MIN_CHARACTERS // len(TINY_TEXT) + 2)).encode()
FAST = {"voice_train_seconds": 10, "voice_train_threads": 1}  # room for some steps under CI load
NO_TRAINER = {**FAST, "voice_trainer": "off"}


async def train(run, data: bytes = TEXT, name: str = "lore", user: str = "admin",
                filename: str = "lore.txt", **extra: Any) -> Reply:
    sent = await run.emu.send_command(f"/voice train name:{name}", user=user,
                                      files={"file": (filename, data, "text/plain")}, **extra)
    return await sent.wait_reply(60)
