"""The emulator: Discord's REST API and gateway on one loopback port, and a driver for tests.

    emu = Emulator()
    await emu.start()                      # api_base http://127.0.0.1:PORT/api/v10, gateway ws://...
    env = emu.bot_env()                    # DISCORD_TOKEN, DISCORD_API_BASE, DISCORD_GATEWAY_URL
    ...start the bot with env...
    await emu.wait_until_ready(timeout=60)
    sent = await emu.send_command("/echo text:hello", user="member")
    reply = await sent.wait_reply(timeout=30)
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from .commands import CommandRegistry, parse_command
from .contract import ContractChecker, locate_spec
from .errors import CommandHiddenError, CommandInputError
from .gateway import Gateway
from .interactions import InteractionRecord, Rules, SentInteraction, interaction_payload
from .models import CONTEXT_GUILD, Cast, Clock, Guild, User, World, permission_names
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
        self._runner: web.AppRunner | None = None
        self.api_base = ""

    # -- life cycle --

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, str]:
        """Listen on host:port (0 picks a free port); returns (api_base, gateway_url)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        # The gateway comes first: the REST table ends with a catch-all for unknown endpoints.
        app.router.add_get("/gateway", self.gateway.handle)
        app.add_routes(RestApi(self).routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.api_base = f"http://{host}:{bound_port}/api/v10"
        self.gateway.url = f"ws://{host}:{bound_port}/gateway"
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
        """The environment that points an unmodified bot at this emulator."""
        return {
            "DISCORD_TOKEN": self.world.token,
            "DISCORD_API_BASE": self.api_base,
            "DISCORD_GATEWAY_URL": self.gateway.url,
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
    ) -> SentInteraction:
        """Type `command` (e.g. "/settings temperature value:1.2") as `user`, in a guild (the first
        one, or the one with `guild_id`) or, with `guild=False`, in a DM.

        Raises CommandInputError where Discord's client would refuse: unknown command, bad value,
        missing option, a command hidden from this user. `forge=True` sends it anyway, typed as
        best it can be, as a hand-made request to the bot would.
        """
        sender = self.world.user(user)
        target = self._target(guild, guild_id)
        parsed = parse_command(
            self.world, self.commands, command, guild_id=None if target is None else target.id,
            options=options, forge=forge,
        )
        if not forge:
            self._check_visible(parsed.definition, sender, target)
        return await self.send_interaction_data(parsed.data, user=user, guild=guild, guild_id=guild_id)

    def _target(self, guild: bool, guild_id: int | None) -> Guild | None:
        if not guild:
            return None
        return self.world.guild if guild_id is None else self.world.guild_by_id(guild_id)

    def _check_visible(self, definition: dict[str, Any], user: User, guild: Guild | None) -> None:
        """Discord's client hides commands a user may not run; it never sends them."""
        name = definition["name"]
        if guild is None:
            contexts = definition.get("contexts")
            guild_only = "guild_id" in definition or definition.get("dm_permission") is False
            if guild_only or (contexts is not None and contexts == [CONTEXT_GUILD]):
                raise CommandInputError(f"/{name} is not available in direct messages.")
            return
        required = definition.get("default_member_permissions")
        if required is not None:
            missing = int(required) & ~guild.permissions_of(user.id)
            if missing:
                raise CommandHiddenError(
                    f"/{name} is hidden from {user.username}, who lacks {permission_names(missing)}."
                )

    async def send_interaction_data(
        self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
        guild_id: int | None = None,
    ) -> SentInteraction:
        """Send an application command whose `data` (name, options...) is given verbatim."""
        payload = self.interaction_payload(data, user=user, guild=guild, guild_id=guild_id)
        return await self.send_raw_interaction(payload)

    def interaction_payload(
        self, data: dict[str, Any], *, user: str = "admin", guild: bool = True,
        guild_id: int | None = None,
    ) -> dict[str, Any]:
        """A complete INTERACTION_CREATE body, for tests that then tamper with it."""
        return interaction_payload(
            self.world,
            interaction_id=self.world.snowflakes.next(),
            data=data,
            user=self.world.user(user),
            guild=self._target(guild, guild_id),
        )

    async def send_raw_interaction(self, payload: dict[str, Any]) -> SentInteraction:
        """Dispatch any INTERACTION_CREATE body; the 3 s window starts now."""
        user_data = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        user = self.world.user_by_id(int(user_data.get("id", 0))) or self.world.user("member")
        channel_id = int(payload.get("channel_id") or self.world.channel.id)
        record = InteractionRecord(
            id=int(payload["id"]),
            token=str(payload["token"]),
            payload=payload,
            user=user,
            in_guild="guild_id" in payload,
            channel_id=channel_id,
            created_at=self.clock.now(),
        )
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
