"""A catalogue of bad inputs, many of them forged payloads Discord's own client would never send.

Each gets a clear private sentence (or a generation with the documented default), the bot stays
up, and nothing wrong is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from discord_emulator import Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import REPLY_TIMEOUT, ask, fresh_user, generation, refusal, settings_shown

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

TEMPERATURE_RANGE = "Temperature must be a number from 0.1 to 2.0."
LENGTH_RANGE = "Length must be a whole number from 1 to 1500."
# One /shakespeare may ask for more than a server's default (a long text comes as a file).
REQUEST_LENGTH_RANGE = "Length must be a whole number from 1 to 10000."
SEED_SIZE = "The seed must be text of 1 to 500 characters."
BAD_OPTION = "One of the options has a value this command does not accept."
NEEDS_SERVER = "Server settings belong to a server; for your own defaults use /preferences."
OUTDATED = "This command has changed; wait a minute for Discord to update it, then try again."


@dataclass(frozen=True)
class Case:
    command: str
    options: dict[str, Any] = field(default_factory=dict)
    refused: str | tuple[str, ...] | None = None
    """The exact sentence (or one of the sentences) expected; None: some clear private sentence."""
    generates: bool = False
    guild: bool = True


def temperature(value: Any) -> list[Any]:
    # A value that is not even a number may also be refused as an option of the wrong type.
    refused = TEMPERATURE_RANGE if isinstance(value, float | int) and not isinstance(value, bool) else (
        TEMPERATURE_RANGE, BAD_OPTION)
    return [
        pytest.param(Case("/shakespeare", {"temp": value, "length": 5}, refused),
                     id=f"shakespeare-temp-{value!r}"),
        pytest.param(Case("/settings temperature", {"value": value}, refused),
                     id=f"settings-temperature-{value!r}"),
    ]


def length(value: Any) -> list[Any]:
    return [
        pytest.param(Case("/shakespeare", {"length": value}, REQUEST_LENGTH_RANGE),
                     id=f"shakespeare-length-{value}"),
        pytest.param(Case("/settings length", {"value": value}, LENGTH_RANGE), id=f"settings-length-{value}"),
    ]


def seed(name: str, value: str, refused: str | None = None) -> Any:
    return pytest.param(
        Case("/shakespeare", {"seed": value, "length": 10}, refused, generates=refused is None),
        id=f"seed-{name}",
    )


CATALOGUE = [
    *temperature(0), *temperature(-1), *temperature(math.nan), *temperature(math.inf),
    *temperature(1e9), *temperature("warm"), *temperature(True),
    *length(0), *length(-5), *length(10**9), *length(30.5), *length(10**400),
    pytest.param(Case("/shakespeare", {"temp": 10**400, "length": 5}, BAD_OPTION), id="temp-beyond-a-double"),
    seed("empty", "", SEED_SIZE),
    seed("10000-characters", "x" * 10_000, SEED_SIZE),
    seed("emoji", "\U0001f3ad To be \U0001f480"),
    seed("cjk", "\u751f\u304d\u308b\u3079\u304d\u304b"),
    seed("right-to-left", "\u05d0\u05d1\u05d2 \u0645\u0631\u062d\u0628\u0627 \u202eevil"),
    seed("zero-width", "RO\u200bMEO\u200d:\ufeff"),
    seed("control-characters", "KING\x00\x07\x1b[31m\r\n\t:"),
    seed("everyone", "@everyone @here <@&1> hello"),
    seed("markdown", "**bold** __under__ ~~strike~~ > quote [link](https://example.com) # head"),
    seed("backticks", "``` ` `` ```python\nescape"),
    pytest.param(Case("/shakespeare", {"model": "gpt-4", "length": 5}), id="unknown-model"),
    pytest.param(Case("/shakespeare", {"model": 5, "length": 5}), id="model-not-text"),
    pytest.param(Case("/settings model", {"name": "../../etc/passwd"}), id="settings-unknown-model"),
    pytest.param(Case("/settings temperature"), id="missing-required-option"),
    pytest.param(Case("/settings temperature value:1.5", guild=False, refused=NEEDS_SERVER), id="no-guild"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def baseline(emulator: Emulator, bot: BotProcess) -> dict[str, tuple[str, str]]:
    """An admin's own settings, which no bad input may change."""
    await ask(emulator, "/settings temperature value:1.1")
    _, reply = await ask(emulator, "/settings show")
    return settings_shown(reply)


async def _stored_settings(emu: Emulator, baseline: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The server's settings now; put back to `baseline` if they differ, so one failure stays one."""
    _, shown = await ask(emu, "/settings show")
    stored = settings_shown(shown)
    if stored != baseline:
        await ask(emu, "/settings reset")
        await ask(emu, f"/settings temperature value:{baseline['temperature'][0]}")
    return stored


@pytest.mark.parametrize("case", CATALOGUE)
async def test_bad_input_gets_a_clear_reply_and_changes_nothing(
    emulator: Emulator, baseline: dict[str, tuple[str, str]], case: Case
) -> None:
    user = fresh_user(emulator, admin=True)
    sent = await emulator.send_command(
        case.command, user=user, guild=case.guild, options=case.options, forge=True
    )
    try:
        reply = await sent.wait_reply(REPLY_TIMEOUT)
        assert sent.record.answers == 1
        if case.generates:
            generation(reply)
        else:
            sentence = refusal(reply)
            if isinstance(case.refused, str):
                assert sentence == case.refused
            elif case.refused is not None:
                assert sentence in case.refused
    finally:
        stored = await _stored_settings(emulator, baseline)
    assert stored == baseline


async def test_unknown_subcommand_and_unknown_command_are_answered(emulator: Emulator) -> None:
    guild_id = emulator.world.guild.id
    settings = emulator.commands.find("settings", guild_id)
    assert settings is not None
    for data in [
        {"id": settings["id"], "name": "settings", "type": 1,
         "options": [{"name": "explode", "type": 1, "options": []}]},
        {"id": "1", "name": "hamlet", "type": 1, "options": []},
    ]:
        sent = await emulator.send_interaction_data(data)
        assert refusal(await sent.wait_reply(REPLY_TIMEOUT)) == OUTDATED


async def test_a_forged_member_permission_string_is_not_trusted_beyond_its_bits(emulator: Emulator) -> None:
    settings = emulator.commands.find("settings", emulator.world.guild.id)
    assert settings is not None
    payload = emulator.interaction_payload(
        {"id": settings["id"], "name": "settings", "type": 1,
         "options": [{"name": "reset", "type": 1, "options": []}]},
        user="member",
    )
    payload["member"]["permissions"] = "0"
    sent = await emulator.send_raw_interaction(payload)
    assert "Manage Server" in refusal(await sent.wait_reply(REPLY_TIMEOUT))


async def test_the_bot_is_still_up_and_stored_nothing_wrong(
    emulator: Emulator, bot: BotProcess, baseline: dict[str, tuple[str, str]]
) -> None:
    assert bot.returncode is None
    _, reply = await ask(emulator, "/settings show")
    assert settings_shown(reply) == baseline
    _, reply = await ask(emulator, "/shakespeare seed:a length:5", user=fresh_user(emulator))
    generation(reply)
    await ask(emulator, "/settings reset")
    assert emulator.rejected_calls() == []


# Option lists only a hand-made payload carries: discord.py's Namespace would raise on each before any
# command code ran (float() overflow, a missing key, int() of a non-snowflake), leaving no reply.
FORGED_OPTIONS = {
    "number-beyond-a-double": {"options": [{"name": "temp", "type": 10, "value": 10**400}]},
    "option-without-type": {"options": [{"name": "temp", "value": 1.0}]},
    "option-type-as-text": {"options": [{"name": "temp", "type": "10", "value": 1.0}]},
    "user-option-not-a-snowflake": {"options": [{"name": "temp", "type": 6, "value": "abc"}]},
    "unknown-option-type": {"options": [{"name": "temp", "type": 99, "value": 1}]},
    "options-not-a-list": {"options": {"temp": 1.0}},
    "forged-resolved-users": {"options": [], "resolved": {"users": {"1": "nobody"}}},
    # The command's own fields, which discord.py reads before any option.
    "unknown-command-type": {"type": 4, "options": []},
    "command-type-as-text": {"type": "1", "options": []},
    "message-command-type": {"type": 3, "options": []},
    "command-without-name": {"name": None, "options": []},
    "guild-id-not-a-snowflake": {"guild_id": "x", "options": []},
}


@pytest.mark.parametrize("extra", FORGED_OPTIONS.values(), ids=FORGED_OPTIONS.keys())
async def test_forged_option_shapes_are_answered(emulator: Emulator, bot: BotProcess,
                                                 extra: dict[str, Any]) -> None:
    guild_id = emulator.world.guild.id
    shakespeare = emulator.commands.find("shakespeare", guild_id)
    assert shakespeare is not None
    data = {"id": shakespeare["id"], "name": "shakespeare", "type": 1, **extra}
    sent = await emulator.send_interaction_data(data, user=fresh_user(emulator, admin=False))
    assert refusal(await sent.wait_reply(REPLY_TIMEOUT)) == BAD_OPTION
    assert sent.record.answers == 1
