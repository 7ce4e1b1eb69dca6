"""What the emulator's tests (and the playground's) share: small discord.py clients that know
nothing of the bot (`BareClient`, `InstallsClient`), connected to an emulator the way a bot points
discord.py elsewhere (`connect_bare_client`), and the checks most tests end with."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import yarl
from discord import app_commands

from discord_emulator import Emulator


class BareClient(discord.Client):
    """A plain discord.py client with a few commands that exercise the interaction rules."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.guild_id = guild_id
        self.release = asyncio.Event()
        self.errors: list[discord.HTTPException] = []
        self._add_commands()

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Repeat the text.")
        async def echo(interaction: discord.Interaction, text: str, safe: bool = True) -> None:
            mentions = discord.AllowedMentions.none() if safe else discord.utils.MISSING
            await self._guard(interaction.response.send_message(text, allowed_mentions=mentions))

        @tree.command(description="Defer, wait for the test, then edit the original response.")
        async def slow(interaction: discord.Interaction, private: bool = False) -> None:
            await interaction.response.defer(ephemeral=private, thinking=True)
            await self.release.wait()
            await self._guard(interaction.edit_original_response(content="done"))

        @tree.command(description="Defer, then answer with a follow-up (the deprecated stand-in).")
        async def standin(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await self._guard(interaction.followup.send("instead"))
            await self._guard(interaction.edit_original_response(content="answer"))
            await self._guard(interaction.followup.send("and more"))

        @tree.command(description="Wait for the test, then answer (too late).")
        async def late(interaction: discord.Interaction) -> None:
            await self.release.wait()
            await self._guard(interaction.response.send_message("finally"))

        @tree.command(description="Answer with a message longer than Discord allows.")
        async def long(interaction: discord.Interaction, size: app_commands.Range[int, 1, 5000]) -> None:
            await interaction.response.defer()
            await self._guard(interaction.edit_original_response(content="x" * size))

        group = app_commands.Group(
            name="settings",
            description="Server settings.",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )

        @group.command(description="Set the temperature.")
        async def temperature(
            interaction: discord.Interaction, value: app_commands.Range[float, 0.1, 2.0]
        ) -> None:
            await interaction.response.send_message(f"temperature={value!r}", ephemeral=True)

        @group.command(description="Back to defaults.")
        async def reset(interaction: discord.Interaction) -> None:
            allowed = interaction.permissions.manage_guild
            await interaction.response.send_message(f"reset allowed={allowed}", ephemeral=True)

        tree.add_command(group)

    async def _guard(self, call: Any) -> None:
        try:
            await call
        except discord.HTTPException as error:
            self.errors.append(error)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before every IDENTIFY but the first; no need with one client."""


@contextlib.asynccontextmanager
async def connect_bare_client(
    emu: Emulator, client_class: type[BareClient] = BareClient
) -> AsyncIterator[BareClient]:
    """A BareClient (or subclass) logged in to `emu` and ready, pointed there the way a bot is
    configured."""
    # The two switches a bot uses to point discord.py somewhere other than discord.com.
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    bot = client_class(emu.world.guild.id)
    try:
        await bot.login(emu.world.token)
        task = asyncio.create_task(bot.connect())
        await emu.wait_until_ready(timeout=10)
        await asyncio.wait_for(bot.wait_until_ready(), 10)
        yield bot
        await bot.close()
        await asyncio.wait_for(task, 10)
    finally:
        await bot.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def http_errors(client: BareClient) -> list[tuple[int, int]]:
    """(status, Discord code) of what the client's calls raised, once the first has arrived."""
    for _ in range(100):
        if client.errors:
            break
        await asyncio.sleep(0.02)
    return [(error.status, error.code) for error in client.errors]


def assert_clean(emu: Emulator) -> None:
    assert emu.recorder.unknown_routes() == []
    assert emu.contract_violations() == []


class InstallsClient(BareClient):
    def _add_commands(self) -> None:
        super()._add_commands()

        @self.tree.command(description="Answer, then follow up `more` times.")
        @app_commands.allowed_installs(guilds=True, users=True)
        @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
        async def anywhere(interaction: discord.Interaction, more: int = 0) -> None:
            await interaction.response.send_message(f"owners={interaction.is_user_integration()}")
            for number in range(more):
                await self._guard(interaction.followup.send(f"more {number}"))

        @self.tree.command(description="Answer with a file.")
        @app_commands.allowed_installs(guilds=True, users=True)
        async def file(interaction: discord.Interaction) -> None:
            upload = discord.File(io.BytesIO(b"to be"), "verse.txt")
            await self._guard(interaction.response.send_message("a file", file=upload))

        @self.tree.command(description="Post in the channel instead of answering.")
        @app_commands.allowed_installs(guilds=True, users=True)
        async def post(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            await self._guard(interaction.channel.send("posted"))  # type: ignore[union-attr]
