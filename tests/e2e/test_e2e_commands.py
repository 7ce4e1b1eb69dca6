"""Every command, as an admin and as a plain member, through the real bot and the emulator."""

from __future__ import annotations

import itertools

import pytest
import pytest_asyncio

from discord_emulator import CommandHiddenError, CommandInputError, Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import REPLY_TIMEOUT, ask, fresh_user, generation, refusal, settings_shown

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

NEEDS_MANAGE_SERVER = "Only members with the Manage Server permission can change this server's settings."
NEEDS_SERVER = "Server settings belong to a server; for your own defaults use /preferences."
_places = itertools.count()
DEFAULTS = {"temperature": ("0.8", "default"), "length": ("400", "default"), "model": ("lstm", "default")}


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def default_settings(emulator: Emulator, bot: BotProcess) -> None:
    """Every test here starts from the server's defaults."""
    await ask(emulator, "/settings reset")


@pytest.mark.parametrize("user", ["admin", "member"])
async def test_about_lists_the_models_privately(emulator: Emulator, user: str) -> None:
    _, reply = await ask(emulator, "/about", user=user)
    assert reply.ephemeral
    assert reply.content.startswith("**Shakespeare bot ")
    assert "LSTM" in reply.content and "parameters" in reply.content


@pytest.mark.parametrize("admin", [True, False], ids=["admin", "member"])
async def test_shakespeare_writes_from_the_seed(emulator: Emulator, admin: bool) -> None:
    user = fresh_user(emulator, admin=admin)
    sent, reply = await ask(emulator, "/shakespeare seed:b temp:0.8 length:40", user=user)
    model, temperature, block = generation(reply)
    assert (model, temperature) == ("lstm", 0.8)
    assert block.startswith("b") and len(block) == 1 + 40
    assert sent.record.answers == 1 and sent.record.ack_latency is not None
    assert sent.record.ack_latency < emulator.rules.ack_window


async def test_shakespeare_without_options_uses_the_servers_defaults(emulator: Emulator) -> None:
    _, reply = await ask(emulator, "/shakespeare", user=fresh_user(emulator))
    model, temperature, block = generation(reply)
    assert (model, temperature) == ("lstm", 0.8)
    assert len(block) > 400  # a speaker's name, then the default 400 characters


async def test_shakespeare_again_within_the_cooldown_is_refused(emulator: Emulator) -> None:
    user = fresh_user(emulator)
    await ask(emulator, "/shakespeare seed:a length:5", user=user)
    _, reply = await ask(emulator, "/shakespeare seed:a length:5", user=user)
    assert refusal(reply).startswith("You're writing too fast; try again in ")


async def test_settings_changed_by_an_admin_are_used_by_shakespeare(emulator: Emulator) -> None:
    _, reply = await ask(emulator, "/settings temperature value:1.2")
    assert refusal(reply) == "Temperature is now 1.2 on this server."
    _, reply = await ask(emulator, "/settings length value:33")
    assert refusal(reply) == "Length is now 33 characters on this server."
    _, reply = await ask(emulator, "/settings model name:LSTM")
    assert refusal(reply) == "The model is now lstm on this server."

    _, reply = await ask(emulator, "/settings show")
    assert settings_shown(reply) == {
        "temperature": ("1.2", "set by an admin"),
        "length": ("33", "set by an admin"),
        "model": ("lstm", "set by an admin"),
    }
    _, reply = await ask(emulator, "/shakespeare seed:ROMEO:", user=fresh_user(emulator))
    model, temperature, block = generation(reply)
    assert (model, temperature, len(block)) == ("lstm", 1.2, len("ROMEO:") + 33)

    _, reply = await ask(emulator, "/settings reset")
    assert refusal(reply).startswith("Settings are back to their defaults:")
    assert settings_shown(reply) == DEFAULTS


async def test_a_model_that_is_not_offered_cannot_be_chosen(emulator: Emulator, bot: BotProcess) -> None:
    # Both shipped models are loaded; the admin types one the bot does not have (model names are
    # suggested as they type, not fixed choices, so Discord lets any text through).
    _, reply = await ask(emulator, "/settings model name:rnn")
    assert refusal(reply) == "The rnn model is not loaded on this bot; choose gru or lstm."
    _, reply = await ask(emulator, "/settings show")
    assert settings_shown(reply) == DEFAULTS


@pytest.mark.parametrize(
    "command", ["/settings show", "/settings temperature value:1.5", "/settings length value:9",
                "/settings model name:LSTM", "/settings reset"],
)
async def test_a_member_without_manage_server_is_refused_even_when_forged(
    emulator: Emulator, command: str
) -> None:
    with pytest.raises(CommandHiddenError):
        await emulator.send_command(command, user="member")  # Discord's client hides it
    _, reply = await ask(emulator, command, user="member", forge=True)
    assert refusal(reply) == NEEDS_MANAGE_SERVER
    _, reply = await ask(emulator, "/settings show")
    assert settings_shown(reply) == DEFAULTS


async def test_settings_in_a_dm_are_not_offered_and_refused_when_forged(emulator: Emulator) -> None:
    with pytest.raises(CommandInputError, match="not available in direct messages"):
        await emulator.send_command("/settings temperature value:1.5", guild=False)
    _, reply = await ask(emulator, "/settings temperature value:1.5", guild=False, forge=True)
    assert refusal(reply) == NEEDS_SERVER


async def test_a_user_installed_shakespeare_writes_in_a_server_without_the_bot(emulator: Emulator) -> None:
    world = emulator.world
    guild = world.add_guild(f"Elsewhere {next(_places)}", with_bot=False)
    user = f"traveller-{next(_places)}"
    world.add_member(user, guild=guild)
    with pytest.raises(CommandInputError, match="a server without the app"):
        await emulator.send_command("/shakespeare seed:b length:5", user=user, guild_id=guild.id)
    world.install_for(user)
    sent = await emulator.send_command("/preferences length value:30", user=user, guild_id=guild.id)
    assert refusal(await sent.wait_reply(REPLY_TIMEOUT)) == "You now get 30 characters."
    sent = await emulator.send_command("/shakespeare seed:ROMEO:", user=user, guild_id=guild.id)
    reply = await sent.wait_reply(REPLY_TIMEOUT)
    model, temperature, block = generation(reply)
    assert (model, temperature, block[:6], len(block)) == ("lstm", 0.8, "ROMEO:", 6 + 30)  # their length
    assert reply.message["interaction_metadata"]["authorizing_integration_owners"] == {
        "1": str(world.user(user).id)}
    assert not [call for call in emulator.calls if call.path.startswith("/channels")]


async def test_shakespeare_and_about_work_in_a_direct_message(emulator: Emulator) -> None:
    user = fresh_user(emulator)
    _, reply = await ask(emulator, "/shakespeare seed:JULIET: length:20", user=user, guild=False)
    model, temperature, block = generation(reply)
    assert (model, temperature, block[:7]) == ("lstm", 0.8, "JULIET:")
    _, reply = await ask(emulator, "/about", guild=False)
    assert reply.ephemeral and "LSTM" in reply.content


async def test_nothing_the_bot_sent_was_refused_or_outside_the_api(emulator: Emulator) -> None:
    assert emulator.rejected_calls() == []
    assert emulator.recorder.unknown_routes() == []
