"""/settings: a server's defaults for /shakespeare, changed by its admins only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands.options import model_autocomplete, require_loaded, serving_model
from bot.errors import reply_privately
from bot.i18n import Phrase, localize
from bot.store import (
    MAX_LENGTH,
    MAX_MODEL_NAME_LENGTH,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    SETTING_NAMES,
    GuildSettings,
)

if TYPE_CHECKING:
    from bot.client import ShakespeareBot

log = logging.getLogger(__name__)

# A settings write commits in milliseconds, unless it waits for another process's lock on the
# database (up to the store's busy timeout, 10 s). Discord wants an answer within 3 s, so a write
# still waiting after this long gets a private "thinking..." first and its answer after it.
SLOW_WRITE_SECONDS = 1.0


def describe_settings(settings: GuildSettings, loaded: Sequence[str], locale: object = "en") -> str:
    """One line per setting, marking the ones still at their default, and a model not loaded here,
    in the reader's language."""
    lines = []
    for name in SETTING_NAMES:
        origin = Phrase("set by an admin") if name in settings.changed else Phrase("default")
        if name == "model" and settings.model not in loaded:
            origin = Phrase("{origin}; not loaded on this bot, so {model} writes instead", origin=origin,
                            model=serving_model(settings.model, loaded))
        line = Phrase("- {name}: **{value}** ({origin})", name=Phrase(name), value=getattr(settings, name),
                      origin=origin)
        lines.append(localize(line, locale))
    return "\n".join(lines)


class SettingsGroup(
    app_commands.Group,
    name="settings",
    description="Show or change this server's defaults for /shakespeare (Manage Server only).",
    # A hint: Discord's client hides the group from members without Manage Server. A forged
    # interaction skips that client, so interaction_check below is what actually guards it.
    default_permissions=discord.Permissions(manage_guild=True),
):
    async def interaction_check(self, interaction: discord.Interaction[ShakespeareBot], /) -> bool:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @app_commands.command(name="show", description="Show this server's settings.")
    async def show(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        bot = interaction.client
        settings = await bot.store.get(_guild(interaction))
        shown = describe_settings(settings, bot.engine.model_names, interaction.locale)
        await interaction.response.send_message(
            localize(Phrase("This server's settings:\n{settings}", settings=shown), interaction.locale),
            ephemeral=True)

    @app_commands.command(name="temperature", description="Set the default temperature.")
    @app_commands.describe(value=f"From {MIN_TEMPERATURE} (careful) to {MAX_TEMPERATURE} (wild)")
    async def temperature(self, interaction: discord.Interaction[ShakespeareBot],
                          value: app_commands.Range[float, MIN_TEMPERATURE, MAX_TEMPERATURE]) -> None:
        # set_value checks the range again: Discord only enforces Range in its own client.
        await _write_then_confirm(
            interaction, interaction.client.store.set_value(_guild(interaction), "temperature", value),
            lambda settings: Phrase("Temperature is now {value} on this server.",
                                    value=f"{settings.temperature:g}"))

    @app_commands.command(name="length", description="Set how many characters /shakespeare writes.")
    @app_commands.describe(value=f"From {MIN_LENGTH} to {MAX_LENGTH} characters")
    async def length(self, interaction: discord.Interaction[ShakespeareBot],
                     value: app_commands.Range[int, MIN_LENGTH, MAX_LENGTH]) -> None:
        await _write_then_confirm(
            interaction, interaction.client.store.set_value(_guild(interaction), "length", value),
            lambda settings: Phrase("Length is now {value} characters on this server.",
                                    value=settings.length))

    @app_commands.command(name="model", description="Set which model writes by default.")
    @app_commands.describe(name="One of the models this bot has loaded")
    @app_commands.autocomplete(name=model_autocomplete)
    async def model(self, interaction: discord.Interaction[ShakespeareBot],
                    name: app_commands.Range[str, 1, MAX_MODEL_NAME_LENGTH]) -> None:
        bot = interaction.client
        chosen = require_loaded(name, bot.engine.model_names)
        await _write_then_confirm(
            interaction, bot.store.set_value(_guild(interaction), "model", chosen),
            lambda settings: Phrase("The model is now {value} on this server.", value=settings.model))

    @app_commands.command(name="reset", description="Put every setting back to its default.")
    async def reset(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        bot = interaction.client

        async def reset_then_read() -> GuildSettings:
            await bot.store.reset(_guild(interaction))
            return await bot.store.get(_guild(interaction))

        await _write_then_confirm(
            interaction, reset_then_read(),
            lambda settings: Phrase("Settings are back to their defaults:\n{settings}",
                                    settings=describe_settings(settings, bot.engine.model_names,
                                                               interaction.locale)))


def _guild(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # interaction_check refused DMs
    return interaction.guild_id


async def _write_then_confirm(interaction: discord.Interaction, write: Awaitable[GuildSettings],
                              sentence: Callable[[GuildSettings], str]) -> None:
    """Await the store's write, deferring privately if it is slow, then say what it did.

    The answer is sent only after the store committed (synchronous=FULL), so what it says survives
    a crash. A write that fails reaches the tree's error handler, which answers after a deferral too.
    """
    writing = asyncio.ensure_future(write)
    try:
        done, _ = await asyncio.wait({writing}, timeout=SLOW_WRITE_SECONDS)
        if not done:
            await interaction.response.defer(ephemeral=True, thinking=True)
    except BaseException:
        # Discord refused the deferral (the interaction expired) or the command was cut: the
        # change goes on, as the admin asked, but nobody can be told how it ends but the log.
        writing.add_done_callback(_log_unanswered_failure)
        raise
    await reply_privately(interaction, sentence(await writing))


def _log_unanswered_failure(writing: asyncio.Future) -> None:
    if not writing.cancelled() and writing.exception() is not None:
        log.warning("A settings change whose admin could not be answered failed: %s", writing.exception())
