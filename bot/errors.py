"""The bot's exceptions: every error a user or an operator can cause, each carrying its sentence.

    BotError                      args[0] is the one sentence (a Phrase, so it can be localized)
     ├── SettingsError            a setting's value out of its range (also a ValueError)
     ├── VoiceError               a voice request refused: name taken, too many voices, queue full
     │                            (also a ValueError)
     ├── UserError                a command refused for what was asked (bot/answers.py: it is
     │                            also discord.py's AppCommandError, so the command tree routes it)
     └── SettingsStoreError       the database cannot be opened or used (unwritable path, newer schema,
          │                       damaged file at start, unreachable server at start)
          ├── SettingsBusyError         a change waited out another's lock and was not made
          └── SettingsUnavailableError  the database cannot take a change now (damaged, full,
                                        replaced, unreachable); reads fall back where they can

Outside the tree, because charlm knows nothing of the bot: charlm.engine's EngineBusyError,
EngineClosedError and InvalidRequestError, worded by bot/answers.py's `sentence_for`.

This module imports nothing of Discord: storage (bot/storage/) raises these too.
"""

from __future__ import annotations

from bot.i18n import Phrase

BUSY = Phrase("The bot is busy writing for others; try again in a moment.")
RESTARTING = Phrase("The bot is restarting; try again in a moment.")
NEEDS_SERVER = Phrase("Server settings belong to a server; for your own defaults use /preferences.")
NOT_INSTALLED_HERE = Phrase(
    "This server has not added the bot, so it has no settings; for your own defaults use /preferences.")
NEEDS_MANAGE_SERVER = Phrase(
    "Only members with the Manage Server permission can change this server's settings.")
OUTDATED_COMMAND = Phrase("This command has changed; wait a minute for Discord to update it, then try again.")
BAD_OPTION = Phrase("One of the options has a value this command does not accept.")
INTERNAL = Phrase("Something went wrong on our side; it has been logged, so please try again later.")
# What the storage says when it cannot take a change (bot/storage/: each database's module picks one).
STORE_BUSY = Phrase("The settings database is busy, so nothing was changed; try again in a moment.")
DAMAGED = Phrase(
    "The bot's settings storage is damaged, so nothing was changed; please tell the bot's operator.")
FULL = Phrase("The bot's storage is full, so nothing was changed; please tell the bot's operator.")
MOVED = Phrase("The bot's settings storage was moved or deleted while the bot runs, so nothing was changed; "
               "please tell the bot's operator.")
UNREACHABLE = Phrase(
    "The bot cannot reach its settings database right now, so nothing was changed; try again in a moment.")


class BotError(Exception):
    """An error a user or an operator caused; args[0] is its one sentence."""


class SettingsError(BotError, ValueError):
    """A value outside its range; the message is one sentence for the user."""


class VoiceError(BotError, ValueError):
    """A refusal the person caused; args[0] is the one sentence (a Phrase) they are shown."""


class SettingsStoreError(BotError):
    """The store cannot be opened or used (unwritable path, newer schema...); one sentence."""


class SettingsBusyError(SettingsStoreError):
    """A change waited the whole busy timeout for another process's lock and was not made."""

    def __init__(self) -> None:
        super().__init__(STORE_BUSY)


class SettingsUnavailableError(SettingsStoreError):
    """The store cannot take a change now; str(error) is the one sentence for the admin."""


def sentence_of(error: BaseException) -> str:
    """The sentence an error carries, as given (a Phrase stays one, so it can be said in Korean)."""
    return error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
