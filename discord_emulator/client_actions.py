"""What a person does in Discord's client besides typing a slash command: post a message, read
a channel, press a button, right-click a message or a person, watch autocomplete suggestions.

The Emulator inherits these; each checks what Discord's client would refuse (a message the person
cannot see, a disabled or link button, a hidden command) before anything reaches the bot.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import components, messages
from .commands import CommandRegistry, parse_autocomplete
from .errors import CommandInputError, NoResponse, UnknownMessage
from .installs import authorizing_owners, check_visible, interaction_payload
from .kinds import APPLICATION_COMMAND_AUTOCOMPLETE, MESSAGE_COMMAND, MESSAGE_COMPONENT, USER_COMMAND
from .models import GROUP_DM, SEND_MESSAGES, VIEW_CHANNEL, Channel, Guild, User, World
from .sent import SentInteraction


class PersonActions:
    """A person's acts in Discord's client, other than typing commands (see Emulator)."""

    world: World
    commands: CommandRegistry
    files: dict[str, bytes]

    if TYPE_CHECKING:
        async def send_raw_interaction(self, payload: dict[str, Any]) -> SentInteraction: ...

        async def send_interaction_data(
            self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
            guild_id: int | None = None, channel: Channel | None = None, integration_types: Any = None,
        ) -> SentInteraction: ...

        def interaction_payload(
            self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
            guild_id: int | None = None, kind: int = ..., channel: Channel | None = None,
            message: dict[str, Any] | None = None, integration_types: Any = None,
        ) -> dict[str, Any]: ...

    def _target(self, guild: bool, guild_id: int | None) -> Guild | None:
        if not guild:
            return None
        return self.world.guild if guild_id is None else self.world.guild_by_id(guild_id)

    # -- messages: people's, and what the channels hold --

    def post_message(
        self,
        content: str,
        *,
        user: str = "member",
        guild: bool = True,
        guild_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """`user` posts a message in the first text channel of the guild (the first one, or the
        one with `guild_id`) or, with `guild=False`, in their DM with the bot. `content` may hold
        mentions (<@id>, <@&id>, <#id>), custom emoji (<:name:id>), links and markdown;
        `attachments` is metadata such as [{"filename": "cat.png", "size": 1234}], so an
        image-only message can be made; an entry with `data` (bytes) is a file the CDN serves.
        Returns the message as Discord would (ids as strings, mentions resolved). A person's act:
        no REST call is recorded and the bot gets no event."""
        author = self.world.user(user)
        target = self._target(guild, guild_id)
        if target is None:
            channel, permissions = self.world.dm_channel(author), 0
        else:
            if author.id not in target.members:
                raise CommandInputError(f"{user} is not a member of {target.name}.")
            channel, permissions = target.default_channel, target.permissions_of(author.id)
            if permissions & (VIEW_CHANNEL | SEND_MESSAGES) != VIEW_CHANNEL | SEND_MESSAGES:
                raise CommandInputError(f"{user} may not send messages in #{channel.name}.")
        if not content and not attachments:
            raise CommandInputError("Discord's client does not send an empty message.")
        if len(content) > messages.MAX_CONTENT:
            raise CommandInputError(
                f"Your message is {len(content)} characters long; the limit is {messages.MAX_CONTENT}."
            )
        message = messages.person_message(
            self.world, message_id=self.world.snowflakes.next(), channel=channel, author=author,
            content=content, attachments=attachments, permissions=permissions,
        )
        return copy.deepcopy(self.world.messages.add(message))

    def message(self, message_id: int | str) -> dict[str, Any]:
        """The current state of any message (the bot's, ephemeral ones included, or a person's).
        Raises UnknownMessage if it never existed or was deleted."""
        message = self.world.messages.get(message_id)
        if message is None:
            if self.world.messages.was_deleted(message_id):
                raise UnknownMessage(f"message {message_id} was deleted")
            raise UnknownMessage(f"there is no message {message_id}")
        return copy.deepcopy(message)

    def channel_messages(self, channel_id: int | None = None) -> list[dict[str, Any]]:
        """The messages of a channel (default: the first guild's text channel), oldest first,
        deleted ones gone; ephemeral ones are included (their flags have 64)."""
        found = self.world.messages.in_channel(self.world.channel.id if channel_id is None else channel_id)
        return copy.deepcopy(found)

    def _located(self, message: dict[str, Any]) -> tuple[Channel, Guild | None]:
        channel = self.world.channel_by_id(int(message["channel_id"])) or self.world.channel
        return channel, self.world.guild_of(channel)

    def _check_can_see(self, message: dict[str, Any], sender: User) -> None:
        """Discord's client shows a message only to who can see it: members of its guild, the
        person of a DM, and for an ephemeral message the one it was sent to."""
        channel, guild = self._located(message)
        if guild is not None and sender.id not in guild.members:
            raise CommandInputError(f"{sender.username} is not in the guild of message {message['id']}.")
        if channel.type == GROUP_DM and all(person.id != sender.id for person in channel.members):
            raise CommandInputError(f"{sender.username} is not in the group DM of message {message['id']}.")
        if guild is None and channel.recipient is not None and channel.recipient.id != sender.id:
            raise CommandInputError(f"Message {message['id']} is in another person's DM with the bot.")
        if message["flags"] & messages.EPHEMERAL:
            owner = ((message.get("interaction_metadata") or {}).get("user") or {}).get("id")
            if owner != str(sender.id):
                raise CommandInputError(
                    f"Message {message['id']} is ephemeral: only the person it was sent to sees it."
                )

    def _existing(self, message_id: int | str, *, forge: bool) -> dict[str, Any] | None:
        message = self.world.messages.get(message_id)
        if message is None and not forge:
            gone = "was deleted" if self.world.messages.was_deleted(message_id) else "does not exist"
            raise CommandInputError(f"Message {message_id} {gone}.")
        return message

    # -- buttons, context menus, autocomplete --

    def component_payload(
        self, message_id: int | str, custom_id: str, *, user: str = "member", forge: bool = False
    ) -> dict[str, Any]:
        """The INTERACTION_CREATE body of a click on the button `custom_id` of a message; see
        press(). With `forge`, an unknown message is replaced by a made-up one holding the button."""
        sender = self.world.user(user)
        message = self._existing(message_id, forge=forge)
        if message is None:
            message = self._made_up_message(message_id, custom_id)
        button = next(
            (each for each in components.buttons(message) if each.get("custom_id") == custom_id), None
        )
        if not forge:
            if button is None:
                self._no_such_button(message, custom_id)
            assert button is not None
            if button.get("style") == components.LINK:
                raise CommandInputError(
                    f"{custom_id!r} is a link button: it opens a url, the bot hears nothing."
                )
            if button.get("disabled"):
                raise CommandInputError(f"The button {custom_id!r} is disabled.")
            self._check_can_see(message, sender)
        channel, guild = self._located(message)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": components.BUTTON}
        if button is not None and "id" in button:
            data["id"] = button["id"]
        place = guild if guild is None or sender.id in guild.members else None
        # A press is authorized by the installs that authorized the message's own interaction
        # (a user's install: that user's id, whoever presses); a message the bot posted in a
        # channel, by the server's install.
        made_by = (message.get("interaction_metadata") or {}).get("authorizing_integration_owners")
        return interaction_payload(
            self.world, data=data, user=sender, guild=place, kind=MESSAGE_COMPONENT, channel=channel,
            message=messages.seen_by_bot(self.world, message),
            owners=dict(made_by) if isinstance(made_by, dict) else None,
        )

    @staticmethod
    def _no_such_button(message: dict[str, Any], custom_id: str) -> None:
        """Why the client cannot click `custom_id` there: a link button (named by its label or
        url) sends nothing; otherwise the message's buttons, by custom_id and label."""
        for each in components.buttons(message):
            if custom_id in (each.get("label"), each.get("url")) and each.get("style") == components.LINK:
                raise CommandInputError(
                    f"{custom_id!r} is a link button: it opens {each.get('url')}, the bot hears nothing."
                )
        offered = ", ".join(
            f"{each.get('custom_id') or each.get('url')!r} ({each.get('label') or 'no label'})"
            for each in components.buttons(message)
        )
        raise CommandInputError(
            f"Message {message['id']} has no button {custom_id!r}; its buttons: {offered or 'none'}."
        )

    def _made_up_message(self, message_id: int | str, custom_id: str) -> dict[str, Any]:
        """A message by the bot that never existed, holding one button: for forged clicks."""
        digits = str(message_id).isdigit()
        button = {"type": components.BUTTON, "style": components.PRIMARY,
                  "custom_id": custom_id, "label": custom_id}
        return messages.build_message(
            self.world,
            message_id=int(message_id) if digits else self.world.snowflakes.next(),
            channel_id=self.world.channel.id,
            body={"components": [{"type": components.ACTION_ROW, "components": [button]}]},
            flags=0,
            interaction_metadata=None,
            in_guild=True,
            message_type=messages.DEFAULT,
        )

    async def press(
        self, message_id: int | str, custom_id: str, *, user: str = "member", forge: bool = False
    ) -> SentInteraction:
        """Click the button `custom_id` of a message as `user`: a MESSAGE_COMPONENT interaction
        carrying the message. Raises CommandInputError where Discord's client could not click:
        no such message (or deleted), no such button, a link or disabled button, a message the
        user cannot see (someone else's ephemeral message or DM). `forge=True` sends it anyway,
        with a made-up message for an unknown id."""
        return await self.send_raw_interaction(
            self.component_payload(message_id, custom_id, user=user, forge=forge)
        )

    async def send_message_command(
        self,
        name: str,
        target_message_id: int | str,
        *,
        user: str = "member",
        guild: bool = True,
        guild_id: int | None = None,
        forge: bool = False,
    ) -> SentInteraction:
        """Right-click a message -> Apps -> `name`, as `user`: an APPLICATION_COMMAND of type 3
        with `target_id` and the message in `resolved.messages`, sent from the message's channel.
        Raises CommandInputError when no such message command is registered there (or it is
        hidden from the user), or the message does not exist or is not where `guild`/`guild_id`
        say; `forge=True` sends it anyway."""
        sender = self.world.user(user)
        message = self._existing(target_message_id, forge=forge)
        if message is None:
            message = self._made_up_message(target_message_id, "none")
        channel, target_guild = self._located(message)
        if not forge:
            if guild != (target_guild is not None) or (
                guild_id is not None and (target_guild is None or target_guild.id != guild_id)
            ):
                where = "a DM" if target_guild is None else f"the guild {target_guild.id}"
                raise CommandInputError(f"Message {target_message_id} is in {where}.")
            self._check_can_see(message, sender)
        scope = None if target_guild is None else target_guild.id
        definition = self.commands.find(name, scope, MESSAGE_COMMAND)
        if definition is None and not forge:
            known = ", ".join(repr(each) for each in self.commands.names(scope, MESSAGE_COMMAND)) or "none"
            raise CommandInputError(f"No message command {name!r} here. Message commands: {known}.")
        if definition is not None and not forge:
            check_visible(self.world, definition, sender, target_guild, channel)
        data: dict[str, Any] = {
            "id": definition["id"] if definition else str(self.world.snowflakes.next()),
            "name": name,
            "type": MESSAGE_COMMAND,
            "target_id": message["id"],
            "resolved": {"messages": {message["id"]: copy.deepcopy(message)}},
        }
        if definition is not None and "guild_id" in definition:
            data["guild_id"] = definition["guild_id"]
        place = target_guild if target_guild is None or sender.id in target_guild.members else None
        types = definition.get("integration_types") if definition else None
        payload = interaction_payload(
            self.world, data=data, user=sender, guild=place,
            channel=channel, owners=authorizing_owners(self.world, sender, place, channel, types),
        )
        return await self.send_raw_interaction(payload)

    async def send_user_command(
        self, name: str, target_user: str, *, user: str = "member", guild: bool = True,
        guild_id: int | None = None,
    ) -> SentInteraction:
        """Right-click a person -> Apps -> `name`: an APPLICATION_COMMAND of type 2 with
        `target_id` and the person in `resolved.users` (and `members` in a guild)."""
        sender, target = self.world.user(user), self.world.user(target_user)
        place = self._target(guild, guild_id)
        definition = self.commands.find(name, None if place is None else place.id, USER_COMMAND)
        if definition is None:
            raise CommandInputError(f"No user command {name!r} here.")
        check_visible(self.world, definition, sender, place)
        resolved: dict[str, Any] = {"users": {str(target.id): target.to_dict()}}
        if place is not None and target.id in place.members:
            member = place.members[target.id].to_dict(place.permissions_of(target.id))
            del member["user"]
            resolved["members"] = {str(target.id): member}
        data: dict[str, Any] = {
            "id": definition["id"], "name": name, "type": USER_COMMAND, "target_id": str(target.id),
            "resolved": resolved,
        }
        if "guild_id" in definition:
            data["guild_id"] = definition["guild_id"]
        return await self.send_interaction_data(data, user=user, guild=guild, guild_id=guild_id,
                                                integration_types=definition.get("integration_types"))

    async def autocomplete_interaction(
        self, command: str, *, user: str = "member", guild: bool = True, guild_id: int | None = None,
    ) -> SentInteraction:
        """Send the APPLICATION_COMMAND_AUTOCOMPLETE interaction Discord's client sends while
        `user` types `command` (the last option is the focused one); see autocomplete()."""
        sender = self.world.user(user)
        target = self._target(guild, guild_id)
        parsed = parse_autocomplete(
            self.world, self.commands, command, guild_id=None if target is None else target.id
        )
        check_visible(self.world, parsed.definition, sender, target)
        payload = self.interaction_payload(
            parsed.data, user=user, guild=guild, guild_id=guild_id, kind=APPLICATION_COMMAND_AUTOCOMPLETE,
            integration_types=parsed.definition.get("integration_types"),
        )
        return await self.send_raw_interaction(payload)

    async def autocomplete(
        self, command: str, *, user: str = "member", guild: bool = True, timeout: float = 10.0,
        guild_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """`user` is typing `command`, e.g. "/generate seed:RO": the bot's suggestions for the
        last option (callback 8's `choices`, each {"name", "value"}). Raises NoResponse when the
        bot does not answer within Discord's 3 s (or `timeout`), or at once when Discord refused
        its answer (the error is in the message and in `sent.record.refused`)."""
        sent = await self.autocomplete_interaction(command, user=user, guild=guild, guild_id=guild_id)
        record = sent.record
        try:
            await sent._wait(lambda: record.acked_at is not None or bool(record.refused), timeout)
        except TimeoutError:
            raise NoResponse(f"interaction {record.id}: no choices within {timeout:g} s") from None
        if record.acked_at is None:
            raise NoResponse(
                f"interaction {record.id}: Discord refused the bot's choices: {record.refused[-1]}"
            )
        return copy.deepcopy(record.autocomplete_choices or [])

    def attachment_data(self, attachment: dict[str, Any]) -> bytes:
        """The bytes of a file behind an attachment (one the bot uploaded, or attached to a
        command), as the CDN serves them at its url."""
        try:
            return self.files[str(attachment["id"])]
        except KeyError:
            raise UnknownMessage(f"no uploaded file behind attachment {attachment.get('id')!r}") from None
