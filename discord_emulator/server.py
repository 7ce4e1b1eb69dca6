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
import socket
from typing import Any

from aiohttp import web

from .client_actions import PersonActions
from .clock import Clock
from .commands import CommandRegistry, Upload, parse_command
from .contract import ContractChecker, locate_spec
from .gateway import Gateway
from .installs import authorizing_owners, check_visible, interaction_payload
from .interactions import InteractionRecord, Rules
from .kinds import APPLICATION_COMMAND, ATTACHMENT_SIZE_LIMIT
from .models import Cast, Channel, World
from .recorder import Faults, RecordedCall, Recorder
from .rest import API_PREFIX, RestApi
from .sent import SentInteraction


class Emulator(PersonActions):
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
            check_visible(self.world, parsed.definition, sender, target, channel)
        for attachment_id, upload in parsed.uploads.items():
            attachment = parsed.data["resolved"]["attachments"][attachment_id]
            self.world.cdn.store(attachment_id, upload.data, attachment.get("content_type"))
        return await self.send_interaction_data(
            parsed.data, user=user, guild=guild, guild_id=guild_id, channel=channel,
            integration_types=parsed.definition.get("integration_types") if parsed.definition else None,
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
        owners = authorizing_owners(self.world, sender, target, channel, integration_types)
        return interaction_payload(self.world, data=data, user=sender, guild=target, kind=kind,
                                   channel=channel, message=message, owners=owners)

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
