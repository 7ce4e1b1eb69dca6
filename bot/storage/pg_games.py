"""/guess's transactions over PostgreSQL (bot/storage/games.py holds the queries): writes in the
store's guarded transactions (a short lock timeout, its one translation of psycopg's errors), reads
on its pool within its read timeout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import psycopg
import psycopg.errors

from bot.storage.games import Execute, RoundConflict, T
from bot.storage.postgres import placeholders
from bot.storage.replies import REPLY_BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from bot.storage.postgres_store import PostgresSettingsStore

# A vote or a reveal waits at most this long in all (a reply's buttons wait as long).
GAME_TIMEOUT = 2.0


class PostgresGameTransactions:
    def __init__(self, store: PostgresSettingsStore, read_timeout: float) -> None:
        self.store = store
        self.read_timeout = read_timeout

    async def write(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        try:
            return await self.store._guarded_write(lambda connection: work(_executor(connection)),
                                                   REPLY_BUSY_TIMEOUT_MS, GAME_TIMEOUT)
        except psycopg.errors.UniqueViolation:
            raise RoundConflict() from None

    async def read(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        return await self.store._guarded(lambda connection: work(_executor(connection)), self.read_timeout)


def _executor(connection: psycopg.AsyncConnection) -> Execute:
    async def execute(sql: str, args: tuple) -> list[tuple]:
        cursor = await connection.execute(placeholders(sql), args or None)
        return list(await cursor.fetchall()) if cursor.description is not None else []

    return execute
