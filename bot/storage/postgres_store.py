"""Settings, bot state and replies in PostgreSQL (psycopg 3, async): the store for bots on several hosts.

Chosen by DATABASE_URL (bot/storage/__init__.py `open_store`); SQLite (sqlite_store.py) stays the
default. It keeps SqliteSettingsStore's behaviour and guarantees:

- Defaults live in code and are merged on read; NULL in a column means "the default"; a reset
  deletes the row. Values are checked by bot/storage/settings.py's check_* functions, and the
  schema's CHECK constraints repeat the same ranges (temperatures are double precision, like Python's floats).
- bot/storage/schema.py's migrations, as bot/storage/postgres.py spells and runs them: one row per
  migration in `schema_migrations`, in one transaction under `pg_advisory_xact_lock`, so processes
  starting at the same moment apply each exactly once.
- A change is returned only after its transaction committed (synchronous_commit on). Changes to
  one owner's settings made by this process are applied in the order they were asked for.
- The read cache (per scope and id) stays right across processes and hosts: a trigger on the
  settings tables calls pg_notify in the writing transaction, and every store LISTENs on its own
  connection; a notification drops that owner's cached row (delivered at commit, milliseconds
  later; the watcher task reads them with psycopg's `notifies()`). While the LISTEN connection is
  down, nothing is cached; the watcher pings it every WATCH_SECONDS and opens it again.
- The database unreachable: `open` fails with one sentence; while running, settings reads serve
  the last settings this process read (or wrote), else the defaults, and log which once; changes,
  replies and state raise SettingsUnavailableError (one sentence for the user); `check()` raises,
  so the heartbeat stops and the health check fails. When the database answers again (the watcher
  tries every second), everything works again by itself.

Server voices live here too (migration 5), with their uploaded texts and trained weights, so hosts
share no folder: bot/storage/pg_voices.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from bot.errors import FULL, UNREACHABLE, SettingsBusyError, SettingsStoreError, SettingsUnavailableError
from bot.storage import queries, replies
from bot.storage.bounded import LeastRecentlyUsed
from bot.storage.games import GuessGames
from bot.storage.pg_games import PostgresGameTransactions
from bot.storage.postgres import (
    BUSY_ERRORS,
    FULL_ERRORS,
    UNREACHABLE_ERRORS,
    Pool,
    close_quietly,
    connect,
    describe,
    migrate,
    placeholders,
    reaching,
    reason,
)
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

log = logging.getLogger(__name__)

# What a read or a write does on the connection it is given.
Work = Callable[[psycopg.AsyncConnection], Awaitable[Any]]

CHANNEL = "bot_settings_changed"
CONNECT_TIMEOUT = 5.0
# A settings read that takes longer is served from the cache or the defaults: commands must be
# acknowledged within Discord's 3 s.
READ_TIMEOUT = 2.0
# Storing a reply's buttons: past this the reply goes out without them (as with SQLite's lock).
REPLY_TIMEOUT = 2.0
# How often the watcher pings the LISTEN connection (and, while it or the database is away, tries
# again); a LISTEN connection lost without a word (a network cut) is noticed within about 2x this.
WATCH_SECONDS = 1.0
# Connections of the pool that only reads may use (see _write_slots).
READ_CONNECTIONS = 2

async def fetch_row(connection: psycopg.AsyncConnection, sql: str, *args: object) -> tuple | None:
    """The first row `sql` returns (%s placeholders), or None."""
    cursor = await connection.execute(sql, args or None)
    return await cursor.fetchone()


async def fetch_value(connection: psycopg.AsyncConnection, sql: str, *args: object) -> Any:
    """The first column of the first row `sql` returns, or None."""
    row = await fetch_row(connection, sql, *args)
    return None if row is None else row[0]

class PostgresSettingsStore(ScopedSettings):
    """SettingsStore over a PostgreSQL database: a small connection pool for reads and writes, and
    one more connection that LISTENs for other processes' changes (see the module doc)."""

    def __init__(self, pool: Pool, url: str, pool_size: int, busy_timeout_ms: int) -> None:
        self._pool = pool
        self._url = url
        self.where = describe(url)
        self.pool_size = pool_size
        # Writes may wait for another's lock (up to busy_timeout_ms) holding their connection: they
        # get at most all but READ_CONNECTIONS of the pool, so reads never queue behind them.
        self._write_slots = asyncio.Semaphore(max(1, pool_size - READ_CONNECTIONS))
        self.busy_timeout_ms = busy_timeout_ms
        self._write_timeout = busy_timeout_ms / 1000 + CONNECT_TIMEOUT
        # Trusted: used only while the LISTEN connection is up (so every change drops its row).
        self._cache: LeastRecentlyUsed[tuple[str, int], GuildSettings] = LeastRecentlyUsed()
        # The last settings this process read or wrote per owner: served only while the database
        # cannot be reached.
        self._last: LeastRecentlyUsed[tuple[str, int], GuildSettings] = LeastRecentlyUsed()
        # Bumped by every notification, write of ours and LISTEN change: a read caches its row only
        # if this did not move while it ran, so it cannot put an old row back after a change.
        self._generation = 0
        self._listener: psycopg.AsyncConnection | None = None
        self._listening = False
        # Why the database cannot be reached, while it cannot; None while it answers.
        self._down: str | None = None
        self._fallback_logged: set[str] = set()
        self._owner_locks: dict[tuple[str, int], list[Any]] = {}
        self._closed = False
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        # /guess's rows: bot/storage/games.py
        self.games = GuessGames(PostgresGameTransactions(self, READ_TIMEOUT))

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 5,
                   busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> PostgresSettingsStore:
        """Connect, migrate when needed and start listening; SettingsStoreError (one sentence) when
        the database cannot be reached or used. `busy_timeout_ms`: how long a change waits for a
        lock another transaction holds (SQLite's busy timeout) before it gives up."""
        where = describe(url)
        pool: Pool | None = None
        store: PostgresSettingsStore | None = None
        try:
            pool = Pool(url, pool_size, "shakespeare-bot", CONNECT_TIMEOUT)
            async with pool.acquire(timeout=CONNECT_TIMEOUT) as connection:
                await migrate(connection, where)
            store = cls(pool, url, pool_size, busy_timeout_ms)
            await store._listen()
        except BaseException as error:
            if store is not None:
                await store.close()
            elif pool is not None:
                await pool.close()
            if isinstance(error, SettingsStoreError):
                raise
            if isinstance(error, (*UNREACHABLE_ERRORS, psycopg.Error, ValueError)):
                raise SettingsStoreError(
                    f"Cannot use the settings database at {where} ({reason(error, url)}); check "
                    "DATABASE_URL and that PostgreSQL is running.") from None
            raise
        store._watcher = asyncio.create_task(store._watch(), name="settings-db-watcher")
        return store

    # -- settings --

    async def _read(self, scope: Scope, owner: int) -> GuildSettings:
        key = (scope, owner)
        cached = self._cache.get(key)
        if cached is not None and self._listening:
            return cached
        if self._down is not None:
            return self._fallback(key)
        generation = self._generation
        try:
            row = await self._run(
                lambda connection: fetch_row(connection, placeholders(queries.read_settings(scope)), owner),
                READ_TIMEOUT)
        except UNREACHABLE_ERRORS as error:
            self._note_down(error)
            return self._fallback(key)
        settings = merge_row(row)
        if generation == self._generation:
            # Listening turning on or off moves the generation, so it was on the whole time.
            if self._listening:
                self._cache[key] = settings
            self._last[key] = settings
        return settings

    async def _write(self, scope: Scope, owner: int, name: SettingName, value: object) -> GuildSettings:
        checked = check_setting(name, value)
        statement = placeholders(queries.write_setting(scope, name, queries.NOW["postgres"]))
        async with self._changing(scope, owner):
            row = await self._transaction(lambda connection: fetch_row(connection, statement, owner, checked),
                                          self.busy_timeout_ms, self._write_timeout)
        settings = merge_row(row)
        self._last[(scope, owner)] = settings
        return settings

    async def _delete(self, scope: Scope, owner: int) -> None:
        async with self._changing(scope, owner):
            await self._transaction(
                lambda connection: connection.execute(placeholders(queries.delete_settings(scope)), (owner,)),
                self.busy_timeout_ms, self._write_timeout)
        self._last[(scope, owner)] = DEFAULT_SETTINGS

    # -- bot state --

    async def get_state(self, key: str) -> str | None:
        return await self._guarded(
            lambda connection: fetch_value(connection, placeholders(queries.READ_STATE), key),
            READ_TIMEOUT)

    async def set_state(self, key: str, value: str) -> None:
        await self._guarded_write(
            lambda connection: connection.execute(placeholders(queries.WRITE_STATE), (key, value)),
            self.busy_timeout_ms, self._write_timeout)

    # -- replies (the same bounds as bot/replies.py) --

    async def save_reply(self, reply: ReplyRecord) -> None:
        now = time.time()

        async def save(connection: psycopg.AsyncConnection) -> None:
            await connection.execute(placeholders(queries.INSERT_REPLY), queries.reply_values(reply, now))
            # Read at call time, so a test may lower them.
            await connection.execute(placeholders(queries.PRUNE_REPLIES),
                                     (now - replies.REPLY_TTL_SECONDS, replies.MAX_REPLIES))

        await self._guarded_write(save, REPLY_BUSY_TIMEOUT_MS, REPLY_TIMEOUT)

    async def get_reply(self, key: str) -> ReplyRecord | None:
        row = await self._guarded(
            lambda connection: fetch_row(
                connection, placeholders(queries.READ_REPLY),
                key, time.time() - replies.REPLY_TTL_SECONDS),
            READ_TIMEOUT)
        return None if row is None else ReplyRecord.from_row(row)

    async def update_reply(self, key: str, *, body: str, prompt: str) -> None:
        await self._guarded_write(
            lambda connection: connection.execute(
                placeholders(queries.UPDATE_REPLY),
                (body[:replies.MAX_REPLY_BODY], prompt[-replies.MAX_REPLY_PROMPT:], key)),
            REPLY_BUSY_TIMEOUT_MS, REPLY_TIMEOUT)

    # -- health and closing --

    async def check(self) -> None:
        if self._closed:
            raise SettingsStoreError(f"The settings database at {self.where} was closed.")
        if self._down is None:
            try:
                await self._run(lambda connection: fetch_value(
                    connection, queries.CHECK), READ_TIMEOUT)
                return
            except UNREACHABLE_ERRORS as error:
                self._note_down(error)
        raise SettingsStoreError(f"The settings database at {self.where} cannot be reached ({self._down}).")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_listening()
        if self._watcher is not None:
            # psycopg may swallow a cancellation (psycopg/psycopg#1371): the watcher also stops
            # at its next turn on _closed, and this wait is bounded either way.
            self._watcher.cancel()
            await asyncio.wait({self._watcher}, timeout=3 * WATCH_SECONDS)
        await self._close_listener()
        await self._pool.close()

    # -- how reads and writes reach the database --

    async def _run(self, work: Work, timeout: float) -> Any:
        """`work` on a pooled connection, all within `timeout` seconds. A connection the server
        dropped since it was last used (a restart, a failover) fails at once; it is replaced, with
        every other idle one, and the work tried once more."""
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            try:
                async with self._pool.acquire(timeout=max(deadline - time.monotonic(), 0.001)) as connection:
                    return await asyncio.wait_for(work(connection), max(deadline - time.monotonic(), 0.001))
            except UNREACHABLE_ERRORS as error:
                if attempt == 2 or self._closed or isinstance(error, asyncio.TimeoutError):
                    raise
                with contextlib.suppress(*UNREACHABLE_ERRORS):
                    await self._pool.expire_connections()
        raise AssertionError("unreachable")

    async def _transaction(self, work: Work, lock_timeout_ms: int,
                           timeout: float) -> Any:
        """`work` in a transaction that waits at most `lock_timeout_ms` for another's lock; returns
        once the transaction has committed."""
        async def in_transaction(connection: psycopg.AsyncConnection) -> Any:
            async with connection.transaction():
                await connection.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}; "
                                         "SET LOCAL synchronous_commit = on")
                return await work(connection)

        try:
            await asyncio.wait_for(self._write_slots.acquire(), timeout)
        except asyncio.TimeoutError:
            raise SettingsBusyError() from None  # this process's other writes held every slot
        try:
            return await self._run(in_transaction, timeout)
        finally:
            self._write_slots.release()

    async def _guarded(self, work: Work, timeout: float) -> Any:
        """A read with no fallback (state, replies): SettingsUnavailableError while unreachable."""
        if self._down is not None:
            raise SettingsUnavailableError(UNREACHABLE)
        try:
            return await self._run(work, timeout)
        except UNREACHABLE_ERRORS as error:
            self._note_down(error)
            raise SettingsUnavailableError(UNREACHABLE) from None

    async def _guarded_write(self, work: Work, lock_timeout_ms: int,
                             timeout: float) -> Any:
        with self._write_errors("bot state or a reply"):
            return await self._transaction(work, lock_timeout_ms, timeout)

    @contextlib.asynccontextmanager
    async def _changing(self, scope: Scope, owner: int):
        """One change per owner at a time, in the order asked (asyncio.Lock is fair). When it ends
        the owner's cached row is dropped, and a read still running does not cache what it read.
        (The trigger's notification drops it too, here and in every other process.)"""
        key = (scope, owner)
        entry = self._owner_locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                try:
                    with self._write_errors(f"{scope} {owner}"):
                        yield
                finally:
                    self._generation += 1
                    self._cache.pop(key, None)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._owner_locks[key]

    @contextlib.contextmanager
    def _write_errors(self, what: str):
        """A change refused while the database cannot be reached, or that met it unreachable, is
        SettingsUnavailableError; one that waited out the lock timeout, SettingsBusyError."""
        if self._down is not None:
            raise SettingsUnavailableError(UNREACHABLE)
        try:
            yield
        except FULL_ERRORS as error:
            log.error("The settings database at %s is out of disk space (%s); changes are refused.",
                      self.where, reason(error, self._url))
            raise SettingsUnavailableError(FULL) from None
        except BUSY_ERRORS as error:
            log.warning("A change of %s gave up waiting for a lock in the settings database at %s (%s); "
                        "another transaction held it the whole timeout.", what, self.where,
                        reason(error, self._url))
            raise SettingsBusyError() from None
        except UNREACHABLE_ERRORS as error:
            self._note_down(error)
            raise SettingsUnavailableError(UNREACHABLE) from None

    def _note_down(self, error: BaseException) -> None:
        if self._closed:
            return
        if self._down is None:
            self._down = reason(error, self._url)
            log.error("The settings database at %s cannot be reached (%s): serving the settings last read "
                      "or the defaults, refusing changes and failing the health check until it is back.",
                      self.where, self._down)
        self._wake.set()

    def _fallback(self, key: tuple[str, int]) -> GuildSettings:
        last = self._last.get(key)
        which = "last" if last is not None else "defaults"
        if which not in self._fallback_logged:
            self._fallback_logged.add(which)
            log.warning("Settings database unreachable: serving %s (first for %s %s; logged once until it is "
                        "back).", "the settings last read" if last is not None else "the defaults", *key)
        return last if last is not None else DEFAULT_SETTINGS

    # -- the LISTEN connection and the watcher --

    async def _listen(self) -> None:
        connection = await connect(self._url, "shakespeare-bot listener", CONNECT_TIMEOUT)
        try:
            with reaching():
                await asyncio.wait_for(connection.execute(f"LISTEN {CHANNEL}"), CONNECT_TIMEOUT)
        except BaseException:
            await close_quietly(connection)
            raise
        self._listener = connection
        # Anything cached before may have changed unseen; from now on every change is heard.
        self._cache.clear()
        self._generation += 1
        self._listening = True

    def _on_notification(self, payload: str) -> None:
        self._generation += 1
        scope, _, owner = payload.partition(":")
        if owner == "*":
            for key in [key for key in self._cache if key[0] == scope]:
                del self._cache[key]
            return
        with contextlib.suppress(ValueError):
            self._cache.pop((scope, int(owner)), None)

    def _stop_listening(self) -> None:
        self._listening = False
        self._cache.clear()
        self._generation += 1

    async def _lost_listener(self, why: str) -> None:
        if self._listening:
            log.warning("Lost the LISTEN connection to the settings database at %s (%s): not caching "
                        "settings until it is back.", self.where, why)
        self._stop_listening()
        await self._close_listener()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await close_quietly(listener)

    async def _watch(self) -> None:
        """Hear other processes' changes, keep the LISTEN connection up, and notice when the
        database answers again."""
        while not self._closed:
            try:
                if self._listener is None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), WATCH_SECONDS)
                else:
                    await self._hear(self._listener)
                self._wake.clear()
                await self._watch_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug: logged, and the watcher goes on
                log.exception("The settings database watcher failed; trying again.")

    async def _hear(self, listener: psycopg.AsyncConnection) -> None:
        """Other processes' changes as they come, for WATCH_SECONDS (psycopg delivers notifications
        only while the connection is read; those that came during the ping wait in its backlog)."""
        try:
            with reaching():
                async for notification in listener.notifies(timeout=WATCH_SECONDS):
                    self._on_notification(notification.payload)
        except UNREACHABLE_ERRORS as error:
            await self._lost_listener(reason(error, self._url))

    async def _watch_once(self) -> None:
        listener = self._listener
        if listener is None or listener.closed:
            if listener is not None:
                await self._lost_listener("its connection closed")
            try:
                await self._listen()
            except UNREACHABLE_ERRORS as error:
                # Not taken for the database being down by itself: reads find out (and mark it).
                log.debug("The LISTEN connection to %s is still away: %s", self.where,
                          reason(error, self._url))
                return
            log.info("Listening to the settings database at %s again; caching settings again.", self.where)
        else:
            try:
                with reaching():
                    await asyncio.wait_for(listener.execute("SELECT 1"), WATCH_SECONDS)
            except UNREACHABLE_ERRORS as error:
                await self._lost_listener(reason(error, self._url))
                return
        if self._down is not None:
            try:
                await self._run(lambda connection: fetch_value(connection, "SELECT 1"), READ_TIMEOUT)
            except UNREACHABLE_ERRORS:
                return
            log.info("The settings database at %s answers again.", self.where)
            self._down = None
            self._fallback_logged.clear()
