"""SQLite's side of storage: how it spells the tables (`SQLITE`, the dialect of
bot/storage/schema.py) and runs their migrations, what can go wrong with the database file under a
running bot, and the one place SQLite's errors (sqlite3's, which aiosqlite raises too) become the
bot's (bot/errors.py): the settings store, the replies table and the voice book all translate here.

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

import aiosqlite

from bot.errors import DAMAGED, FULL, MOVED, SettingsBusyError, SettingsStoreError, SettingsUnavailableError
from bot.storage.schema import SCHEMA_VERSION, Dialect

log = logging.getLogger(__name__)

# STRICT tables: every column's type is checked, as PostgreSQL's are; INTEGER is 64 bits.
SQLITE = Dialect("sqlite", {
    "int": "INTEGER", "bigint": "INTEGER", "real": "REAL", "text": "TEXT",
    "bool": lambda column: f"INTEGER CHECK ({column} IN (0, 1))",
    "timestamp": "TEXT", "now": "(datetime('now'))",
    "identity": "INTEGER PRIMARY KEY", "strict": " STRICT", "notify": "",
})


async def migrate(connection: aiosqlite.Connection, path: Path) -> None:
    """Run the migrations the file lacks (PRAGMA user_version says how many it has), in one
    transaction; SettingsStoreError for a file from a newer bot.

    BEGIN IMMEDIATE takes the write lock first, so two processes starting together cannot both
    apply the same migration; the second waits (busy_timeout), then finds nothing left to do."""
    await connection.execute("BEGIN IMMEDIATE")
    try:
        async with connection.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        if version > SCHEMA_VERSION:
            raise SettingsStoreError(
                f"The settings database {path} has schema version {version}, newer than this bot's "
                f"{SCHEMA_VERSION}; run a newer bot or restore an older backup.")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in statements(SQLITE.migration(number)):
                await connection.execute(statement)
        if version != SCHEMA_VERSION:
            await connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    """A migration's statements, to run one by one: executescript() would COMMIT the open
    transaction first (no migration holds a string literal with a semicolon in it)."""
    return [statement for statement in script.split(";") if statement.strip()]

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


def translated(error: BaseException) -> BaseException:
    """The bot's error for a fault of the file itself (damaged, full, locked past the busy timeout),
    as the settings store words it; `error` itself when it is none of these."""
    if is_damage(error):
        return SettingsUnavailableError(DAMAGED)
    if is_full(error):
        return SettingsUnavailableError(FULL)
    if is_busy(error):
        return SettingsBusyError()
    return error


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
