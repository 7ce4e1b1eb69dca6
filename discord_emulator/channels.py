"""Messages in channels: what the bot posts, reads, edits and deletes there, and people's messages.

https://discord.com/developers/docs/resources/message. The bot is a member of every guild here,
with View Channel, Send Messages and Read Message History but not Manage Messages (models.py); in
a DM with a person it may post and read, and delete only its own messages.
"""

from __future__ import annotations

from typing import Any

from . import messages
from .errors import (
    DiscordError,
    cannot_act_in_dm,
    cannot_edit_others_message,
    invalid_form_body,
    missing_access,
    missing_permissions,
    unknown_channel,
    unknown_message,
)
from .models import (
    DM,
    GROUP_DM,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    World,
)


class ChannelMessages:
    """The rules of POST/GET/PATCH/DELETE /channels/{channel_id}/messages[/{message_id}]."""

    def __init__(self, world: World) -> None:
        self._world = world

    def channel(self, channel_id: str, *permissions: int) -> Channel:
        """The channel, if the bot can see it and (in a guild) holds `permissions` there."""
        world = self._world
        channel = world.channel_by_id(int(channel_id)) if channel_id.isdigit() else None
        if channel is None:
            raise unknown_channel()
        if channel.type == GROUP_DM:
            raise missing_access()  # a group DM between people: the bot is not in it
        guild = world.guild_of(channel)
        if guild is not None:
            if not guild.has_member(world.bot.id):
                raise missing_access()  # a server that never added the bot (a user's install)
            held = guild.permissions_of(world.bot.id)
            if not held & VIEW_CHANNEL:
                raise missing_access()
            for permission in permissions:
                if not held & permission:
                    raise missing_permissions()
        return channel

    def message(self, channel: Channel, message_id: str) -> dict[str, Any]:
        """A message of that channel; ephemeral ones do not exist for this API."""
        message = self._world.messages.get(message_id) if message_id.isdigit() else None
        if message is None or message["channel_id"] != str(channel.id):
            raise unknown_message()
        if message["flags"] & messages.EPHEMERAL:
            raise unknown_message()
        return message

    def create(self, channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
        world = self._world
        channel = self.channel(channel_id, SEND_MESSAGES)
        messages.check_body(body)
        referenced, reference_id = self._reference(channel, body.get("message_reference"))
        message = messages.build_message(
            world,
            message_id=world.snowflakes.next(),
            channel_id=channel.id,
            body=body,
            flags=(body.get("flags") or 0) & messages.CHANNEL_SETTABLE_FLAGS,
            interaction_metadata=None,
            in_guild=channel.type != DM,
            message_type=messages.DEFAULT if reference_id is None else messages.REPLY,
            reference_id=reference_id,
            referenced=referenced,
        )
        messages.require_not_empty(message)
        messages.ping_replied_user(world, message, body.get("allowed_mentions"))
        return world.messages.add(message)

    def _reference(
        self, channel: Channel, reference: dict[str, Any] | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The message a reply answers, and its id; (None, None) for no reply. A reply must
        answer a message of its own channel; with `fail_if_not_exists: false` an unknown one
        turns it into a plain message, as on Discord."""
        if not reference:
            return None, None
        if reference.get("type") not in (None, 0):
            raise invalid_form_body(
                ["message_reference", "type"], "EMULATOR_UNSUPPORTED", "Forwards are not emulated here"
            )
        message_id = str(reference.get("message_id") or "")
        target = self._world.messages.get(message_id) if message_id.isdigit() else None
        in_channel = reference.get("channel_id") is None or str(reference["channel_id"]) == str(channel.id)
        if (
            target is None or not in_channel or target["channel_id"] != str(channel.id)
            or target["flags"] & messages.EPHEMERAL
        ):
            if reference.get("fail_if_not_exists") is False:
                return None, None
            raise invalid_form_body(
                ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
        return target, message_id

    def get(self, channel_id: str, message_id: str) -> dict[str, Any]:
        return self.message(self.channel(channel_id, READ_MESSAGE_HISTORY), message_id)

    def edit(self, channel_id: str, message_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Only the author edits content, embeds and components (and SUPPRESS_EMBEDS)."""
        world = self._world
        channel = self.channel(channel_id)
        message = self.message(channel, message_id)
        if message["author"]["id"] != str(world.bot.id):
            raise cannot_edit_others_message()
        messages.check_body(body, flags=message["flags"])
        edited = dict(message)
        messages.apply_body(world, edited, body, channel.type != DM)
        if body.get("flags") is not None:
            kept = message["flags"] & ~messages.SUPPRESS_EMBEDS
            edited["flags"] = kept | (body["flags"] & (messages.SUPPRESS_EMBEDS | messages.IS_COMPONENTS_V2))
        messages.require_not_empty(edited)
        edited["edited_timestamp"] = world.clock.utcnow().isoformat()
        message.clear()
        message.update(edited)
        world.messages.changed(message_id)
        return message

    def delete(self, channel_id: str, message_id: str) -> None:
        """The bot's own messages always; others' only with Manage Messages, never in a DM."""
        world = self._world
        channel = self.channel(channel_id)
        message = self.message(channel, message_id)
        if message["author"]["id"] != str(world.bot.id):
            guild = world.guild_of(channel)
            if guild is None:
                raise cannot_act_in_dm()
            if not guild.permissions_of(world.bot.id) & MANAGE_MESSAGES:
                raise missing_permissions()
        world.messages.delete(message_id)

    def open_dm(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /users/@me/channels: the bot's DM channel with a person."""
        recipient = str(body.get("recipient_id") or "")
        user = self._world.user_by_id(int(recipient)) if recipient.isdigit() else None
        if user is None or user.id == self._world.bot.id:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        return self._world.dm_channel(user).to_dict()
