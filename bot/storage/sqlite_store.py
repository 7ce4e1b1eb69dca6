"""The settings store over one SQLite file (the default database): settings, bot state, replies.

`SqliteSettingsStore` implements bot/storage/settings.py's `SettingsStore`; the tables are
bot/storage/schema.py's, which bot/storage/sqlite.py spells for SQLite and migrates (PRAGMA
user_version records how many have run), as it words the file's faults (damage, a full disk, the
file replaced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from bot.errors import SettingsBusyError, SettingsStoreError
from bot.storage import queries, replies
from bot.storage.bounded import LeastRecentlyUsed
from bot.storage.games import Execute, GuessGames, RoundConflict, T
from bot.storage.replies import REPLY_BUSY_TIMEOUT_MS, ReplyRecord
from bot.storage.settings import (
    BUSY_TIMEOUT_MS,
    DEFAULT_SETTINGS,
    GuildSettings,
    Scope,
    ScopedSettings,
    SettingName,
    check_setting,
    merge_row,
)
from bot.storage.sqlite import StorageGuard, damaged_on_open, is_busy, is_damage, migrate

log = logging.getLogger(__name__)


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
        self.guard = StorageGuard(path)  # damage, a full disk, the file replaced: sqlite.py
        self.replies = RepliesTable(reply_writer, reader, self.guard)  # replies.py
        self.games = GuessGames(SqliteGameTransactions(self.replies))  # /guess's rows: games.py
        self.path = path
        self._cache: LeastRecentlyUsed[tuple[str, int], GuildSettings] = LeastRecentlyUsed()
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
        async with self._reader.execute(queries.read_settings(scope), (owner,)) as cursor:
            row = await cursor.fetchone()
        settings = merge_row(row)
        if writes_seen == self._writes_seen:
            self._cache[(scope, owner)] = settings
        return settings

    async def _write(self, scope: Scope, owner: int, name: SettingName, value: object) -> GuildSettings:
        checked = check_setting(name, value)
        async with self._writing(scope, owner), self._writer.execute(
                queries.write_setting(scope, name, queries.NOW["sqlite"]), (owner, checked)) as cursor:
            row = await cursor.fetchone()
        return merge_row(row)

    async def _delete(self, scope: Scope, owner: int) -> None:
        async with self._writing(scope, owner):
            await self._writer.execute(queries.delete_settings(scope), (owner,))

    async def get_state(self, key: str) -> str | None:
        async with self._reader.execute(queries.READ_STATE, (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def set_state(self, key: str, value: str) -> None:
        await self._writer.execute(queries.WRITE_STATE, (key, value))

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
            async with self._reader.execute(queries.CHECK) as cursor:
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


class RepliesTable:
    """The replies' rows in SQLite: read through the store's read connection, written through
    their own with REPLY_BUSY_TIMEOUT_MS (bot/storage/replies.py)."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection,
                 guard: StorageGuard) -> None:
        self.writer = writer
        self._reader = reader
        self.guard = guard
        self._lock = asyncio.Lock()

    async def save(self, reply: ReplyRecord) -> None:
        now = time.time()
        async with self._writing():
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                await self.writer.execute(queries.INSERT_REPLY, queries.reply_values(reply, now))
                # Read at call time, so a test may lower them.
                await self.writer.execute(queries.PRUNE_REPLIES,
                                          (now - replies.REPLY_TTL_SECONDS, replies.MAX_REPLIES))
                await self.writer.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self.writer.execute("ROLLBACK")
                raise

    async def get(self, key: str) -> ReplyRecord | None:
        try:
            return await self._get(key)
        except sqlite3.DatabaseError as error:
            if not is_damage(error):
                raise
            self.guard.note_damage(error)
            return None

    async def _get(self, key: str) -> ReplyRecord | None:
        async with self._reader.execute(queries.READ_REPLY,
                                        (key, time.time() - replies.REPLY_TTL_SECONDS)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else ReplyRecord.from_row(row)

    async def update(self, key: str, *, body: str, prompt: str) -> None:
        async with self._writing():
            await self.writer.execute(queries.UPDATE_REPLY, (body[:replies.MAX_REPLY_BODY],
                                                              prompt[-replies.MAX_REPLY_PROMPT:], key))

    @contextlib.asynccontextmanager
    async def _writing(self):
        """One reply write of ours at a time; one that waited out its busy timeout is
        SettingsBusyError (nothing written), which the caller turns into a reply without buttons."""
        async with self._lock:
            self.guard.before_write()
            try:
                yield
            except sqlite3.OperationalError as error:
                if is_busy(error):
                    raise SettingsBusyError() from None
                raise self.guard.translate(error) from None
            except sqlite3.DatabaseError as error:
                raise self.guard.translate(error) from None
            self.guard.after_write()


class SqliteGameTransactions:
    """/guess's transactions (bot/storage/games.py): written through the replies' connection and
    lock (a short busy timeout: a vote never waits long), read through the store's reader."""

    def __init__(self, replies: RepliesTable) -> None:
        self.replies = replies

    async def write(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        writer = self.replies.writer
        async with self.replies._writing():
            await writer.execute("BEGIN IMMEDIATE")
            try:
                result = await work(_executor(writer))
                await writer.execute("COMMIT")
            except sqlite3.IntegrityError as error:
                with contextlib.suppress(sqlite3.Error):
                    await writer.execute("ROLLBACK")
                if "one_open_round_per_channel" in str(error) or "UNIQUE" in str(error):
                    raise RoundConflict() from None
                raise
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await writer.execute("ROLLBACK")
                raise
        return result

    async def read(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        return await work(_executor(self.replies._reader))


def _executor(connection: aiosqlite.Connection) -> Execute:
    async def execute(sql: str, args: tuple) -> list[tuple]:
        async with connection.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    return execute


async def _close_all(connections: list[aiosqlite.Connection]) -> None:
    for connection in connections:
        await connection.close()


async def _set_up(connection: aiosqlite.Connection, path: Path, busy_timeout_ms: int) -> None:
    """WAL, durable commits and the schema, retried while another process holds the file.

    Two processes opening a new file together race to switch it to WAL, and SQLite answers the
    loser "database is locked" at once instead of waiting out busy_timeout (seen in
    tests/bot/storage/test_sqlite_store.py); so this step retries for as long as busy_timeout would
    have waited."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            await connection.execute("PRAGMA journal_mode = WAL")
            # FULL: a change is on disk before the admin is told it succeeded (survives kill -9
            # and power loss alike); settings writes are rare, so the extra fsync costs nothing.
            await connection.execute("PRAGMA synchronous = FULL")
            await migrate(connection, path)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def _quick_check(connection: aiosqlite.Connection, path: Path) -> None:
    """SQLite's own structural check of every page (not of index contents: that is integrity_check,
    too slow for every start), so a damaged file is refused at start rather than at the first read."""
    async with connection.execute("PRAGMA quick_check(1)") as cursor:
        (verdict,) = await cursor.fetchone()
    if verdict != "ok":
        raise SettingsStoreError(damaged_on_open(path, verdict))
