"""Servers the bot left, and forgetting them FORGET_AFTER_DAYS later.

When the bot leaves a server (kicked, or the server deleted) `mark_left` records the time, as a
row of bot_state keyed `left-guild:<id>` (no table of its own: the key-value table already exists
in both databases and is copied by copy-to-postgres). The first time counts: a second leave does
not move it. Added back before the time is up, `mark_back` deletes the row and nothing is lost.

The bot's sweep (bot/runtime/departures.py) asks `due` which servers left longer ago than
FORGET_AFTER_DAYS, deletes each one's settings through the settings store, then calls `forget`:
in one transaction its live jobs are stopped, its jobs and voices deleted and its row removed;
then its files (voices, uploaded texts, this host's copies). The row goes last, so a sweep cut
short is done again by the next one. A trainer working on a job of a forgotten server finds the
job gone at its next report and stops; its voice is never stored.

These functions (coroutines, as the book's methods) run on a VoiceBook's connection (the database
the settings are in) and use its protected members: they are part of the voice book, kept in their
own module.
"""

from __future__ import annotations

import time

from bot.storage.voices import Job, VoiceBook, fetch_all

FORGET_AFTER_DAYS = 30
KEY_PREFIX = "left-guild:"


async def mark_left(book: VoiceBook, guild_id: int, now: float | None = None) -> None:
    """The bot left this server now (an earlier leave, not yet undone, keeps its time)."""
    async with book._connection(write=True) as db:
        await db.execute("INSERT INTO bot_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                         (f"{KEY_PREFIX}{int(guild_id)}", repr(time.time() if now is None else now)))


async def mark_back(book: VoiceBook, guild_id: int) -> None:
    """The bot is in this server again: nothing of it is forgotten."""
    async with book._connection(write=True) as db:
        await db.execute("DELETE FROM bot_state WHERE key = ?", (f"{KEY_PREFIX}{int(guild_id)}",))


async def due(book: VoiceBook, now: float | None = None) -> list[int]:
    """The servers the bot left more than FORGET_AFTER_DAYS ago, oldest first."""
    before = (time.time() if now is None else now) - FORGET_AFTER_DAYS * 24 * 3600
    async with book._connection() as db:
        rows = await fetch_all(db.execute("SELECT key, value FROM bot_state WHERE key LIKE ?",
                                          (f"{KEY_PREFIX}%",)))
    left = sorted((float(value), int(key[len(KEY_PREFIX):])) for key, value in rows)
    return [guild_id for left_at, guild_id in left if left_at < before]


async def forget(book: VoiceBook, guild_id: int) -> list[str]:
    """Delete the server's voice jobs, voices and departure row, then its files on this host;
    returns the names of the voices deleted."""
    async with book._connection(write=True) as db:
        await db.execute("UPDATE voice_jobs SET state = 'cancelled', reason = 'the bot left the server', "
                         "updated_at = ? WHERE guild_id = ? AND state IN ('queued', 'running')",
                         (time.time(), guild_id))
        jobs = [Job(*row) for row in await fetch_all(db.execute(
            f"SELECT {book._JOB_COLUMNS} FROM voice_jobs WHERE guild_id = ?", (guild_id,)))]
        await db.execute("DELETE FROM voice_jobs WHERE guild_id = ?", (guild_id,))
        voices = await fetch_all(db.execute(f"DELETE FROM voices WHERE guild_id = ? "
                                            f"RETURNING {book._VOICE_COLUMNS}", (guild_id,)))
        await db.execute("DELETE FROM bot_state WHERE key = ?", (f"{KEY_PREFIX}{int(guild_id)}",))
    for row in voices:
        book._forget_files(book._voice(row))
    for job in jobs:
        if job.text_file is not None:  # SQLite's uploaded texts are files
            await book.drop_text(job)
    return [book._voice(row).name for row in voices]
