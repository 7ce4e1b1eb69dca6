"""Options more than one command offers: suggestions as people type (seeds, models), checking a
model is loaded, and refusing command data that discord.py would crash on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.answers import UserError
from bot.errors import BAD_OPTION, NOT_INSTALLED_HERE
from bot.i18n import Phrase
from bot.storage.settings import DEFAULT_SETTINGS

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

CHAT_INPUT = 1  # application command types: slash commands, and the message context menu
MESSAGE_COMMAND = 3
SUB_COMMAND_TYPES = (1, 2)
NUMBER_TYPE = 10
ATTACHMENT_TYPE = 11
# String, integer, boolean, number and attachment: the only value options our commands declare.
VALUE_TYPES = (3, 4, NUMBER_TYPE, 5, ATTACHMENT_TYPE)
MAX_CHOICES = 25  # Discord's limits on autocomplete answers
MAX_CHOICE_LENGTH = 100

# Speakers who appear in tinyshakespeare, the models' training text: seeds the models know.
SPEAKERS = ("ROMEO:", "JULIET:", "First Citizen:", "MENENIUS:", "KING RICHARD III:", "GLOUCESTER:",
            "DUKE VINCENTIO:", "ISABELLA:", "PETRUCHIO:", "KATHARINA:", "LEONTES:", "CORIOLANUS:")
# Openings in the same text, for people who would rather start mid-speech.
OPENINGS = ("Now is the winter of our discontent", "O Romeo, Romeo! wherefore art thou Romeo?",
            "Before we proceed any further, hear me speak.", "What light through yonder window breaks?",
            "My lord, ", "Good morrow, ", "Alas, poor ", "Come, come, ", "I pray you, ", "Thou art ")
SEED_SUGGESTIONS = SPEAKERS + OPENINGS


def seed_suggestions(typed: str) -> list[str]:
    """What the seed option offers while `typed` is being typed: what was typed itself first (it
    works as a seed as it is), then the speakers and openings containing it, best matches first."""
    typed = typed[:MAX_CHOICE_LENGTH * 2]  # a forged 10,000-character value costs nothing more
    needle = typed.strip().casefold()
    known = [seed for seed in SEED_SUGGESTIONS if needle in seed.casefold()]
    known.sort(key=lambda seed: not seed.casefold().startswith(needle))  # stable: prefixes first
    own = [typed] if typed.strip() and len(typed) <= MAX_CHOICE_LENGTH and typed not in known else []
    return (own + known)[:MAX_CHOICES]


async def seed_autocomplete(interaction: discord.Interaction[ShakespeareBot],
                            current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=seed, value=seed) for seed in seed_suggestions(current)]


async def model_autocomplete(interaction: discord.Interaction[ShakespeareBot],
                             current: str) -> list[app_commands.Choice[str]]:
    """The models this process loads (so a new checkpoint needs no command sync), filtered."""
    needle = current[:MAX_CHOICE_LENGTH].strip().casefold()
    names = [name for name in interaction.client.engine.model_names if needle in name.casefold()]
    return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]


def in_server_with_bot(interaction: discord.Interaction) -> bool:
    """The interaction comes from a server that added the bot, so that server's settings (and
    voices) apply. False in DMs and group DMs, and in a server that only the user's own install of
    the bot reaches (authorizing_integration_owners without the server's install)."""
    return interaction.guild_id is not None and interaction.is_guild_integration()


def check_server_manager(interaction: discord.Interaction, refusal: Exception) -> bool:
    """The check of a server-only group (/settings, /voice): in a server that added the bot, by a
    member with Manage Server, else `refusal`. Discord's client hides such groups elsewhere; a forged
    interaction skips that client, so this is what guards them."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not in_server_with_bot(interaction):
        raise UserError(NOT_INSTALLED_HERE)
    if not interaction.permissions.manage_guild:
        raise refusal
    return True


def require_loaded(model: object, loaded: Sequence[str]) -> str:
    """The loaded model named `model` (typed without a suggestion, its case may differ), else one
    sentence naming what to choose."""
    if not isinstance(model, str):  # only a forged interaction sends anything else
        raise UserError(BAD_OPTION)
    by_name = {name.casefold(): name for name in loaded}
    model = by_name.get(model.strip().casefold(), model)
    if model not in loaded:
        shown = model if len(model) <= 32 else model[:29] + "..."
        raise UserError(Phrase("The {model} model is not loaded on this bot; choose {choices}.", model=shown,
                               choices=tuple(loaded)))
    return model


def serving_model(wanted: str, loaded: Sequence[str]) -> str:
    """The model that writes for a server whose setting names `wanted`: that one when loaded, else
    the default model, else the first loaded (a host may ship fewer checkpoints than a server chose)."""
    if wanted in loaded:
        return wanted
    return DEFAULT_SETTINGS.model if DEFAULT_SETTINGS.model in loaded else loaded[0]


def check_command_data(data: object, *, autocomplete: bool = False) -> None:
    """Refuse an application command's data that discord.py would crash on or silently convert.

    discord.py trusts Discord's client: its Namespace indexes every option's keys, calls float() on
    every number option and int() on every user, channel, role or attachment option, and reads the
    `resolved` entities before any command code runs. A forged `"temp": "hot"`, a number of 10**400
    or an option without a type raises outside the tree's error handling (the user gets no answer at
    all), and `"temp": true` becomes 1.0. ShakespeareTree.interaction_check runs just before, and
    calls this. The command's own fields too: a `type` other than a slash command's sends discord.py
    down its context-menu path (which raises on a type it does not know), and it reads `name` and
    int()s `guild_id` unguarded.
    """
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise UserError(BAD_OPTION)
    kind = data.get("type", CHAT_INPUT)
    if type(kind) is not int or kind not in (CHAT_INPUT, MESSAGE_COMMAND):
        raise UserError(BAD_OPTION)
    guild_id = data.get("guild_id")
    if guild_id is not None and not _is_snowflake(guild_id):
        raise UserError(BAD_OPTION)
    if kind == MESSAGE_COMMAND:
        check_message_target(data)
        return
    attachments = check_resolved_attachments(data.get("resolved"))
    check_option_shapes(data.get("options", []), autocomplete=autocomplete, attachments=attachments)


# What discord.py reads, unguarded, from an attachment in resolved data (discord.Attachment).
_ATTACHMENT_FIELDS = {"filename": str, "url": str, "proxy_url": str, "size": int}


def check_resolved_attachments(resolved: object) -> set[str]:
    """The ids of the attachments in `resolved` (the only resolved data an option of ours brings:
    /voice train's file), each shaped as discord.py reads it; anything else is refused."""
    if not resolved:
        return set()
    if not isinstance(resolved, dict) or set(resolved) != {"attachments"}:
        raise UserError(BAD_OPTION)
    attachments = resolved["attachments"]
    if not isinstance(attachments, dict) or len(attachments) > 10:
        raise UserError(BAD_OPTION)
    for key, attachment in attachments.items():
        if not isinstance(attachment, dict) or attachment.get("id") != key or not _is_snowflake(key):
            raise UserError(BAD_OPTION)
        if any(type(attachment.get(name)) is not kind for name, kind in _ATTACHMENT_FIELDS.items()):
            raise UserError(BAD_OPTION)
    return set(attachments)


def _is_snowflake(value: object) -> bool:
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20


# What discord.py reads, unguarded, from a message in resolved data when it builds discord.Message.
_MESSAGE_FIELDS = {"content": str, "timestamp": str, "author": dict, "attachments": list, "embeds": list,
                   "mentions": list, "mention_roles": list, "pinned": bool, "mention_everyone": bool,
                   "tts": bool, "type": int}


def check_message_target(data: dict) -> None:
    """A message command's target: `target_id`, and that message in `resolved.messages`."""
    target = data.get("target_id")
    resolved = data.get("resolved")
    if not _is_snowflake(target) or not isinstance(resolved, dict) or set(resolved) != {"messages"}:
        raise UserError(BAD_OPTION)
    messages = resolved["messages"]
    message = messages.get(target) if isinstance(messages, dict) and len(messages) == 1 else None
    if not isinstance(message, dict) or message.get("id") != target:
        raise UserError(BAD_OPTION)
    if not _is_snowflake(message.get("channel_id")):
        raise UserError(BAD_OPTION)
    if any(not isinstance(message.get(name), kind) for name, kind in _MESSAGE_FIELDS.items()):
        raise UserError(BAD_OPTION)
    author = message["author"]
    if not _is_snowflake(author.get("id")) or not isinstance(author.get("username"), str):
        raise UserError(BAD_OPTION)
    if data.get("options"):
        raise UserError(BAD_OPTION)


def check_option_shapes(options: object, *, autocomplete: bool = False,
                        attachments: set[str] = frozenset()) -> None:
    if not isinstance(options, list):
        raise UserError(BAD_OPTION)
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("name"), str):
            raise UserError(BAD_OPTION)
        kind = option.get("type")
        if type(kind) is not int:
            raise UserError(BAD_OPTION)
        if kind in SUB_COMMAND_TYPES:
            check_option_shapes(option.get("options", []), autocomplete=autocomplete, attachments=attachments)
        elif kind not in VALUE_TYPES or "value" not in option:
            raise UserError(BAD_OPTION)
        elif autocomplete and option.get("focused") is True:
            # What is being typed comes as a string whatever the option's type.
            if not isinstance(option["value"], str):
                raise UserError(BAD_OPTION)
        elif kind == ATTACHMENT_TYPE and not autocomplete and option["value"] not in attachments:
            raise UserError(BAD_OPTION)  # discord.py would look it up in resolved and fail
        elif kind == NUMBER_TYPE and not _is_float_number(option["value"]):
            # Discord's client only ever sends a JSON number that fits a double here; float() would
            # also turn true into 1.0 and "2" into 2.0, so anything else is refused before it can.
            raise UserError(BAD_OPTION)


def _is_float_number(value: object) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True
