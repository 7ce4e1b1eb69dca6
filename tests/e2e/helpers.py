"""What the end-to-end tests share: the bot's environment, asking a command, reading a reply."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from bot.devtools.playground import BOT_COMMAND, emulated_bot_env
from discord_emulator import Emulator, Reply, SentInteraction
from discord_emulator.process import BotProcess

REPO = Path(__file__).resolve().parents[2]
BOT_START_TIMEOUT = 180.0  # importing torch and loading checkpoints on a busy two-core machine
REPLY_TIMEOUT = 120.0
# The sentence the bot gives for its own faults: no test input may ever produce it.
INTERNAL_FAULT = "Something went wrong on our side"
HEADER = re.compile(r"^\*(?P<model>[\w-]+), temperature (?P<temperature>[\d.]+)(?P<notes>[^*]*)\*\n")
FENCE = "```"

_users = itertools.count()


def bot_env(db_path: Path) -> dict[str, str]:
    """The bot's configuration for a test: its own database, the shipped checkpoints, one CPU."""
    return emulated_bot_env(db_path, REPO / "checkpoints")


def fresh_user(emu: Emulator, *, admin: bool = False) -> str:
    """A new guild member (with Manage Server if `admin`), so no earlier cooldown applies."""
    name = f"{'admin' if admin else 'member'}-{next(_users)}"
    emu.world.add_member(name, manage_guild=admin)
    return name


async def ask(
    emu: Emulator, command: str, *, user: str = "admin", guild: bool = True,
    options: dict[str, Any] | None = None, forge: bool = False, timeout: float = REPLY_TIMEOUT,
) -> tuple[SentInteraction, Reply]:
    sent = await emu.send_command(command, user=user, guild=guild, options=options, forge=forge)
    return sent, await sent.wait_reply(timeout)


def generation(reply: Reply) -> tuple[str, float, str]:
    """(model, temperature, code block as read) of a /shakespeare reply, after checking its shape:
    public, one header line, one unbroken code block, within 2000 characters, pinging nobody."""
    content = reply.content
    assert not reply.ephemeral, content
    assert len(content) <= 2000
    match = HEADER.match(content)
    assert match, f"no generation header in {content!r}"
    body = content[match.end() :]
    assert body.startswith(FENCE + "\n") and body.endswith("\n" + FENCE), content
    assert content.count(FENCE) == 2, f"the code block is broken open: {content!r}"
    assert not reply.message["mention_everyone"] and reply.message["mentions"] == []
    assert reply.message["mention_roles"] == []
    # The bot puts a zero-width space after each backtick so none can close the block; a reader
    # sees the text without it.
    block = body[len(FENCE) + 1 : -len(FENCE) - 1].replace("`\u200b", "`")
    return match["model"], float(match["temperature"]), block


def refusal(reply: Reply) -> str:
    """The sentence of an ephemeral refusal, after checking it is one and not the bot's fault."""
    assert reply.ephemeral, f"a refusal should be private: {reply.content!r}"
    assert INTERNAL_FAULT not in reply.content
    assert FENCE not in reply.content
    return reply.content


def settings_shown(reply: Reply) -> dict[str, tuple[str, str]]:
    """/settings show's lines "- temperature: **0.8** (default)" as {name: (value, origin)}."""
    return {
        match["name"]: (match["value"], match["origin"])
        for match in re.finditer(r"- (?P<name>\w+): \*\*(?P<value>[^*]+)\*\* \((?P<origin>[^)]+)\)",
                                 reply.content)
    }


def button(message: dict, label: str) -> str:
    """The custom_id of the button labelled `label` under `message`."""
    return next(each["custom_id"] for row in message["components"] for each in row["components"]
                if each["label"] == label)


async def start_bot(emu: Emulator, directory: Path, name: str, database: str | None) -> BotProcess:
    """A bot process of the test's own on `database` (SQLite in `directory` when None), ready."""
    env = bot_env(directory / "settings.sqlite3")
    if database is not None:
        env["DATABASE_URL"] = database
    process = BotProcess(emu, BOT_COMMAND, env, directory / f"{name}.log")
    await process.start()
    await process.wait_ready(BOT_START_TIMEOUT)
    return process
