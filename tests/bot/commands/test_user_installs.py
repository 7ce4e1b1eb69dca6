"""The bot installed to a person's account: where its commands may be used, whose defaults apply,
and what it may post where it is not a member (Discord's rules, as the emulator holds them)."""

from __future__ import annotations

from typing import Any

import pytest

from bot import errors
from bot.commands.menu import MENU_NAME
from bot.commands.shakespeare import COOLDOWN_SECONDS
from bot.ops.invite import SERVER_PERMISSIONS
from bot.storage.settings import DEFAULT_SETTINGS
from discord_emulator import CommandInputError, Reply
from discord_emulator.models import ATTACH_FILES, USE_EXTERNAL_APPS
from tests.bot.harness import buttons, poem, refusal, running_bot

EVERYWHERE = {"integration_types": [0, 1], "contexts": [0, 1, 2]}


def definitions(run) -> dict[str, dict[str, Any]]:
    return {each["name"]: each for each in run.emu.commands.listed(None)}


def installed_elsewhere(run, user: str = "member"):
    """A server that never added the bot, with `user` having added it to their own account."""
    guild = run.emu.world.add_guild("Elsewhere", with_bot=False)
    run.emu.world.install_for(user)
    return guild


async def ask_in(run, guild, command: str, *, user: str = "member", forge: bool = False,
                 **options: object) -> Reply:
    sent = await run.emu.send_command(command, user=user, guild_id=guild.id, options=options or None,
                                      forge=forge)
    return await sent.wait_reply(30)


async def test_writing_commands_go_everywhere_and_settings_stay_with_servers(tmp_path):
    async with running_bot(tmp_path) as run:
        commands = definitions(run)
        for name in ("shakespeare", "about", "preferences", MENU_NAME):
            assert {key: commands[name][key] for key in EVERYWHERE} == EVERYWHERE, name
        assert (commands["settings"]["integration_types"], commands["settings"]["contexts"]) == ([0], [0])


async def test_a_user_install_writes_in_a_server_without_the_bot_with_the_users_own_defaults(tmp_path):
    async with running_bot(tmp_path) as run:
        guild = run.emu.world.add_guild("Elsewhere", with_bot=False)
        # Without the app on their account, Discord's client does not offer the command there.
        with pytest.raises(CommandInputError, match="a server without the app"):
            await ask_in(run, guild, "/shakespeare", seed="A")
        run.emu.world.install_for("member")
        # Settings stored for that server (it never chose any: no admin there can reach /settings)
        # and the bot's own server do not apply; the member's own defaults do.
        await run.store.set_value(guild.id, "length", 5)
        await run.store.set_value(run.emu.world.guild.id, "length", 6)
        reply = await ask_in(run, guild, "/shakespeare", seed="A")
        _, temperature, _, block = poem(reply)
        assert (temperature, len(block)) == (DEFAULT_SETTINGS.temperature, 1 + DEFAULT_SETTINGS.length)
        member = run.emu.world.user("member")
        owners = reply.message["interaction_metadata"]["authorizing_integration_owners"]
        assert owners == {"1": str(member.id)}
        assert refusal(await ask_in(run, guild, "/preferences temperature", value=1.5)) == \
            "Your temperature is now 1.5."
        run.emu.clock.advance(COOLDOWN_SECONDS)
        assert poem(await ask_in(run, guild, "/shakespeare", seed="A"))[1] == 1.5
        # Nothing went through a channel: the bot cannot post there, only answer.
        assert not run.emu.recorder.find("POST /channels/*")


async def test_settings_are_not_offered_where_only_a_users_install_reaches_and_refused_when_forged(
        tmp_path):
    async with running_bot(tmp_path) as run:
        guild = installed_elsewhere(run, user="owner")  # owns that server too: Manage Server
        with pytest.raises(CommandInputError, match="a server without the app"):
            await ask_in(run, guild, "/settings show", user="owner")
        forged = await ask_in(run, guild, "/settings temperature", user="owner", forge=True, value=1.1)
        assert refusal(forged) == errors.NOT_INSTALLED_HERE
        assert (await run.store.get(guild.id)) == DEFAULT_SETTINGS  # nothing half-written


async def test_buttons_work_where_the_bot_is_not_a_member(tmp_path):
    async with running_bot(tmp_path) as run:
        guild = installed_elsewhere(run)
        assert refusal(await ask_in(run, guild, "/preferences length", value=1200)) == \
            "You now get 1200 characters."
        message = (await ask_in(run, guild, "/shakespeare", seed="ROMEO:")).message
        run.emu.clock.advance(COOLDOWN_SECONDS + 1)
        # Continue: the message is full, so the continuation is a follow-up (the bot cannot post
        # in that channel), shown as a reply to the message pressed.
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        follow = (await sent.wait_reply(30)).messages[-1]
        assert follow["message_reference"]["message_id"] == message["id"]
        assert len(poem(Reply([follow]))[3]) == 1200
        assert follow["interaction_metadata"]["authorizing_integration_owners"] == \
            message["interaction_metadata"]["authorizing_integration_owners"]
        # Delete, by the member who asked: through the press's token, not the channel.
        sent = await run.emu.press(follow["id"], buttons(follow)["Delete"])
        await sent.wait_deleted(30)
        assert not run.emu.recorder.find("POST /channels/*")
        assert not run.emu.recorder.find("DELETE /channels/*")
        assert not run.emu.contract_violations()


async def test_in_a_group_dm_the_users_install_answers(tmp_path):
    async with running_bot(tmp_path) as run:
        world = run.emu.world
        group = world.group_dm("member", "admin", name="friends")
        with pytest.raises(CommandInputError, match="a group DM"):
            await run.emu.send_command("/shakespeare", user="member", guild=False, channel=group)
        world.install_for("member")
        sent = await run.emu.send_command("/shakespeare", user="member", guild=False, channel=group,
                                          options={"seed": "A", "length": 9})
        reply = await sent.wait_reply(30)
        assert len(poem(reply)[3]) == 10 and reply.message["channel_id"] == str(group.id)
        with pytest.raises(CommandInputError, match="not available in group DMs"):
            await run.emu.send_command("/settings show", user="member", guild=False, channel=group)


async def test_without_attach_files_a_long_text_is_cut_to_fit_instead_of_attached(tmp_path):
    async with running_bot(tmp_path) as run:
        guild = installed_elsewhere(run)
        guild.roles[guild.id].permissions &= ~ATTACH_FILES  # the member's, which the app acts with
        reply = await ask_in(run, guild, "/shakespeare", seed="A", length=3000)
        _, _, notes, block = poem(reply)
        assert reply.message["attachments"] == [] and "text cut to fit" in notes
        assert len(reply.content) <= 2000 and block.startswith("A")


async def test_a_server_that_turned_off_external_apps_sees_only_private_answers(tmp_path):
    async with running_bot(tmp_path) as run:
        guild = installed_elsewhere(run)
        guild.roles[guild.id].permissions &= ~USE_EXTERNAL_APPS
        reply = await ask_in(run, guild, "/shakespeare", seed="A", length=5)
        assert reply.ephemeral and "A" in reply.content  # Discord made it ephemeral; it was still written
        assert not run.emu.contract_violations()


async def test_in_a_server_the_bot_needs_only_the_permission_its_invite_asks_for(tmp_path):
    async with running_bot(tmp_path) as run:
        guild = run.emu.world.guild
        bot_role = next(role for role in guild.roles.values() if role.managed)
        guild.roles[guild.id].permissions &= ~ATTACH_FILES
        bot_role.permissions = SERVER_PERMISSIONS.value
        await run.store.set_value(guild.id, "length", 1400)
        message = (await run.ask("/shakespeare", seed="A", length=3000)).message
        assert [each["filename"] for each in message["attachments"]] == ["shakespeare.txt"]
        run.emu.clock.advance(3000 / 1500 * COOLDOWN_SECONDS + 1)
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        follow = (await sent.wait_reply(30)).messages[-1]
        sent = await run.emu.press(follow["id"], buttons(follow)["Delete"])
        await sent.wait_deleted(30)
        # Every message was an interaction's answer: no channel endpoint, so no channel permission.
        assert [call for call in run.emu.calls if call.path.startswith("/channels")] == []
