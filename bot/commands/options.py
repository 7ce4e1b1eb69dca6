"""Options more than one command offers: the model choice, and checking a model is loaded."""

from __future__ import annotations

from collections.abc import Sequence

from discord import app_commands

from bot.errors import BAD_OPTION, UserError
from bot.store import DEFAULT_SETTINGS

CHAT_INPUT = 1  # the application command type of slash commands, the only kind the bot declares
SUB_COMMAND_TYPES = (1, 2)
NUMBER_TYPE = 10
# String, integer, boolean and number: the only value options our commands declare.
VALUE_TYPES = (3, 4, NUMBER_TYPE, 5)

# The models the bot ships. Choices are fixed when commands are synced, so they name the shipped
# checkpoints; whether one is loaded on this host is checked when a command runs.
MODEL_CHOICES = [app_commands.Choice(name="LSTM", value="lstm"), app_commands.Choice(name="GRU", value="gru")]


def require_loaded(model: str, loaded: Sequence[str]) -> str:
    if model not in loaded:
        raise UserError(f"The {model} model is not loaded on this bot; choose {' or '.join(loaded)}.")
    return model


def serving_model(wanted: str, loaded: Sequence[str]) -> str:
    """The model that writes for a server whose setting names `wanted`: that one when loaded, else
    the default model, else the first loaded (a host may ship fewer checkpoints than a server chose)."""
    if wanted in loaded:
        return wanted
    return DEFAULT_SETTINGS.model if DEFAULT_SETTINGS.model in loaded else loaded[0]


def check_command_data(data: object) -> None:
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
    if type(kind) is not int or kind != CHAT_INPUT:
        raise UserError(BAD_OPTION)
    guild_id = data.get("guild_id")
    if guild_id is not None and not (isinstance(guild_id, str) and guild_id.isascii() and guild_id.isdigit()):
        raise UserError(BAD_OPTION)
    if data.get("resolved"):
        # No option of ours names a user, channel, role or attachment, so Discord never sends these.
        raise UserError(BAD_OPTION)
    check_option_shapes(data.get("options", []))


def check_option_shapes(options: object) -> None:
    if not isinstance(options, list):
        raise UserError(BAD_OPTION)
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("name"), str):
            raise UserError(BAD_OPTION)
        kind = option.get("type")
        if type(kind) is not int:
            raise UserError(BAD_OPTION)
        if kind in SUB_COMMAND_TYPES:
            check_option_shapes(option.get("options", []))
        elif kind not in VALUE_TYPES or "value" not in option:
            raise UserError(BAD_OPTION)
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
