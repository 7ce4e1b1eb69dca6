"""Installs of the app to a server and to a person's account, and the three interaction contexts,
against the real discord.py client: what the gateway announces, who authorized an interaction, and
what an app may do where it is not a member."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from discord_emulator import CommandInputError, Emulator
from discord_emulator.models import (
    ATTACH_FILES,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    MENTION_EVERYONE,
    USE_EXTERNAL_APPS,
    USE_EXTERNAL_EMOJIS,
)
from tests.emulator.harness import InstallsClient, assert_clean, connect_bare_client, http_errors


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[InstallsClient]:
    emu.world.add_guild("Elsewhere", with_bot=False)  # before the bot connects, like any guild
    async with connect_bare_client(emu, InstallsClient) as bot:
        yield bot  # type: ignore[misc]


def elsewhere(emu: Emulator):
    return next(guild for guild in emu.world.guilds.values() if guild.name == "Elsewhere")


async def test_a_server_without_the_bot_is_never_announced(emu: Emulator, client: InstallsClient) -> None:
    assert [guild.id for guild in client.guilds] == [emu.world.guild.id]
    assert emu.world.application_dict()["approximate_guild_count"] == 1


async def test_only_a_users_install_reaches_a_server_without_the_bot(emu: Emulator, client) -> None:
    guild = elsewhere(emu)
    with pytest.raises(CommandInputError, match="unless member adds the app"):
        await emu.send_command("/anywhere", user="member", guild_id=guild.id)
    member = emu.world.install_for("member")
    sent = await emu.send_command("/anywhere", user="member", guild_id=guild.id)
    payload = sent.payload
    assert payload["authorizing_integration_owners"] == {"1": str(member.id)} and payload["context"] == 0
    assert int(payload["app_permissions"]) == ATTACH_FILES | EMBED_LINKS | USE_EXTERNAL_EMOJIS
    assert (await sent.wait_reply(5)).content == "owners=True"
    # A command for server installs only is not offered there, installed or not.
    with pytest.raises(CommandInputError, match="a server without the app"):
        await emu.send_command("/echo text:hi", user="member", guild_id=guild.id)
    # In the bot's own server both installs authorize it.
    both = await emu.send_command("/anywhere", user="member")
    owners = both.payload["authorizing_integration_owners"]
    assert owners == {"0": str(emu.world.guild.id), "1": str(member.id)}
    assert_clean(emu)


async def test_a_users_install_in_a_server_has_everyones_permissions_for_responses_only(
    emu: Emulator, client
) -> None:
    """Where only a user's install reaches, app_permissions are @everyone's, limited to what an
    interaction response can use: ATTACH_FILES, EMBED_LINKS, MENTION_EVERYONE, USE_EXTERNAL_EMOJIS
    (change-log, app_permissions in interactions). Not the user's own: the admin's Manage
    Messages and Mention Everyone do not pass to the app."""
    guild = elsewhere(emu)
    emu.world.install_for("admin")
    sent = await emu.send_command("/anywhere", user="admin", guild_id=guild.id)
    held = int(sent.payload["app_permissions"])
    assert guild.permissions_of(emu.world.user("admin").id) & (MANAGE_MESSAGES | MENTION_EVERYONE)
    assert held == ATTACH_FILES | EMBED_LINKS | USE_EXTERNAL_EMOJIS
    answered = await (await emu.send_command("/file", user="admin", guild_id=guild.id)).wait_reply(5)
    assert answered.message["attachments"]
    # @everyone may not attach files there: neither may the app, whatever the admin may do.
    guild.roles[guild.id].permissions &= ~ATTACH_FILES
    refused = await emu.send_command("/file", user="admin", guild_id=guild.id)
    assert not int(refused.payload["app_permissions"]) & ATTACH_FILES
    assert await http_errors(client) == [(403, 50013)]
    # In the bot's own server, the bot's role decides.
    emu.world.guild.roles[emu.world.guild.id].permissions &= ~ATTACH_FILES
    client.errors.clear()
    kept = await (await emu.send_command("/file", user="admin")).wait_reply(5)
    assert kept.message["attachments"] and client.errors == []


async def test_an_app_that_is_not_a_member_cannot_post_in_the_channel(emu: Emulator, client) -> None:
    guild = elsewhere(emu)
    emu.world.install_for("member")
    sent = await emu.send_command("/post", user="member", guild_id=guild.id)
    await sent.wait_ack(5)
    assert await http_errors(client) == [(403, 50001)]


async def test_five_follow_ups_at_most_where_only_a_users_install_authorized(emu: Emulator, client) -> None:
    guild = elsewhere(emu)
    emu.world.install_for("member")
    sent = await emu.send_command("/anywhere more:6", user="member", guild_id=guild.id)
    assert await http_errors(client) == [(400, 40094)]
    assert len(sent.record.followups) == 5
    # In the bot's own server the limit does not apply.
    client.errors.clear()
    plenty = await emu.send_command("/anywhere more:6", user="member")
    await plenty.wait_reply(5)
    for _ in range(100):
        if len(plenty.record.followups) == 6:
            break
        await asyncio.sleep(0.02)
    assert len(plenty.record.followups) == 6 and client.errors == []


async def test_group_dms_and_the_servers_external_apps_switch(emu: Emulator, client) -> None:
    member = emu.world.install_for("member")
    group = emu.world.group_dm("member", "admin", name="friends")
    sent = await emu.send_command("/anywhere", user="member", guild=False, channel=group)
    assert sent.payload["context"] == 2  # PRIVATE_CHANNEL
    assert sent.payload["authorizing_integration_owners"] == {"1": str(member.id)}
    assert int(sent.payload["app_permissions"]) & ATTACH_FILES
    assert not (await sent.wait_reply(5)).ephemeral
    guild = elsewhere(emu)
    guild.roles[guild.id].permissions &= ~USE_EXTERNAL_APPS
    private = await (await emu.send_command("/anywhere", user="member", guild_id=guild.id)).wait_reply(5)
    assert private.ephemeral  # the server turned public answers from outside apps off
