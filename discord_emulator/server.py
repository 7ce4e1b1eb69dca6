"""The emulator: Discord's REST API and gateway on one loopback port, and a driver for tests.

    emu = Emulator()
    await emu.start()                      # api_base http://127.0.0.1:PORT/api/v10, gateway ws://...
    env = emu.bot_env()                    # DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL
    ...start the bot with env...
    await emu.wait_until_ready(timeout=60)
    sent = await emu.send_command("/echo text:hello", user="member")
    reply = await sent.wait_reply(timeout=30)
    pressed = await emu.press(reply.message["id"], "again")        # click a button under it
    posted = emu.post_message("To be or not <@123...>")             # a person's message
    await emu.send_message_command("Quote", posted["id"])          # right-click it -> Apps
    choices = await emu.autocomplete("/echo text:hel")             # the bot's suggestions
"""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import Any

from aiohttp import web

from . import messages
from .commands import (
    CHAT_INPUT,
    MESSAGE_COMMAND,
    USER_COMMAND,
    CommandRegistry,
    Upload,
    parse_autocomplete,
    parse_command,
)
from .contract import ContractChecker, locate_spec
from .errors import CommandHiddenError, CommandInputError, NoResponse, UnknownMessage
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    ATTACHMENT_SIZE_LIMIT,
    MESSAGE_COMPONENT,
    InteractionRecord,
    Rules,
    SentInteraction,
    authorizing_owners,
    context_of,
    interaction_payload,
)
from .models import (
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    CONTEXT_PRIVATE_CHANNEL,
    GROUP_DM,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Cast,
    Channel,
    Clock,
    Guild,
    User,
    World,
    permission_names,
)
from .recorder import Faults, RecordedCall, Recorder
from .rest import API_PREFIX, RestApi


class Emulator:
    """A local Discord for one application, its guild and any guilds a test adds; see the module
    docstring."""

    def __init__(self, *, heartbeat_interval_ms: int = 41_250, validate: bool = True,
                 cast: Cast | None = None) -> None:
        """With `validate`, traffic is checked against Discord's OpenAPI description, if found;
        `cast` names the application, guild, channel and people (neutral names by default)."""
        self.clock = Clock()
        self.rules = Rules()
        self.world = World(self.clock, cast=cast)
        self.commands = CommandRegistry(self.world)
        self.recorder = Recorder()
        self.faults = Faults()
        self.contract = ContractChecker(locate_spec() if validate else None)
        self.gateway = Gateway(self.world, heartbeat_interval_ms=heartbeat_interval_ms)
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        # The bytes behind attachments, by attachment id: the bot's uploads and files attached to
        # commands; served at their urls (`cdn_base`; world.cdn serves them and logs `requests`).
        self.files: dict[str, bytes] = self.world.cdn.files
        self._runner: web.AppRunner | None = None
        self.api_base = ""
        self.cdn_base = ""

    # -- life cycle --

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, str]:
        """Listen on host:port (0 picks a free port); returns (api_base, gateway_url)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        # The gateway and the CDN come first: the REST table ends with a catch-all for unknown endpoints.
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/cdn/{path:.*}", self.world.cdn.handle)
        app.add_routes(RestApi(self).routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.api_base = f"http://{host}:{bound_port}/api/v10"
        self.gateway.url = f"ws://{host}:{bound_port}/gateway"
        self.cdn_base = f"http://{host}:{bound_port}/cdn"
        self.world.cdn.serve_at(self.cdn_base)
        return self.api_base, self.gateway.url

    async def add_address(self, host: str = "127.0.0.1") -> str:
        """Serve the same API on one more port, and return its API base.

        Each call records the port it came in on (RecordedCall.port): bot processes given
        different addresses can be told apart, as each of a bot's hosts reaches Discord from its own."""
        assert self._runner is not None, "start the emulator first"
        listener = socket.create_server((host, 0))
        await web.SockSite(self._runner, listener).start()
        return f"http://{host}:{listener.getsockname()[1]}{API_PREFIX}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self.gateway.drop(code=1001)
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def gateway_url(self) -> str:
        return self.gateway.url

    def bot_env(self) -> dict[str, str]:
        """The environment that points an unmodified bot at this emulator; DISCORD_CDN_URL is where
        attachments are served (Discord's is https://cdn.discordapp.com)."""
        return {
            "DISCORD_TOKEN": self.world.token,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway.url,
            "DISCORD_CDN_URL": self.cdn_base,
        }

    async def wait_until_ready(self, timeout: float = 60.0, *, identifies: int = 1) -> None:
        """Until commands are synced, `identifies` IDENTIFYs have arrived in all (a restarted bot
        adds one per shard) and every shard of the bot is connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.commands.syncs == 0 or self.gateway.identifies < identifies:
            if loop.time() > deadline:
                raise TimeoutError(
                    f"the bot did not sync commands and connect within {timeout:g} s "
                    f"(syncs: {self.commands.syncs}, identifies: {self.gateway.identifies})"
                )
            await asyncio.sleep(0.05)
        await self.gateway.wait_connected(max(0.0, deadline - loop.time()))

    # -- sending interactions, as a person in Discord's client would --

    async def send_command(
        self,
        command: str,
        *,
        user: str = "admin",
        guild: bool = True,
        options: dict[str, Any] | None = None,
        forge: bool = False,
        guild_id: int | None = None,
        channel: Channel | None = None,
        files: dict[str, tuple[str, bytes] | tuple[str, bytes, str | None]] | None = None,
        resolved: dict[str, dict[str, Any]] | None = None,
    ) -> SentInteraction:
        """Type `command` (e.g. "/settings temperature value:1.2") as `user`, in a guild (the first
        one, or the one with `guild_id`) or, with `guild=False`, in a DM with the bot (or in
        `channel`, a group DM from world.group_dm).

        `files` attaches files to attachment options, {"file": ("lore.txt", b"...", "text/plain")}
        (the content type may be left out: guessed from the name, as Discord does); typing
        `file:path/to/lore.txt` attaches that local file. Each becomes an attachment served by
        the CDN (emu.files, cdn_base), its id the option's value and its object in
        data.resolved.attachments.

        Raises CommandInputError where Discord's client would refuse: unknown command, bad value,
        missing option, a file larger than the interaction's attachment_size_limit, a command
        hidden from this user or not usable there (no install of the app reaches that place, or
        the command's contexts leave it out). `forge=True` sends it anyway, typed as best it can
        be, as a hand-made request to the bot would; only then may `resolved` add entries of its
        own to data.resolved (e.g. {"attachments": {"123": {...}}} for options={"file": "123"}).
        """
        if resolved is not None and not forge:
            raise ValueError("resolved= makes a forged request: pass forge=True as well")
        sender = self.world.user(user)
        target = self._target(guild, guild_id)
        place = channel or (target.default_channel if target is not None else self.world.dm_channel(sender))
        uploads = {name: Upload(*given) for name, given in (files or {}).items()}
        parsed = parse_command(
            self.world, self.commands, command, guild_id=None if target is None else target.id,
            options=options, forge=forge, files=uploads, channel_id=place.id,
            size_limit=ATTACHMENT_SIZE_LIMIT, resolved=resolved,
        )
        if not forge:
            self._check_visible(parsed.definition, sender, target, channel)
        for attachment_id, upload in parsed.uploads.items():
            attachment = parsed.data["resolved"]["attachments"][attachment_id]
            self.world.cdn.store(attachment_id, upload.data, attachment.get("content_type"))
        return await self.send_interaction_data(
            parsed.data, user=user, guild=guild, guild_id=guild_id, channel=channel,
            integration_types=parsed.definition.get("integration_types") if parsed.definition else None,
        )

    def _target(self, guild: bool, guild_id: int | None) -> Guild | None:
        if not guild:
            return None
        return self.world.guild if guild_id is None else self.world.guild_by_id(guild_id)

    def _check_visible(
        self, definition: dict[str, Any], user: User, guild: Guild | None, channel: Channel | None = None,
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
        owners = authorizing_owners(self.world, user, guild, channel, definition.get("integration_types"))
        if not owners:
            if guild is not None and not guild.has_member(self.world.bot.id):
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

    async def send_interaction_data(
        self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
        guild_id: int | None = None, channel: Channel | None = None, integration_types: Any = None,
    ) -> SentInteraction:
        """Send an application command whose `data` (name, options...) is given verbatim."""
        payload = self.interaction_payload(data, user=user, guild=guild, guild_id=guild_id, channel=channel,
                                           integration_types=integration_types)
        return await self.send_raw_interaction(payload)

    def interaction_payload(
        self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
        guild_id: int | None = None, kind: int = APPLICATION_COMMAND, channel: Channel | None = None,
        message: dict[str, Any] | None = None, integration_types: Any = None,
    ) -> dict[str, Any]:
        """A complete INTERACTION_CREATE body, for tests that then tamper with it: an application
        command by default, or another `kind` (3 component, with the `message` it is on; 4
        autocomplete), from the guild's first channel or the user's DM unless `channel` says.
        `integration_types` are the command's (who may have authorized it); by default the
        server's install only."""
        sender, target = self.world.user(user), self._target(guild, guild_id)
        return interaction_payload(
            self.world,
            interaction_id=self.world.snowflakes.next(),
            data=data,
            user=sender,
            guild=target,
            kind=kind,
            channel=channel,
            message=message,
            owners=authorizing_owners(self.world, sender, target, channel, integration_types),
        )

    async def send_raw_interaction(self, payload: dict[str, Any]) -> SentInteraction:
        """Dispatch any INTERACTION_CREATE body (type 2, 3 or 4...); the 3 s window starts now. A
        type 3 payload's `message.id` names the message callback 7 and @original then change."""
        user_data = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        user = self.world.user_by_id(int(user_data.get("id", 0))) or self.world.user("member")
        channel_id = int(payload.get("channel_id") or self.world.channel.id)
        raw_message = payload.get("message")
        target_id = None
        if isinstance(raw_message, dict) and str(raw_message.get("id", "")).isdigit():
            target_id = int(raw_message["id"])
        store = self.world.messages
        record = InteractionRecord(
            id=int(payload["id"]),
            token=str(payload["token"]),
            payload=payload,
            user=user,
            in_guild="guild_id" in payload,
            channel_id=channel_id,
            created_at=self.clock.now(),
            kind=int(payload.get("type") or APPLICATION_COMMAND),
            store=store,
            target_message_id=target_id,
            target_version=0 if target_id is None else store.version(target_id),
        )
        if target_id is not None:
            store.watch(target_id, record._notify)
        self.interactions[record.id] = record
        self.interactions_by_token[record.token] = record
        guild_id = int(payload["guild_id"]) if "guild_id" in payload else None
        # With no session for its shard it is lost, as on Discord: wait_reply raises NoResponse.
        await self.gateway.dispatch_for_guild(guild_id, "INTERACTION_CREATE", payload)
        return SentInteraction(record, self.rules, self.clock.now)

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
            (each for each in messages.buttons(message) if each.get("custom_id") == custom_id), None
        )
        if not forge:
            if button is None:
                self._no_such_button(message, custom_id)
            assert button is not None
            if button.get("style") == messages.LINK:
                raise CommandInputError(
                    f"{custom_id!r} is a link button: it opens a url, the bot hears nothing."
                )
            if button.get("disabled"):
                raise CommandInputError(f"The button {custom_id!r} is disabled.")
            self._check_can_see(message, sender)
        channel, guild = self._located(message)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": messages.BUTTON}
        if button is not None and "id" in button:
            data["id"] = button["id"]
        place = guild if guild is None or sender.id in guild.members else None
        # A press is authorized by the installs that authorized the message's own interaction
        # (a user's install: that user's id, whoever presses); a message the bot posted in a
        # channel, by the server's install.
        made_by = (message.get("interaction_metadata") or {}).get("authorizing_integration_owners")
        return interaction_payload(
            self.world,
            interaction_id=self.world.snowflakes.next(),
            data=data,
            user=sender,
            guild=place,
            kind=MESSAGE_COMPONENT,
            channel=channel,
            message=messages.seen_by_bot(self.world, message),
            owners=dict(made_by) if isinstance(made_by, dict) else None,
        )

    @staticmethod
    def _no_such_button(message: dict[str, Any], custom_id: str) -> None:
        """Why the client cannot click `custom_id` there: a link button (named by its label or
        url) sends nothing; otherwise the message's buttons, by custom_id and label."""
        for each in messages.buttons(message):
            if custom_id in (each.get("label"), each.get("url")) and each.get("style") == messages.LINK:
                raise CommandInputError(
                    f"{custom_id!r} is a link button: it opens {each.get('url')}, the bot hears nothing."
                )
        offered = ", ".join(
            f"{each.get('custom_id') or each.get('url')!r} ({each.get('label') or 'no label'})"
            for each in messages.buttons(message)
        )
        raise CommandInputError(
            f"Message {message['id']} has no button {custom_id!r}; its buttons: {offered or 'none'}."
        )

    def _made_up_message(self, message_id: int | str, custom_id: str) -> dict[str, Any]:
        """A message by the bot that never existed, holding one button: for forged clicks."""
        digits = str(message_id).isdigit()
        button = {
            "type": messages.BUTTON, "style": messages.PRIMARY, "custom_id": custom_id, "label": custom_id,
        }
        return messages.build_message(
            self.world,
            message_id=int(message_id) if digits else self.world.snowflakes.next(),
            channel_id=self.world.channel.id,
            body={"components": [{"type": messages.ACTION_ROW, "components": [button]}]},
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
            self._check_visible(definition, sender, target_guild, channel)
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
            self.world, interaction_id=self.world.snowflakes.next(), data=data, user=sender, guild=place,
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
        self._check_visible(definition, sender, place)
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
        self._check_visible(parsed.definition, sender, target)
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

    # -- faults --

    def inject_429(
        self, pattern: str, retry_after: float, count: int = 1, *, is_global: bool = False
    ) -> None:
        """Answer the next `count` calls matching "METHOD /path" (shell pattern) with a 429."""
        self.faults.add_rate_limit(pattern, retry_after, count, is_global)

    async def drop_gateway(self, code: int | None = None, *, resumable: bool = True) -> int:
        """Cut the bot's gateway connections (TCP reset, or a close frame with `code`); with
        `resumable=False` its RESUME is refused with INVALID_SESSION. Returns how many."""
        return await self.gateway.drop(code, resumable=resumable)

    # -- what happened --

    @property
    def calls(self) -> list[RecordedCall]:
        return self.recorder.calls

    def rejected_calls(self) -> list[RecordedCall]:
        """Calls Discord would have refused (4xx/5xx), leaving out the faults a test injected."""
        return [call for call in self.calls if call.status >= 400 and not call.injected]

    def contract_violations(self) -> list[str]:
        """Everything the OpenAPI description found wrong, requests and responses alike."""
        self.contract.check_pending()
        return [error for call in self.calls for error in call.contract_errors]
