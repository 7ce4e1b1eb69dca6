"""Server voices and the jobs that train them, in the bot's database: the same one as its settings.

Both sides use this: the bot queues, lists, cancels and deletes; the trainer process (trainer.py)
claims a job, reports progress and finishes it. `VoiceBook` is the interface and holds the SQL,
written once for both databases; bot/storage/__init__.py's `open_voice_book` picks the
implementation from DATABASE_URL, as its `open_store` picks the settings store:

- `SqliteVoiceBook` (bot/storage/sqlite_voices.py): the tables of migration 5
  (bot/storage/schema.py) in the file at BOT_DB_PATH, the files (uploaded texts, trained voices)
  in VOICES_DIR. Several processes on one host share both.
- `PostgresVoiceBook` (bot/storage/pg_voices.py): the same tables, the
  uploaded text and the trained voice in them too, so shards and trainers on several hosts share
  the queue with no shared folder; each process keeps the voices it loads in its own VOICES_DIR,
  as a cache fetched from the database.

Async, on short connections (SQLite, through aiosqlite: the one SQLite driver, as the settings
store's) or kept ones (PostgreSQL, psycopg's async API): the bot awaits each call on its event loop
(bot/voices/cache.py `ask_book` bounds it), the trainer on an event loop of its own, its training
on a worker thread. Every write is one transaction, so nothing is half-written: a queued job and
its text, a finished job and its voice, a deleted voice and its row. Where a transaction reads rows
it then changes, SQLite's BEGIN IMMEDIATE makes it the only writer; PostgreSQL locks those rows
(FOR UPDATE; SKIP LOCKED where a trainer claims a job).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import VoiceError
from bot.i18n import Phrase
from bot.names import voice_model

MAX_VOICES_PER_SERVER = 5
MAX_QUEUED_JOBS = 20  # across every server: the one trainer works through them, fairly (claim)
# Jobs queued in the last DAY_SECONDS, cancelled or refused by the trainer included: per server,
# and per person across every server (one person with many servers cannot fill the queue).
MAX_DAILY_JOBS_PER_SERVER = 5
MAX_DAILY_JOBS_PER_REQUESTER = 5
DAY_SECONDS = 24 * 3600
MAX_NAME_LENGTH = 20
# A running job whose trainer has not reported for this long has stopped (it reports every few
# seconds); it is retried once, then marked failed with the reason.
STALE_SECONDS = 90.0
MAX_ATTEMPTS = 2
BUSY_TIMEOUT_MS = 10_000
# Calls one book runs at once, each on a connection of its own; more wait their turn, so a burst of
# commands does not open a connection (and, with SQLite, a thread) per command: PostgreSQL's
# max_connections is shared by every process on every host.
CALLS_AT_ONCE = 8
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
# A training job's states, in the order a job goes through them: the schema's CHECKs list the same.
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
LIVE = JOB_STATES[:2]  # a live job: at most one per server (the schema's partial unique index)
# Why a job ended failed when its uploaded text was gone before a trainer read it.
TEXT_GONE = "its uploaded text was gone"


@dataclass(frozen=True)
class Voice:
    guild_id: int
    name: str
    base: str
    # Where its checkpoint is on this host: in VOICES_DIR (SQLite), or where this process caches
    # it once fetched from the database (PostgreSQL; VoiceBook.voice_file fetches it).
    file: str
    bits_before: float
    bits_after: float
    created_at: float

    @property
    def model_key(self) -> str:
        """How a request, a reply's buttons and a setting name this voice (within its server)."""
        return voice_model(self.name)


@dataclass(frozen=True)
class Job:
    id: int
    guild_id: int
    name: str
    base: str
    requester_id: int
    text_file: str | None  # the uploaded text's file (SQLite); None where the database holds the text
    state: str
    attempts: int
    progress: float
    bits_before: float | None
    bits_now: float | None
    seconds_left: float | None
    reason: str | None
    created_at: float
    updated_at: float

    @property
    def live(self) -> bool:
        return self.state in LIVE


def check_name(raw: object, taken: set[str] = frozenset()) -> str:
    """A voice's name: 1-20 lower-case letters, digits, - or _, not a shipped model's name.

    The one check of a name a person typed: the book runs it on every name it is given, so a
    name that reaches a file's name has matched NAME (no path, glob or pattern characters)."""
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if not NAME.fullmatch(name):
        raise VoiceError(Phrase("A voice's name must be 1 to {most} letters, digits, - or _, starting with a "
                                "letter or digit.", most=MAX_NAME_LENGTH))
    if name in taken:
        raise VoiceError(Phrase("The name {name} is taken; choose another.", name=name))
    return name


async def fetch_all(executed: Awaitable[Any]) -> list[tuple]:
    """The rows of a statement (`db.execute(...)`, awaited here)."""
    return list(await (await executed).fetchall())


async def fetch_one(executed: Awaitable[Any]) -> tuple | None:
    """The row a statement returned, if any (fetchall: SQLite finishes a RETURNING statement only
    once its rows are read, and cannot commit before)."""
    rows = await fetch_all(executed)
    return rows[0] if rows else None


class VoiceBook:
    """The voices and jobs of every server: what the bot and the trainer call, the same on both
    databases. A subclass says where the database is (`_session`), which columns hold a job's
    text and a voice's weights, and how those are kept."""

    # Appended to a SELECT in a write transaction whose rows it then changes: lock them (PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already keeps every other writer out) ...
    _LOCK = ""
    # ... or take only rows no other transaction has locked (a trainer claiming a job).
    _SKIP_LOCKED = ""
    _TEXT_COLUMN = "text_file"  # the job's uploaded text: a file's path, or the text
    _DATA_COLUMN = "file"  # the voice's weights: a file's path, or the bytes
    _JOB_COLUMNS = ("id, guild_id, name, base, requester_id, text_file, state, attempts, progress, "
                    "bits_before, bits_now, seconds_left, reason, created_at, updated_at")
    _VOICE_COLUMNS = "guild_id, name, base, file, bits_before, bits_after, created_at"

    def __init__(self, folder: Path, call_seconds: float | None = None) -> None:
        self.folder = Path(folder)
        # How long one call may wait on the database (a lock, a server that stopped answering)
        # before it fails with the database's sentence; None: as long as the driver's own limits.
        # The bot, which has someone waiting for each answer, sets it; the trainer does not.
        self.call_seconds = call_seconds
        self._calls = asyncio.Semaphore(CALLS_AT_ONCE)  # taken by `_connection`

    @contextlib.asynccontextmanager
    async def _connection(self, write: bool = False, serialize: bool = False) -> AsyncIterator[Any]:
        """`async with`: a connection whose `await execute(sql, params)` takes ? placeholders and
        returns a cursor (`await fetchall()`, `rowcount`); with `write`, in one transaction committed
        at the end (rolled back on an error); with `serialize`, one such transaction at a time across
        every process (enqueue's limits count what others queue). At most CALLS_AT_ONCE at once."""
        async with self._calls, self._session(write, serialize) as db:
            yield db

    # -- what each database provides --

    def _session(self, write: bool, serialize: bool) -> contextlib.AbstractAsyncContextManager:
        """`_connection`'s connection, on this database, its driver's errors worded as the bot's."""
        raise NotImplementedError

    def _text_kept(self, guild_id: int, text: str) -> contextlib.AbstractAsyncContextManager[object]:
        """The value of a new job's text column, removed again if the job is refused."""
        raise NotImplementedError

    async def job_text(self, job: Job) -> str | None:
        """The text the job learns from; None once it is gone (the job ended)."""
        raise NotImplementedError

    async def drop_text(self, job: Job) -> None:
        """The uploaded text goes once the job ends, trained or not (docs/architecture.md says so)."""
        raise NotImplementedError

    def training_path(self, job: Job) -> Path:
        """Where the trainer writes the job's voice before `finish`."""
        raise NotImplementedError

    async def _voice_data(self, voice_file: Path) -> object:
        """The value of a finished voice's weights column."""
        raise NotImplementedError

    def _finished(self, voice_file: Path, kept: bool) -> None:
        """After `finish` committed (`kept`) or found the job cancelled: the trainer's file."""
        raise NotImplementedError

    async def voice_file(self, voice: Voice) -> Path:
        """The voice's checkpoint as a file on this host, for the engine to load; OSError when it is
        gone (deleted meanwhile)."""
        raise NotImplementedError

    def _forget_files(self, voice: Voice) -> None:
        """After a voice's row was deleted: its files on this host."""
        raise NotImplementedError

    async def close(self) -> None:
        """Let go of connections kept open (none by default)."""

    def _voice(self, row: tuple) -> Voice:
        return Voice(*row)

    # -- what the bot asks --

    async def voices(self, guild_id: int) -> list[Voice]:
        async with self._connection() as db:
            rows = await fetch_all(db.execute(f"SELECT {self._VOICE_COLUMNS} FROM voices WHERE guild_id = ? "
                                              "ORDER BY name", (guild_id,)))
        return [self._voice(row) for row in rows]

    async def voice(self, guild_id: int, name: str) -> Voice | None:
        """The server's voice `name`; VoiceError (the name's sentence) for a name no voice may have."""
        name = check_name(name)
        async with self._connection() as db:
            row = await fetch_one(db.execute(f"SELECT {self._VOICE_COLUMNS} FROM voices WHERE guild_id = ? "
                                             "AND name = ?", (guild_id, name)))
        return None if row is None else self._voice(row)

    async def any_live(self) -> bool:
        """Whether any job is queued or running, in any server (a trainer has work)."""
        async with self._connection() as db:
            return await fetch_one(db.execute("SELECT 1 FROM voice_jobs WHERE state IN ('queued', 'running') "
                                              "LIMIT 1")) is not None

    async def latest_job(self, guild_id: int) -> Job | None:
        async with self._connection() as db:
            row = await fetch_one(db.execute(f"SELECT {self._JOB_COLUMNS} FROM voice_jobs WHERE guild_id = ? "
                                             "ORDER BY id DESC LIMIT 1", (guild_id,)))
        return None if row is None else Job(*row)

    async def job(self, job_id: int) -> Job | None:
        async with self._connection() as db:
            row = await fetch_one(db.execute(f"SELECT {self._JOB_COLUMNS} FROM voice_jobs WHERE id = ?",
                                             (job_id,)))
        return None if row is None else Job(*row)

    async def position(self, job: Job) -> int:
        """1 for the next job the trainer takes (or the one it runs), 2 for the one after..."""
        async with self._connection() as db:
            (ahead,) = await fetch_one(db.execute("SELECT count(*) FROM voice_jobs WHERE state IN "
                                                  "('queued', 'running') AND id < ?", (job.id,)))
        return ahead + 1

    async def count_jobs(self) -> dict[str, int]:
        """Jobs by state, for /metrics."""
        async with self._connection() as db:
            return dict(await fetch_all(db.execute("SELECT state, count(*) FROM voice_jobs GROUP BY state")))

    async def enqueue(self, guild_id: int, name: str, base: str, requester_id: int, text: str,
                      reserved: set[str] = frozenset()) -> Job:
        """Queue a job training `name` from `text`: refused (VoiceError, nothing kept) when the name
        is taken, the server has as many voices as it may keep or a job already, or the queue is
        full. The text is kept with the job, and removed again if the job is refused."""
        name = check_name(name, set(reserved))
        now = time.time()
        async with (self._text_kept(guild_id, text) as kept,
                    self._connection(write=True, serialize=True) as db):
            await self._refuse_without_room(db, guild_id, name, requester_id, now)
            row = await fetch_one(db.execute(
                f"INSERT INTO voice_jobs (guild_id, name, base, requester_id, {self._TEXT_COLUMN}, state, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?) "
                f"RETURNING {self._JOB_COLUMNS}",
                (guild_id, name, base, requester_id, kept, now, now)))
        return Job(*row)

    async def check_room(self, guild_id: int, name: str, requester_id: int) -> None:
        """What `enqueue` would refuse for this server and person, asked before their text is
        fetched: VoiceError with its sentence, or nothing (enqueue asks again as it queues)."""
        name = check_name(name)
        async with self._connection() as db:
            await self._refuse_without_room(db, guild_id, name, requester_id, time.time())

    async def _refuse_without_room(self, db: Any, guild_id: int, name: str, requester_id: int,
                                   now: float) -> None:
        """The limits of queueing a voice, one VoiceError each: the name taken, the server's voices,
        a job already live, the server's and the person's daily jobs, the bot's queue."""
        voices = {row[0] for row in await fetch_all(db.execute("SELECT name FROM voices WHERE guild_id = ?",
                                                               (guild_id,)))}
        if name in voices:
            raise VoiceError(Phrase("The name {name} is taken; choose another.", name=name))
        if len(voices) >= MAX_VOICES_PER_SERVER:
            raise VoiceError(Phrase("This server has {count} voices, the most it may keep; delete "
                                    "one with /voice delete first.", count=len(voices)))
        if await fetch_one(db.execute("SELECT 1 FROM voice_jobs WHERE guild_id = ? AND state IN "
                                      "('queued', 'running')", (guild_id,))):
            raise VoiceError(Phrase("A voice is already training for this server; wait for it or "
                                    "/voice cancel it."))
        since = now - DAY_SECONDS
        (by_server,) = await fetch_one(db.execute("SELECT count(*) FROM voice_jobs WHERE guild_id = ? AND "
                                                  "created_at > ?", (guild_id, since)))
        if by_server >= MAX_DAILY_JOBS_PER_SERVER:
            raise VoiceError(Phrase("This server has queued {count} voices in the last day, the most it "
                                    "may; try again tomorrow.", count=by_server))
        (by_requester,) = await fetch_one(db.execute("SELECT count(*) FROM voice_jobs WHERE requester_id = ? "
                                                     "AND created_at > ?", (requester_id, since)))
        if by_requester >= MAX_DAILY_JOBS_PER_REQUESTER:
            raise VoiceError(Phrase("You have queued {count} voices in the last day, the most one person "
                                    "may; try again tomorrow.", count=by_requester))
        (queued,) = await fetch_one(db.execute("SELECT count(*) FROM voice_jobs WHERE state IN "
                                               "('queued', 'running')"))
        if queued >= MAX_QUEUED_JOBS:
            raise VoiceError(Phrase("The bot is training {count} voices already, the most it queues; "
                                    "try again later.", count=queued))

    async def cancel(self, guild_id: int) -> Job | None:
        """Cancel the server's queued or running job (the trainer stops at its next report)."""
        async with self._connection(write=True) as db:
            row = await fetch_one(db.execute(f"SELECT {self._JOB_COLUMNS} FROM voice_jobs WHERE guild_id = ? "
                                             f"AND state IN ('queued', 'running'){self._LOCK}", (guild_id,)))
            if row is None:
                return None
            await db.execute("UPDATE voice_jobs SET state = 'cancelled', reason = 'cancelled by an admin', "
                             "updated_at = ? WHERE id = ?", (time.time(), row[0]))
        job = Job(*row)
        if job.state == "queued":
            await self.drop_text(job)  # the trainer will never read it
        return job

    async def delete_voice(self, guild_id: int, name: str) -> bool:
        """Forget the voice, then remove its file; False when there was none by that name, VoiceError
        for a name no voice may have."""
        name = check_name(name)
        async with self._connection(write=True) as db:
            row = await fetch_one(db.execute(f"DELETE FROM voices WHERE guild_id = ? AND name = ? "
                                             f"RETURNING {self._VOICE_COLUMNS}", (guild_id, name)))
        if row is None:
            return False
        self._forget_files(self._voice(row))
        return True

    # -- what the trainer does --

    async def recover_stale(self, now: float | None = None) -> list[Job]:
        """Running jobs whose trainer stopped reporting: queued again, or failed after MAX_ATTEMPTS."""
        now = time.time() if now is None else now
        async with self._connection(write=True) as db:
            rows = await fetch_all(db.execute(
                f"SELECT {self._JOB_COLUMNS} FROM voice_jobs WHERE state = 'running' AND "
                f"coalesce(heartbeat_at, updated_at) < ?{self._SKIP_LOCKED}", (now - STALE_SECONDS,)))
            for row in rows:
                job = Job(*row)
                if job.attempts >= MAX_ATTEMPTS:
                    why = f"the trainer stopped {job.attempts} times while training it"
                    await db.execute("UPDATE voice_jobs SET state = 'failed', reason = ?, updated_at = ? "
                                     "WHERE id = ?", (why, now, job.id))
                else:
                    await db.execute("UPDATE voice_jobs SET state = 'queued', progress = 0, updated_at = ? "
                                     "WHERE id = ?", (now, job.id))
        jobs = [Job(*row) for row in rows]
        for job in jobs:
            if job.attempts >= MAX_ATTEMPTS:
                await self.drop_text(job)  # its trainer died: nobody else will
        return jobs

    async def claim(self) -> Job | None:
        """A queued job, now running (one trainer gets it, even with several polling): round-robin
        by server, then by person. First the job of the server whose jobs the trainers started
        least often in the last day, then of the requester likewise, then the oldest."""
        now = time.time()
        since = now - DAY_SECONDS
        async with self._connection(write=True) as db:
            row = await fetch_one(db.execute(
                "UPDATE voice_jobs SET state = 'running', attempts = attempts + 1, heartbeat_at = ?, "
                "updated_at = ? WHERE id = (SELECT id FROM voice_jobs AS queued WHERE state = 'queued' "
                "ORDER BY (SELECT count(*) FROM voice_jobs AS started WHERE started.guild_id = "
                "queued.guild_id AND started.attempts > 0 AND started.created_at > ?), "
                "(SELECT count(*) FROM voice_jobs AS started WHERE started.requester_id = "
                "queued.requester_id AND started.attempts > 0 AND started.created_at > ?), id "
                f"LIMIT 1{self._SKIP_LOCKED}) RETURNING {self._JOB_COLUMNS}", (now, now, since, since)))
        return None if row is None else Job(*row)

    async def report(self, job_id: int, *, progress: float, bits_before: float | None, bits_now: float | None,
                     seconds_left: float | None) -> str:
        """Record progress (and that the trainer lives); returns the job's state, so a job that was
        cancelled meanwhile can stop."""
        now = time.time()
        async with self._connection(write=True) as db:
            await db.execute("UPDATE voice_jobs SET progress = ?, bits_before = coalesce(?, bits_before), "
                             "bits_now = coalesce(?, bits_now), seconds_left = ?, heartbeat_at = ?, "
                             "updated_at = ? WHERE id = ? AND state = 'running'",
                             (min(1.0, max(0.0, progress)), bits_before, bits_now, seconds_left, now, now,
                              job_id))
            row = await fetch_one(db.execute("SELECT state FROM voice_jobs WHERE id = ?", (job_id,)))
        return "cancelled" if row is None else row[0]  # no row: its server was forgotten meanwhile

    async def finish(self, job: Job, voice_file: Path, bits_before: float, bits_after: float) -> bool:
        """The job is done and its voice exists, in one transaction; False (and the file removed)
        when the job was cancelled meanwhile."""
        data = await self._voice_data(voice_file)
        now = time.time()
        async with self._connection(write=True) as db:
            # Only a job still running is done (the update waits for, then sees, a cancel).
            done = await db.execute("UPDATE voice_jobs SET state = 'done', progress = 1, bits_before = ?, "
                                    "bits_now = ?, seconds_left = 0, updated_at = ? "
                                    "WHERE id = ? AND state = 'running'",
                                    (bits_before, bits_after, now, job.id))
            kept = done.rowcount == 1
            if kept:
                column = self._DATA_COLUMN
                await db.execute(
                    f"INSERT INTO voices (guild_id, name, base, {column}, bits_before, bits_after, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, name) DO UPDATE "
                    f"SET base = excluded.base, {column} = excluded.{column}, "
                    "bits_before = excluded.bits_before, bits_after = excluded.bits_after, "
                    "created_at = excluded.created_at",
                    (job.guild_id, job.name, job.base, data, bits_before, bits_after, now))
        self._finished(voice_file, kept)
        return kept

    async def requeue(self, job: Job) -> None:
        """Back in the queue, this attempt not counted: its trainer was told to stop."""
        async with self._connection(write=True) as db:
            await db.execute("UPDATE voice_jobs SET state = 'queued', attempts = CASE WHEN attempts > 0 "
                             "THEN attempts - 1 ELSE 0 END, progress = 0, updated_at = ? "
                             "WHERE id = ? AND state = 'running'",
                             (time.time(), job.id))

    async def end(self, job: Job, state: str, reason: str, bits_before: float | None = None) -> None:
        """A job that ends without a voice: failed (with the reason) or cancelled."""
        async with self._connection(write=True) as db:
            await db.execute("UPDATE voice_jobs SET state = ?, reason = ?, "
                             "bits_before = coalesce(?, bits_before), updated_at = ? "
                             "WHERE id = ? AND state IN ('queued', 'running')",
                             (state, reason[:500], bits_before, time.time(), job.id))
