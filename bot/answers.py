"""Answering a user: every error turned into one ephemeral sentence, a traceback for the log only.

discord.py's default `CommandTree.on_error` only logs, which leaves the user staring at "The
application did not respond". `ShakespeareTree.on_error` (in bot/client.py) answers through
`reply_privately` with the sentence `user_message` picks. The exceptions and their sentences are
bot/errors.py's tree; this module is where Discord's own errors meet it.
"""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands

from bot.errors import (
    BAD_OPTION,
    BUSY,
    NEEDS_MANAGE_SERVER,
    NEEDS_SERVER,
    OUTDATED_COMMAND,
    RESTARTING,
    BotError,
    SettingsBusyError,
    SettingsError,
    SettingsUnavailableError,
    VoiceError,
    sentence_of,
)
from bot.i18n import Phrase, localize
from charlm.engine import EngineBusyError, EngineClosedError, InvalidRequestError

log = logging.getLogger(__name__)


class UserError(BotError, app_commands.AppCommandError):
    """A refusal caused by what the user asked; str(error) is the one sentence they are shown."""


UNKNOWN_INTERACTION = 10062  # Discord's code for an interaction whose 3 s (or 15 min) are over


def expired_interaction(error: BaseException) -> bool:
    """Discord no longer knows the interaction (it reached us too late): nobody can be answered."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    return isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION


def log_expired(interaction: discord.Interaction) -> None:
    log.warning("Interaction %s had expired before the bot answered it (Discord delivered it late); "
                "not answered.", interaction.id)


def user_message(error: app_commands.AppCommandError) -> str | None:
    """The sentence for an error the user caused, or None for a fault of ours (to be logged)."""
    if isinstance(error, app_commands.CommandInvokeError):
        return sentence_for(error.original)
    return sentence_for(error)


def sentence_for(error: BaseException) -> str | None:
    """user_message for any exception: what a command's callback, or a button's, raised."""
    if isinstance(error, EngineBusyError):
        return BUSY
    if isinstance(error, EngineClosedError):
        return RESTARTING
    if isinstance(error, (InvalidRequestError, SettingsError, SettingsBusyError, SettingsUnavailableError,
                          VoiceError)):
        return sentence_of(error)
    if isinstance(error, app_commands.CommandInvokeError):
        return sentence_for(error.original)
    if not isinstance(error, app_commands.AppCommandError):
        return None
    if isinstance(error, app_commands.CommandOnCooldown):
        return Phrase("You're writing too fast; try again in {seconds} s.",
                      seconds=math.ceil(error.retry_after))
    if isinstance(error, app_commands.NoPrivateMessage):
        return NEEDS_SERVER
    if isinstance(error, app_commands.MissingPermissions):
        return NEEDS_MANAGE_SERVER
    if isinstance(error, UserError):
        return sentence_of(error)
    if isinstance(error, app_commands.TransformerError):
        return BAD_OPTION
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return OUTDATED_COMMAND
    return None


async def still_thinking(interaction: discord.Interaction) -> bool:
    """Whether the interaction was deferred with "thinking..." and the original response is not
    yet written: what completes it is an edit of @original (a follow-up there is deprecated)."""
    if interaction.response.type is not discord.InteractionResponseType.deferred_channel_message:
        return False
    return (await interaction.original_response()).flags.loading


async def reply_privately(interaction: discord.Interaction, sentence: str) -> None:
    """Send `sentence` so that only the user sees it, if Discord still allows that.

    After a deferral the sentence completes the "thinking..." message (an edit of the original
    response, which keeps the deferral's visibility), so an error after a public deferral is
    shown to all; /shakespeare therefore lets the engine refuse a request before it defers. Once
    the original response is complete, the sentence is an ephemeral follow-up.
    """
    sentence = localize(sentence, interaction.locale)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(sentence, ephemeral=True)
        elif await still_thinking(interaction):
            await interaction.edit_original_response(content=sentence)
        else:
            await interaction.followup.send(sentence, ephemeral=True)
    except discord.HTTPException as error:
        # The interaction expired or Discord is unreachable: nobody is left to tell but the log.
        log.warning("Could not send %r to interaction %s: %s", sentence, interaction.id, error)
