"""/settings and /preferences: the defaults /shakespeare writes with when an option is left out.

/settings is a server's, changed by its admins only; it exists where the server added the bot.
/preferences is a person's own, used wherever no server's settings apply: in DMs, group DMs and
servers that only their own install of the bot reaches (a user install). Both are one class of
commands over the store, told apart by `scope`. Every write counts against the user's pace
(`settings_pace_check`), so nobody can keep the database writing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

import discord
from discord import app_commands

from bot.answers import reply_privately
from bot.commands.options import (
    check_server_manager,
    in_server_with_bot,
    model_autocomplete,
    require_loaded,
    serving_model,
)
from bot.commands.pace import settings_pace_check
from bot.i18n import Phrase, localize
from bot.storage.settings import (
    MAX_LENGTH,
    MAX_MODEL_NAME_LENGTH,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    SETTING_NAMES,
    GuildSettings,
    Scope,
    SettingName,
)

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

# A settings write commits in milliseconds, unless it waits for another process's lock on the
# database (up to the store's busy timeout, 10 s). Discord wants an answer within 3 s, so a write
# still waiting after this long gets a private "thinking..." first and its answer after it.
SLOW_WRITE_SECONDS = 1.0


def describe_settings(settings: GuildSettings, loaded: Sequence[str], locale: object = "en",
                      chosen_by: Phrase | None = None) -> str:
    """One line per setting, marking the ones still at their default, and a model not loaded here,
    in the reader's language; `chosen_by` names who set the others (an admin by default)."""
    lines = []
    for name in SETTING_NAMES:
        origin = (chosen_by or Phrase("set by an admin")) if name in settings.changed else Phrase("default")
        if name == "model" and settings.model not in loaded:
            origin = Phrase("{origin}; not loaded on this bot, so {model} writes instead", origin=origin,
                            model=serving_model(settings.model, loaded))
        line = Phrase("- {name}: **{value}** ({origin})", name=Phrase(name), value=getattr(settings, name),
                      origin=origin)
        lines.append(localize(line, locale))
    return "\n".join(lines)


async def settings_for(interaction: discord.Interaction[ShakespeareBot]) -> GuildSettings:
    """The defaults a request here is filled in with: the server's, or the person's own."""
    store = interaction.client.store
    if in_server_with_bot(interaction):
        assert interaction.guild_id is not None
        return await store.get(interaction.guild_id)
    return await store.get_user(interaction.user.id)


class DefaultsGroup(app_commands.Group):
    """The subcommands /settings and /preferences share; a subclass says whose defaults they are."""

    scope: ClassVar[Scope]
    chosen_by: ClassVar[str]  # how `show` marks a value someone chose
    heading: ClassVar[str]  # the templates of what the commands answer, with their Korean in bot/i18n.py
    now: ClassVar[dict[str, str]]
    back_to_defaults: ClassVar[str]

    def owner(self, interaction: discord.Interaction) -> int:
        if self.scope == "guild":
            assert interaction.guild_id is not None  # interaction_check refused anything else
            return interaction.guild_id
        return interaction.user.id

    async def read(self, interaction: discord.Interaction[ShakespeareBot]) -> GuildSettings:
        store = interaction.client.store
        get = store.get if self.scope == "guild" else store.get_user
        return await get(self.owner(interaction))

    def describe(self, interaction: discord.Interaction[ShakespeareBot], settings: GuildSettings) -> str:
        return describe_settings(settings, interaction.client.engine.model_names, interaction.locale,
                                 Phrase(self.chosen_by))

    async def change(self, interaction: discord.Interaction[ShakespeareBot], name: SettingName,
                     value: object) -> None:
        store = interaction.client.store
        write = store.set_value if self.scope == "guild" else store.set_user_value
        await write_then_confirm(interaction, write(self.owner(interaction), name, value),
                                  lambda settings: Phrase(self.now[name], value=_shown(settings, name)))

    @app_commands.command(name="show", description="Show the defaults /shakespeare writes with.")
    async def show(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        shown = self.describe(interaction, await self.read(interaction))
        await interaction.response.send_message(
            localize(Phrase(self.heading, settings=shown), interaction.locale), ephemeral=True)

    @app_commands.check(settings_pace_check)
    @app_commands.command(name="temperature", description="Set the default temperature.")
    @app_commands.describe(value=f"From {MIN_TEMPERATURE} (careful) to {MAX_TEMPERATURE} (wild)")
    async def temperature(self, interaction: discord.Interaction[ShakespeareBot],
                          value: app_commands.Range[float, MIN_TEMPERATURE, MAX_TEMPERATURE]) -> None:
        # The store checks the range again: Discord only enforces Range in its own client.
        await self.change(interaction, "temperature", value)

    @app_commands.check(settings_pace_check)
    @app_commands.command(name="length", description="Set how many characters /shakespeare writes.")
    @app_commands.describe(value=f"From {MIN_LENGTH} to {MAX_LENGTH} characters")
    async def length(self, interaction: discord.Interaction[ShakespeareBot],
                     value: app_commands.Range[int, MIN_LENGTH, MAX_LENGTH]) -> None:
        await self.change(interaction, "length", value)

    @app_commands.check(settings_pace_check)
    @app_commands.command(name="model", description="Set which model writes by default.")
    @app_commands.describe(name="One of the models this bot has loaded")
    @app_commands.autocomplete(name=model_autocomplete)
    async def model(self, interaction: discord.Interaction[ShakespeareBot],
                    name: app_commands.Range[str, 1, MAX_MODEL_NAME_LENGTH]) -> None:
        await self.change(interaction, "model", require_loaded(name, interaction.client.engine.model_names))

    @app_commands.check(settings_pace_check)
    @app_commands.command(name="reset", description="Put every setting back to its default.")
    async def reset(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        store = interaction.client.store

        async def reset_then_read() -> GuildSettings:
            await (store.reset if self.scope == "guild" else store.reset_user)(self.owner(interaction))
            return await self.read(interaction)

        await write_then_confirm(
            interaction, reset_then_read(),
            lambda settings: Phrase(self.back_to_defaults, settings=self.describe(interaction, settings)))


@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class SettingsGroup(
    DefaultsGroup,
    name="settings",
    description="Show or change this server's defaults for /shakespeare (Manage Server only).",
    # A hint: Discord's client hides the group from members without Manage Server. A forged
    # interaction skips that client, so interaction_check below is what actually guards it.
    default_permissions=discord.Permissions(manage_guild=True),
):
    scope = "guild"
    chosen_by = "set by an admin"
    heading = "This server's settings:\n{settings}"
    now = {"temperature": "Temperature is now {value} on this server.",
           "length": "Length is now {value} characters on this server.",
           "model": "The model is now {value} on this server."}
    back_to_defaults = "Settings are back to their defaults:\n{settings}"

    async def interaction_check(self, interaction: discord.Interaction[ShakespeareBot], /) -> bool:
        return check_server_manager(interaction, app_commands.MissingPermissions(["manage_guild"]))


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class PreferencesGroup(
    DefaultsGroup,
    name="preferences",
    description="Your own defaults for /shakespeare in DMs and in servers without the bot.",
):
    scope = "user"
    chosen_by = "set by you"
    heading = "Your own defaults (used in DMs and in servers without the bot):\n{settings}"
    now = {"temperature": "Your temperature is now {value}.",
           "length": "You now get {value} characters.",
           "model": "Your model is now {value}."}
    back_to_defaults = "Your defaults are back to the bot's:\n{settings}"


def _shown(settings: GuildSettings, name: SettingName) -> object:
    value = getattr(settings, name)
    return f"{value:g}" if name == "temperature" else value


async def write_then_confirm(interaction: discord.Interaction, write: Awaitable[GuildSettings],
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
        # change goes on, as asked, but nobody can be told how it ends but the log.
        writing.add_done_callback(_log_unanswered_failure)
        raise
    await reply_privately(interaction, sentence(await writing))


def _log_unanswered_failure(writing: asyncio.Future) -> None:
    if not writing.cancelled() and writing.exception() is not None:
        log.warning("A settings change whose sender could not be answered failed: %s", writing.exception())
