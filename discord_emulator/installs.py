"""Who authorized an interaction and where: the app's installs (the server's, a user's own), the
interaction context of a place, and the INTERACTION_CREATE body built from them.

https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object
"""

from __future__ import annotations

import secrets
from typing import Any

from .errors import CommandHiddenError, CommandInputError
from .kinds import APPLICATION_COMMAND, ATTACHMENT_SIZE_LIMIT, CHAT_INPUT
from .models import (
    ATTACH_FILES,
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    CONTEXT_PRIVATE_CHANNEL,
    DM_PERMISSIONS,
    EMBED_LINKS,
    GROUP_DM,
    GUILD_INSTALL,
    MENTION_EVERYONE,
    PRIVATE_CHANNEL_PERMISSIONS,
    USE_EXTERNAL_APPS,
    USE_EXTERNAL_EMOJIS,
    USER_INSTALL,
    Channel,
    Guild,
    User,
    World,
    permission_names,
)

# "For apps without a bot user ... the same as the permissions for @everyone, but limited to the
# permissions that can be used in interaction responses" (change-log: app_permissions in
# interactions): what a user's install may do in a server the bot is not in.
USER_INSTALL_PERMISSIONS = ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE | USE_EXTERNAL_EMOJIS


def context_of(guild: Guild | None, channel: Channel | None) -> int:
    """The interaction context type of a place: a server, the DM with the bot, or a private
    channel (a group DM, or a DM between people) where only a user's install reaches."""
    if guild is not None:
        return CONTEXT_GUILD
    return CONTEXT_PRIVATE_CHANNEL if channel is not None and channel.type == GROUP_DM else CONTEXT_BOT_DM


def authorizing_owners(
    world: World, user: User, guild: Guild | None, channel: Channel | None, integration_types: Any,
) -> dict[str, str]:
    """authorizing_integration_owners: which installs of the app, among those a command supports
    (`integration_types`), let `user` use it there. The server's install counts in a server the
    bot is in ("0": the guild id) and in the DM with the bot ("0": "0"); the user's own install
    counts everywhere ("1": their id)."""
    types = integration_types if isinstance(integration_types, list) else [GUILD_INSTALL]
    owners: dict[str, str] = {}
    if GUILD_INSTALL in types:
        if guild is not None and guild.has_member(world.bot.id):
            owners[str(GUILD_INSTALL)] = str(guild.id)
        elif context_of(guild, channel) == CONTEXT_BOT_DM:
            owners[str(GUILD_INSTALL)] = "0"
    if USER_INSTALL in types and user.id in world.user_installs:
        owners[str(USER_INSTALL)] = str(user.id)
    return owners


def user_install_only(owners: dict[str, Any]) -> bool:
    """Only the user's own install authorized it: the app is not a member where it was used."""
    return str(USER_INSTALL) in owners and str(GUILD_INSTALL) not in owners


def interaction_payload(
    world: World,
    *,
    data: dict[str, Any],
    interaction_id: int | None = None,
    user: User,
    guild: Guild | None,
    kind: int = APPLICATION_COMMAND,
    channel: Channel | None = None,
    message: dict[str, Any] | None = None,
    owners: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The INTERACTION_CREATE body Discord sends for an interaction of type `kind` by `user` in
    `channel` (by default `guild`'s first channel, or their DM with the bot when `guild` is None;
    a group DM when `channel` is one); `message` is the message a component is on. `owners` is
    its authorizing_integration_owners (by default: the server's install, where there is one)."""
    if owners is None:
        owners = authorizing_owners(world, user, guild, channel, [GUILD_INSTALL])
    if interaction_id is None:
        interaction_id = world.snowflakes.next()
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": kind,
        "data": data,
        "token": f"aW50ZXJhY3Rpb246{interaction_id}:{secrets.token_urlsafe(96)}",
        "version": 1,
        "locale": user.locale,  # the language the user's Discord client is set to
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "authorizing_integration_owners": owners,
        "context": context_of(guild, channel),
    }
    if guild is not None:
        channel = channel or guild.default_channel
        if guild.has_member(world.bot.id):
            app_permissions = guild.permissions_of(world.bot.id)
        else:  # only a user's install: @everyone's permissions, as far as a response can use them
            app_permissions = guild.roles[guild.id].permissions & USER_INSTALL_PERMISSIONS
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            channel=channel.to_dict(),
            channel_id=str(channel.id),
            member=guild.members[user.id].to_dict(guild.permissions_of(user.id)),
            app_permissions=str(app_permissions),
        )
    else:
        channel = channel or world.dm_channel(user)
        private = channel.type == GROUP_DM
        payload.update(
            channel=channel.to_dict(),
            channel_id=str(channel.id),
            user=user.to_dict(),
            app_permissions=str(PRIVATE_CHANNEL_PERMISSIONS if private else DM_PERMISSIONS),
        )
    if message is not None:
        payload["message"] = message
    return payload


def forced_ephemeral(payload: dict[str, Any]) -> bool:
    """A server that turned off Use External Apps for a member sees only ephemeral answers from
    apps that are not in the server (USE_EXTERNAL_APPS in Discord's permissions)."""
    owners = payload.get("authorizing_integration_owners") or {}
    member = payload.get("member")
    if not user_install_only(owners) or not isinstance(member, dict):
        return False
    return not int(member.get("permissions") or 0) & USE_EXTERNAL_APPS


def check_visible(
    world: World, definition: dict[str, Any], user: User, guild: Guild | None, channel: Channel | None = None,
) -> None:
    """Discord's client offers a command only where one of the app's installs that the command
    supports reaches (the server's, the user's own), in the contexts the command allows, and
    hides it from members without its default permissions; it never sends the others."""
    if definition.get("type", CHAT_INPUT) == CHAT_INPUT:
        name = f"/{definition['name']}"
    else:
        name = f"The app command {definition['name']!r}"
    context = context_of(guild, channel)
    if guild is None and context == CONTEXT_BOT_DM and definition.get("dm_permission") is False:
        raise CommandInputError(f"{name} is not available in direct messages.")
    if guild is None and "guild_id" in definition:
        raise CommandInputError(f"{name} is not available in direct messages.")
    contexts = definition.get("contexts")
    if contexts is not None and context not in contexts:
        place = {CONTEXT_GUILD: "in servers", CONTEXT_BOT_DM: "in direct messages",
                 CONTEXT_PRIVATE_CHANNEL: "in group DMs"}[context]
        raise CommandInputError(f"{name} is not available {place}.")
    owners = authorizing_owners(world, user, guild, channel, definition.get("integration_types"))
    if not owners:
        if guild is not None and not guild.has_member(world.bot.id):
            where = f"{guild.name}, a server without the app,"
        else:
            where = "a group DM," if context == CONTEXT_PRIVATE_CHANNEL else "there"
        raise CommandInputError(
            f"{name} cannot be used in {where} unless {user.username} adds the app to their account "
            "and the command allows that."
        )
    required = definition.get("default_member_permissions")
    if guild is not None and required is not None:
        missing = int(required) & ~guild.permissions_of(user.id)
        if missing:
            raise CommandHiddenError(
                f"{name} is hidden from {user.username}, who lacks {permission_names(missing)}."
            )
