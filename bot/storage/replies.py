"""The `replies` table: what the buttons under a generated reply need to serve a press.

Written before the reply is sent (so the buttons work after a restart or kill -9), bounded in
number, size and age, through its own connection with a short busy timeout (a settings change
waiting for another process's lock never holds up a reply: past the timeout the reply goes out
without buttons). The table itself is a numbered migration in bot/storage/schema.py;
`RepliesTable` is SQLite's (bot/storage/postgres_store.py keeps the same bounds in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass

import aiosqlite

from bot.errors import SettingsBusyError
from bot.storage.sqlite import StorageGuard, is_busy, is_damage

# What the buttons under a reply need to serve a press, kept per reply (not in memory, so they
# survive restarts and kill -9), bounded in number, size and age.
REPLY_TTL_SECONDS = 14 * 24 * 3600
MAX_REPLIES = 20_000
MAX_REPLY_SEED = 2000  # a context-menu seed is a whole message; /shakespeare's at most 500
MAX_REPLY_PROMPT = 2000  # the text so far, by its end: what Continue primes the model with
MAX_REPLY_BODY = 2000  # the text one message shows; never more than a message holds
# A reply's buttons are stored before the reply is sent, so that write waits far less: past this,
# the reply goes out without buttons rather than late (another process held the lock that long).
REPLY_BUSY_TIMEOUT_MS = 500
# The `replies` table's columns, in ReplyRecord's order (ReplyRecord.from_row), in either database.
REPLY_COLUMNS = "key, requester_id, seed, model, temperature, length, body, prompt, continued, created_at"


@dataclass(frozen=True)
class ReplyRecord:
    """One generated message the bot posted, as its Again / Continue / Delete buttons need it.

    `seed` is what the user asked with (Again writes from it again); `body` the generated text this
    message shows; `prompt` the whole text so far, seed included, by its end (Continue primes the
    model with it); `continued`: the message holds a continuation (no seed shown)."""

    key: str
    requester_id: int
    seed: str
    model: str
    temperature: float
    length: int
    body: str
    prompt: str
    continued: bool = False
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: tuple) -> ReplyRecord:
        """From a `replies` row's columns in the table's order (either database's)."""
        *fields, continued, created_at = row
        return cls(*fields, continued=bool(continued), created_at=created_at)

    def __post_init__(self) -> None:
        # Bounded whatever a caller passes: the seed and the prompt keep their ends.
        object.__setattr__(self, "seed", self.seed[-MAX_REPLY_SEED:])
        object.__setattr__(self, "prompt", self.prompt[-MAX_REPLY_PROMPT:])
        object.__setattr__(self, "body", self.body[:MAX_REPLY_BODY])


class RepliesTable:
    """Reads through the store's read connection, writes through its own (see the module doc)."""

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
                await self.writer.execute(
                    "INSERT INTO replies (key, requester_id, seed, model, temperature, length, body, prompt, "
                    "continued, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (reply.key, reply.requester_id, reply.seed, reply.model, reply.temperature, reply.length,
                     reply.body, reply.prompt, int(reply.continued), now))
                await self.writer.execute("DELETE FROM replies WHERE created_at < ?",
                                                 (now - REPLY_TTL_SECONDS,))
                await self.writer.execute(
                    "DELETE FROM replies WHERE key IN "
                    "(SELECT key FROM replies ORDER BY created_at DESC LIMIT -1 OFFSET ?)", (MAX_REPLIES,))
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
        async with self._reader.execute(
            f"SELECT {REPLY_COLUMNS} FROM replies WHERE key = ? AND created_at >= ?",
            (key, time.time() - REPLY_TTL_SECONDS),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else ReplyRecord.from_row(row)

    async def update(self, key: str, *, body: str, prompt: str) -> None:
        async with self._writing():
            await self.writer.execute("UPDATE replies SET body = ?, prompt = ? WHERE key = ?",
                                             (body[:MAX_REPLY_BODY], prompt[-MAX_REPLY_PROMPT:], key))

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
