"""Per-guild settings: defaults in code, only an admin's changes stored, in SQLite.

Red-DiscordBot's rule: defaults live here and are merged on read, never written, so changing a
default in code reaches every server that did not choose otherwise. A row holds NULL for every
setting the admin left alone; `/settings reset` deletes the row.

`SettingsStore` is the interface the commands use; `SqliteSettingsStore` is the one shipped. A
server database (PostgreSQL for bots run on several hosts) would implement the same few methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol, get_args

import aiosqlite

from bot.i18n import Phrase
from bot.names import VOICE_PREFIX
from bot.replies_store import REPLY_BUSY_TIMEOUT_MS, RepliesTable, ReplyRecord
from bot.storage_faults import (
    SettingsBusyError,
    SettingsStoreError,
    StorageGuard,
    damaged_on_open,
    is_busy,
    is_damage,
)
from charlm.sampling import DEFAULT_LENGTH, DEFAULT_TEMPERATURE

log = logging.getLogger(__name__)

# The ranges an admin (and a /shakespeare option) may choose. The command options' Range
# annotations use these constants; the schema's CHECK constraints repeat the numbers, because a
# migration, once shipped, must not change when a constant does (tests check they agree).
MIN_TEMPERATURE = 0.1
MAX_TEMPERATURE = 2.0
MIN_LENGTH = 1
MAX_LENGTH = 1500
# One /shakespeare may ask for more than a server's default: past one message, the whole text comes
# as a file (bot/commands/replies.py). The engine's own limit, charlm.engine.MAX_GENERATE_LENGTH.
MAX_REQUEST_LENGTH = 10_000
MAX_MODEL_NAME_LENGTH = 32

SettingName = Literal["temperature", "length", "model"]
SETTING_NAMES: tuple[SettingName, ...] = get_args(SettingName)


@dataclass(frozen=True)
class GuildSettings:
    """The settings /shakespeare generates with: a server's, or a person's own where the server's
    do not apply (DMs, group DMs, servers that only their own install of the bot reaches)."""

    temperature: float = DEFAULT_TEMPERATURE
    length: int = DEFAULT_LENGTH
    model: str = "lstm"
    # The settings an admin chose; the others are the defaults above.
    changed: frozenset[str] = field(default=frozenset(), compare=False)


DEFAULT_SETTINGS = GuildSettings()


class SettingsError(ValueError):
    """A value outside its range; the message is one sentence for the user."""




def check_temperature(value: object) -> float:
    """The value as a float, or SettingsError; also refuses what a forged interaction can carry."""
    # A range check by comparison: false for NaN and infinities, and no OverflowError for 10**400.
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        return float(value)
    raise SettingsError(Phrase("Temperature must be a number from {low} to {high}.", low=MIN_TEMPERATURE,
                               high=MAX_TEMPERATURE))


def check_length(value: object, most: int = MAX_LENGTH) -> int:
    """A setting's length (at most MAX_LENGTH), or one request's (`most`=MAX_REQUEST_LENGTH)."""
    # A float such as 300.0 is refused too: Discord sends integers for an integer option.
    if isinstance(value, int) and not isinstance(value, bool) and MIN_LENGTH <= value <= most:
        return value
    raise SettingsError(Phrase("Length must be a whole number from {low} to {high}.", low=MIN_LENGTH,
                               high=most))


def check_model_name(value: object) -> str:
    """A plausible model name, or a server voice's ("voice:lore"); whether that model is loaded, or
    the voice exists, is the caller's question."""
    name = value.removeprefix(VOICE_PREFIX) if isinstance(value, str) else None
    if (name and isinstance(value, str) and len(value) <= MAX_MODEL_NAME_LENGTH
            and name.replace("-", "").replace("_", "").isalnum() and name.isascii()):
        return value
    raise SettingsError(Phrase("Model must be the name of one of the bot's models, such as lstm."))


_CHECKS = {"temperature": check_temperature, "length": check_length, "model": check_model_name}


def check_setting(name: str, value: object) -> float | int | str:
    if name not in _CHECKS:
        raise SettingsError(Phrase("There is no setting called {name}.", name=repr(name[:40])))
    return _CHECKS[name](value)


class SettingsStore(Protocol):
    """What the bot needs from settings storage; every method is safe to call concurrently."""

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings, defaults merged with what its admins changed."""

    async def set_value(self, guild_id: int, name: SettingName, value: object) -> GuildSettings:
        """Check and store one setting durably, then return the guild's new settings."""

    async def reset(self, guild_id: int) -> None:
        """Forget every change the guild's admins made."""

    async def get_user(self, user_id: int) -> GuildSettings:
        """A person's own defaults, used where no server's settings apply."""

    async def set_user_value(self, user_id: int, name: SettingName, value: object) -> GuildSettings:
        """Check and store one of a person's own defaults durably; return their new settings."""

    async def reset_user(self, user_id: int) -> None:
        """Forget every default the person chose."""

    async def get_state(self, key: str) -> str | None:
        """A bot-wide value, such as the hash of the last command set synced to Discord."""

    async def set_state(self, key: str, value: str) -> None: ...

    async def save_reply(self, reply: ReplyRecord) -> None:
        """Store durably what the buttons under a reply need; old and surplus replies go."""

    async def get_reply(self, key: str) -> ReplyRecord | None:
        """The reply stored under `key`, or None when there is none (never was, or expired)."""

    async def update_reply(self, key: str, *, body: str, prompt: str) -> None:
        """Record that the message was extended: what it shows now and the text so far."""

    async def check(self) -> None:
        """Raise SettingsStoreError unless the store can be read now (used by the heartbeat)."""

    async def close(self) -> None: ...


# Numbered migrations, applied in order; PRAGMA user_version records how many have run. Never edit
# a shipped one: append a new one. NULL in a setting column means "use the default".
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE guild_settings (
        guild_id    INTEGER PRIMARY KEY CHECK (guild_id > 0),
        temperature REAL CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      INTEGER CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       TEXT CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
    ) STRICT;
    """,
    """
    CREATE TABLE bot_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    """,
    """
    CREATE TABLE replies (
        key          TEXT PRIMARY KEY CHECK (length(key) = 16),
        requester_id INTEGER NOT NULL CHECK (requester_id > 0),
        seed         TEXT NOT NULL CHECK (length(seed) <= 2000),
        model        TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 32),
        temperature  REAL NOT NULL CHECK (temperature BETWEEN 0.1 AND 2.0),
        length       INTEGER NOT NULL CHECK (length BETWEEN 1 AND 10000),
        body         TEXT NOT NULL CHECK (length(body) <= 2000),
        prompt       TEXT NOT NULL CHECK (length(prompt) BETWEEN 1 AND 2000),
        continued    INTEGER NOT NULL CHECK (continued IN (0, 1)),
        created_at   REAL NOT NULL
    ) STRICT;
    CREATE INDEX replies_by_age ON replies (created_at);
    """,
    """
    CREATE TABLE user_settings (
        user_id     INTEGER PRIMARY KEY CHECK (user_id > 0),
        temperature REAL CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      INTEGER CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       TEXT CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
    ) STRICT;
    """,
    # Server voices (bot/voices/): the trained ones, and the jobs that train them. At most one job
    # per server is queued or running (the partial unique index), whichever process adds it.
    """
    CREATE TABLE voices (
        guild_id    INTEGER NOT NULL CHECK (guild_id > 0),
        name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base        TEXT NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        file        TEXT NOT NULL,
        bits_before REAL NOT NULL,
        bits_after  REAL NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (guild_id, name)
    ) STRICT;
    CREATE TABLE voice_jobs (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL CHECK (guild_id > 0),
        name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base         TEXT NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        requester_id INTEGER NOT NULL CHECK (requester_id > 0),
        text_file    TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        progress     REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        bits_before  REAL,
        bits_now     REAL,
        seconds_left REAL,
        reason       TEXT,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL,
        heartbeat_at REAL
    ) STRICT;
    CREATE UNIQUE INDEX one_live_job_per_guild ON voice_jobs (guild_id) WHERE state IN ('queued', 'running');
    """,
)
# Whose settings: a server's (its admins choose) or a person's own; table and key column of each.
Scope = Literal["guild", "user"]
SCOPES: dict[str, tuple[str, str]] = {"guild": ("guild_settings", "guild_id"),
                                      "user": ("user_settings", "user_id")}
SCHEMA_VERSION = len(MIGRATIONS)

# Several bot processes (shards) may share one file: a writer waits this long for another's lock.
BUSY_TIMEOUT_MS = 10_000


class ScopedSettings:
    """The protocol's settings methods, for a store that implements them once per scope: a
    server's (`guild_settings`) and a person's own (`user_settings`), through _read, _write, _delete."""

    async def _read(self, scope: Scope, owner: int) -> GuildSettings:
        raise NotImplementedError

    async def _write(self, scope: Scope, owner: int, name: SettingName, value: object) -> GuildSettings:
        raise NotImplementedError

    async def _delete(self, scope: Scope, owner: int) -> None:
        raise NotImplementedError

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._read("guild", guild_id)

    async def set_value(self, guild_id: int, name: SettingName, value: object) -> GuildSettings:
        return await self._write("guild", guild_id, name, value)

    async def reset(self, guild_id: int) -> None:
        await self._delete("guild", guild_id)

    async def get_user(self, user_id: int) -> GuildSettings:
        return await self._read("user", user_id)

    async def set_user_value(self, user_id: int, name: SettingName, value: object) -> GuildSettings:
        return await self._write("user", user_id, name, value)

    async def reset_user(self, user_id: int) -> None:
        await self._delete("user", user_id)


class SqliteSettingsStore(ScopedSettings):
    """SettingsStore over one SQLite file in WAL mode, with a read cache.

    Two connections: writes go through one, reads through the other. aiosqlite runs a connection's
    statements one at a time, so with a single connection a write waiting out another process's
    lock (up to BUSY_TIMEOUT_MS) would hold up every read, and with it every command; in WAL mode
    the read connection goes on reading the last committed rows meanwhile.

    The cache is dropped whenever `PRAGMA data_version` on the read connection shows that another
    connection committed (our own writer or another shard process), so a cached value is never
    older than the newest commit by anyone. A read puts its row into the cache only if no write of
    ours ended while it ran, so it cannot put an old row back after a write.
    """

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection,
                 reply_writer: aiosqlite.Connection, path: Path) -> None:
        self._writer = writer
        self._reader = reader
        # Replies are written through their own connection with a short busy timeout, so a settings
        # change waiting for a lock never holds up a /shakespeare reply (REPLY_BUSY_TIMEOUT_MS).
        self.guard = StorageGuard(path)  # damage, a full disk, the file replaced: bot/storage_faults.py
        self.replies = RepliesTable(reply_writer, reader, self.guard)  # bot/replies_store.py
        self.path = path
        self._cache: dict[tuple[str, int], GuildSettings] = {}
        self._data_version: int | None = None
        # Bumped each time a write of ours ends (see get).
        self._writes_seen = 0
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> SqliteSettingsStore:
        """Open (creating and migrating when needed) the file at `path`; `busy_timeout_ms` is how
        long a write waits for another process's lock before it gives up."""
        path = Path(path)
        opened: list[aiosqlite.Connection] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we say when transactions begin; single statements autocommit.
            opened.append(await aiosqlite.connect(path, isolation_level=None))
            await opened[0].execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await _set_up(opened[0], path, busy_timeout_ms)
            await _quick_check(opened[0], path)
            opened.append(await aiosqlite.connect(path, isolation_level=None))
            await opened[1].execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await opened[1].execute("PRAGMA query_only = ON")  # this one never writes
            opened.append(await aiosqlite.connect(path, isolation_level=None))
            reply_timeout = min(int(busy_timeout_ms), REPLY_BUSY_TIMEOUT_MS)
            await opened[2].execute(f"PRAGMA busy_timeout = {reply_timeout}")
            await opened[2].execute("PRAGMA synchronous = FULL")
        except (OSError, sqlite3.Error) as error:
            await _close_all(opened)
            if is_damage(error):
                raise SettingsStoreError(damaged_on_open(path, str(error))) from None
            verb = "use" if opened else "open"
            raise SettingsStoreError(f"Cannot {verb} the settings database {path} ({error}).") from None
        except BaseException:
            await _close_all(opened)
            raise
        return cls(opened[0], opened[1], opened[2], path)

    async def _read(self, scope: Scope, owner: int) -> GuildSettings:
        try:
            return await self._read_cached(scope, owner)
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            self.guard.note_damage(error)  # serve the defaults; changes are refused meanwhile
            return DEFAULT_SETTINGS

    async def _read_cached(self, scope: Scope, owner: int) -> GuildSettings:
        await self._drop_cache_if_others_wrote()
        cached = self._cache.get((scope, owner))
        if cached is not None:
            return cached
        writes_seen = self._writes_seen
        table, key = SCOPES[scope]
        async with self._reader.execute(
            f"SELECT temperature, length, model FROM {table} WHERE {key} = ?", (owner,)
        ) as cursor:
            row = await cursor.fetchone()
        settings = _merge(row)
        if writes_seen == self._writes_seen:
            self._cache[(scope, owner)] = settings
        return settings

    async def _write(self, scope: Scope, owner: int, name: SettingName, value: object) -> GuildSettings:
        checked = check_setting(name, value)
        table, key = SCOPES[scope]
        # `name` is one of three known column names (check_setting refused anything else); table
        # and key come from SCOPES. RETURNING hands back the row this very statement wrote, so the
        # reply states the value this person chose even when other changes queue right behind it.
        async with self._writing(scope, owner), self._writer.execute(
            f"INSERT INTO {table} ({key}, {name}) VALUES (?, ?) "
            f"ON CONFLICT ({key}) DO UPDATE SET {name} = excluded.{name}, "
            "updated_at = datetime('now') RETURNING temperature, length, model",
            (owner, checked),
        ) as cursor:
            row = await cursor.fetchone()
        return _merge(row)

    async def _delete(self, scope: Scope, owner: int) -> None:
        table, key = SCOPES[scope]
        async with self._writing(scope, owner):
            await self._writer.execute(f"DELETE FROM {table} WHERE {key} = ?", (owner,))

    async def get_state(self, key: str) -> str | None:
        async with self._reader.execute("SELECT value FROM bot_state WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def set_state(self, key: str, value: str) -> None:
        await self._writer.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def save_reply(self, reply: ReplyRecord) -> None:
        await self.replies.save(reply)

    async def get_reply(self, key: str) -> ReplyRecord | None:
        return await self.replies.get(key)

    async def update_reply(self, key: str, *, body: str, prompt: str) -> None:
        await self.replies.update(key, body=body, prompt=prompt)

    async def check(self) -> None:
        problem = self.guard.problem()
        if problem is not None:
            raise SettingsStoreError(problem)
        try:
            async with self._reader.execute("SELECT count(*) FROM guild_settings") as cursor:
                await cursor.fetchone()
        except (sqlite3.Error, ValueError) as error:  # ValueError: the connection was closed
            raise SettingsStoreError(f"The settings database {self.path} cannot be read ({error}).") from None

    async def close(self) -> None:
        await _close_all([self._writer, self._reader, self.replies.writer])

    @contextlib.asynccontextmanager
    async def _writing(self, scope: Scope, owner: int):
        """One write of ours at a time. When it ends the owner's cached row is dropped, and a read
        that was still running does not cache what it read, so the next read fetches the new row.
        (Until the write commits, the cached row is the committed one.) A write that waited out the
        busy timeout becomes SettingsBusyError (SQLite wrote nothing)."""
        async with self._write_lock:
            try:
                self.guard.before_write()
                yield
                self.guard.after_write()
            except sqlite3.DatabaseError as error:
                translated = self.guard.translate(error)
                if translated is not error:
                    raise translated from None
                if not is_busy(error):
                    raise
                log.warning("A settings change for %s %s gave up waiting for the database lock on "
                            "%s (%s); another process held it the whole busy timeout.",
                            scope, owner, self.path, error)
                raise SettingsBusyError() from None
            finally:
                self._writes_seen += 1
                self._cache.pop((scope, owner), None)

    async def _drop_cache_if_others_wrote(self) -> None:
        async with self._reader.execute("PRAGMA data_version") as cursor:
            (version,) = await cursor.fetchone()
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version


async def _close_all(connections: list[aiosqlite.Connection]) -> None:
    for connection in connections:
        await connection.close()


def _merge(row: tuple | None) -> GuildSettings:
    if row is None:
        return DEFAULT_SETTINGS
    stored = {name: value for name, value in zip(SETTING_NAMES, row, strict=True) if value is not None}
    return replace(DEFAULT_SETTINGS, **stored, changed=frozenset(stored))


async def _set_up(connection: aiosqlite.Connection, path: Path, busy_timeout_ms: int) -> None:
    """WAL, durable commits and the schema, retried while another process holds the file.

    Two processes opening a new file together race to switch it to WAL, and SQLite answers the
    loser "database is locked" at once instead of waiting out busy_timeout (seen in
    tests/bot/test_store.py); so this step retries for as long as busy_timeout would have waited."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a change is on disk before the admin is told it succeeded (survives kill -9
            # and power loss alike); settings writes are rare, so the extra fsync costs nothing.
            await connection.execute("PRAGMA synchronous = FULL")
            await _migrate(connection, path)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _migrate(connection: aiosqlite.Connection, path: Path) -> None:
    # BEGIN IMMEDIATE takes the write lock first, so two processes starting together cannot both
    # apply the same migration; the second waits (busy_timeout), then finds nothing left to do.
    await connection.execute("BEGIN IMMEDIATE")
    try:
        async with connection.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        if version > SCHEMA_VERSION:
            raise SettingsStoreError(
                f"The settings database {path} has schema version {version}, newer than this bot's "
                f"{SCHEMA_VERSION}; run a newer bot or restore an older backup."
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in _statements(MIGRATIONS[number]):
                await connection.execute(statement)
        if version != SCHEMA_VERSION:
            await connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await connection.execute("COMMIT")
    except BaseException:
        await connection.execute("ROLLBACK")
        raise


async def _quick_check(connection: aiosqlite.Connection, path: Path) -> None:
    """SQLite's own structural check of every page (not of index contents: that is integrity_check,
    too slow for every start), so a damaged file is refused at start rather than at the first read."""
    async with connection.execute("PRAGMA quick_check(1)") as cursor:
        (verdict,) = await cursor.fetchone()
    if verdict != "ok":
        raise SettingsStoreError(damaged_on_open(path, verdict))


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our open transaction first; run the statements one by one
    # (migrations hold no string literal with a semicolon in it).
    return [statement for statement in script.split(";") if statement.strip()]
