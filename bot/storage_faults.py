"""What can go wrong with the settings file under a running bot, and what each becomes (and the
store's errors themselves, which bot/store.py and bot/replies_store.py both raise).

An operator's mistakes and bad luck, each turned into one sentence for the admin who asked, one
log line for the operator (not a traceback per attempt), and a failing health check where the bot
cannot keep its promises until someone acts:

- damaged pages (a torn copy, a half-restored backup): SQLite says "malformed" or "not a
  database". Found when the file is opened (`PRAGMA quick_check`) the bot refuses to start; found
  later, reads fall back to the defaults, changes are refused, and the health check fails.
- a full disk (SQLITE_FULL): the change is refused, the admin told the storage is full.
- the file deleted or replaced while the bot runs (its device and inode are not the ones opened):
  a change written now would go to a file no restart sees, so changes are refused and the health
  check fails until the bot is restarted.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from bot.i18n import Phrase

log = logging.getLogger(__name__)

DAMAGED = Phrase(
    "The bot's settings storage is damaged, so nothing was changed; please tell the bot's operator.")
FULL = Phrase("The bot's storage is full, so nothing was changed; please tell the bot's operator.")
MOVED = Phrase("The bot's settings storage was moved or deleted while the bot runs, so nothing was changed; "
               "please tell the bot's operator.")


class SettingsStoreError(Exception):
    """The store cannot be opened or used (unwritable path, newer schema...); one sentence."""


class SettingsBusyError(SettingsStoreError):
    """A change waited the whole busy timeout for another process's lock and was not made."""

    def __init__(self) -> None:
        super().__init__(
            Phrase("The settings database is busy, so nothing was changed; try again in a moment."))


class SettingsUnavailableError(Exception):
    """The store cannot take a change now; str(error) is the one sentence for the admin."""


def is_damage(error: BaseException) -> bool:
    """SQLite's SQLITE_CORRUPT and SQLITE_NOTADB, as Python's sqlite3 reports them."""
    text = str(error)
    return isinstance(error, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text)


def is_busy(error: BaseException) -> bool:
    """Another connection held the lock for the whole busy timeout (SQLITE_BUSY, SQLITE_LOCKED)."""
    text = str(error)
    return isinstance(error, sqlite3.DatabaseError) and ("locked" in text or "busy" in text)


def is_full(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


def damaged_on_open(path: Path, detail: str) -> str:
    """The sentence for a damaged file at start (the bot then exits with status 2)."""
    return (f"The settings database {path} is damaged ({detail}); stop the bot, restore it from a backup "
            "(docs/deploy.md, Backups) and start again.")


class StorageGuard:
    """The state of one opened settings file, as the store's reads, writes and health check see it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = _identity(path)
        self.damaged: str | None = None
        self._full_logged = False
        self._moved_logged = False

    def before_write(self) -> None:
        """Refuse a write that could not be durable: the file is damaged, or no longer ours."""
        if self.damaged is not None:
            raise SettingsUnavailableError(DAMAGED)
        if _identity(self.path) != self.identity:
            if not self._moved_logged:
                self._moved_logged = True
                log.error("The settings database %s was deleted or replaced while the bot runs; changes "
                          "are refused and the health check fails until the bot is restarted.", self.path)
            raise SettingsUnavailableError(MOVED)

    def after_write(self) -> None:
        self._full_logged = False

    def translate(self, error: BaseException) -> BaseException:
        """The error a failed read or write becomes (the same one if it is none of these)."""
        if is_damage(error):
            self.note_damage(error)
            return SettingsUnavailableError(DAMAGED)
        if is_full(error):
            if not self._full_logged:
                self._full_logged = True
                log.error("The disk holding the settings database %s is full (%s); changes are refused "
                          "until there is room.", self.path, error)
            return SettingsUnavailableError(FULL)
        return error

    def note_damage(self, error: BaseException) -> None:
        if self.damaged is None:
            self.damaged = str(error)
            log.error("The settings database %s is damaged (%s): serving the defaults, refusing changes, "
                      "and failing the health check; restore it from a backup (docs/deploy.md).",
                      self.path, error)

    def problem(self) -> str | None:
        """Why the health check must fail, or None."""
        if self.damaged is not None:
            return f"The settings database {self.path} is damaged ({self.damaged})."
        if _identity(self.path) != self.identity:
            return f"The settings database {self.path} was deleted or replaced since the bot opened it."
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
