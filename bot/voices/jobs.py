"""Server voices and the jobs that train them, in the settings database (tables of migration 5).

Both sides use this: the bot queues, lists, cancels and deletes; the trainer process (trainer.py)
claims a job, reports progress and finishes it. Plain sqlite3 on short connections: the trainer has
no event loop, and the bot calls these through asyncio.to_thread. Several processes and, later,
hosts share one queue through the database; the files (uploaded texts, trained voices) live in
one folder, VOICES_DIR (docs/architecture.md says why).

Every write is one transaction, so nothing is half-written: a queued job and its text file, a
finished job and its voice, a deleted voice and its row.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.i18n import Phrase

MAX_VOICES_PER_SERVER = 5
MAX_QUEUED_JOBS = 20  # across every server: the one trainer works through them in order
MAX_NAME_LENGTH = 20
# A running job whose trainer has not reported for this long has stopped (it reports every few
# seconds); it is retried once, then marked failed with the reason.
STALE_SECONDS = 90.0
MAX_ATTEMPTS = 2
BUSY_TIMEOUT_MS = 10_000
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,19}")
LIVE = ("queued", "running")


class VoiceError(ValueError):
    """A refusal the person caused; args[0] is the one sentence (a Phrase) they are shown."""


@dataclass(frozen=True)
class Voice:
    guild_id: int
    name: str
    base: str
    file: str
    bits_before: float
    bits_after: float
    created_at: float

    @property
    def model_key(self) -> str:
        """How a request, a reply's buttons and a setting name this voice (within its server)."""
        return f"voice:{self.name}"


@dataclass(frozen=True)
class Job:
    id: int
    guild_id: int
    name: str
    base: str
    requester_id: int
    text_file: str
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


_JOB_COLUMNS = ("id, guild_id, name, base, requester_id, text_file, state, attempts, progress, bits_before, "
                "bits_now, seconds_left, reason, created_at, updated_at")
_VOICE_COLUMNS = "guild_id, name, base, file, bits_before, bits_after, created_at"


def check_name(raw: object, taken: set[str] = frozenset()) -> str:
    """A voice's name: 1-20 lower-case letters, digits, - or _, not a shipped model's name."""
    name = raw.strip().lower() if isinstance(raw, str) else ""
    if not NAME.fullmatch(name):
        raise VoiceError(Phrase("A voice's name must be 1 to {most} letters, digits, - or _, starting with a "
                                "letter or digit.", most=MAX_NAME_LENGTH))
    if name in taken:
        raise VoiceError(Phrase("The name {name} is taken; choose another.", name=name))
    return name


class VoiceBook:
    """The voices and jobs of every server, over the settings database at `db_path`."""

    def __init__(self, db_path: Path, folder: Path) -> None:
        self.db_path = Path(db_path)
        self.folder = Path(folder)

    # -- paths --

    def voice_path(self, guild_id: int, name: str) -> Path:
        return self.folder / str(guild_id) / f"{name}.safetensors"

    @property
    def uploads(self) -> Path:
        return self.folder / "uploads"

    @contextlib.contextmanager
    def _connection(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous = FULL")
            if write:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
            else:
                yield connection
        finally:
            connection.close()

    # -- what the bot asks --

    def voices(self, guild_id: int) -> list[Voice]:
        with self._connection() as db:
            rows = db.execute(f"SELECT {_VOICE_COLUMNS} FROM voices WHERE guild_id = ? ORDER BY name",
                              (guild_id,)).fetchall()
        return [Voice(*row) for row in rows]

    def voice(self, guild_id: int, name: str) -> Voice | None:
        with self._connection() as db:
            row = db.execute(f"SELECT {_VOICE_COLUMNS} FROM voices WHERE guild_id = ? AND name = ?",
                             (guild_id, name)).fetchone()
        return None if row is None else Voice(*row)

    def any_live(self) -> bool:
        """Whether any job is queued or running, in any server (a trainer has work)."""
        with self._connection() as db:
            return db.execute("SELECT 1 FROM voice_jobs WHERE state IN ('queued', 'running') LIMIT 1"
                              ).fetchone() is not None

    def latest_job(self, guild_id: int) -> Job | None:
        with self._connection() as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM voice_jobs WHERE guild_id = ? "
                             "ORDER BY id DESC LIMIT 1", (guild_id,)).fetchone()
        return None if row is None else Job(*row)

    def job(self, job_id: int) -> Job | None:
        with self._connection() as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM voice_jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else Job(*row)

    def position(self, job: Job) -> int:
        """1 for the next job the trainer takes (or the one it runs), 2 for the one after..."""
        with self._connection() as db:
            (ahead,) = db.execute("SELECT count(*) FROM voice_jobs WHERE state IN ('queued', 'running') "
                                  "AND id < ?", (job.id,)).fetchone()
        return ahead + 1

    def enqueue(self, guild_id: int, name: str, base: str, requester_id: int, text: str,
                reserved: set[str] = frozenset()) -> Job:
        """Queue a job training `name` from `text`: refused (VoiceError, nothing kept) when the name
        is taken, the server has as many voices as it may keep or a job already, or the queue is
        full. The text is written first and removed again if the job is refused."""
        name = check_name(name, set(reserved))
        self.uploads.mkdir(parents=True, exist_ok=True)
        text_file = self.uploads / f"{guild_id}-{uuid.uuid4().hex}.txt"
        text_file.write_text(text, encoding="utf-8")
        now = time.time()
        try:
            with self._connection(write=True) as db:
                rows = db.execute("SELECT name FROM voices WHERE guild_id = ?", (guild_id,))
                voices = {row[0] for row in rows}
                if name in voices:
                    raise VoiceError(Phrase("The name {name} is taken; choose another.", name=name))
                if len(voices) >= MAX_VOICES_PER_SERVER:
                    raise VoiceError(Phrase("This server has {count} voices, the most it may keep; delete "
                                            "one with /voice delete first.", count=len(voices)))
                if db.execute("SELECT 1 FROM voice_jobs WHERE guild_id = ? AND state IN "
                              "('queued', 'running')", (guild_id,)).fetchone():
                    raise VoiceError(Phrase("A voice is already training for this server; wait for it or "
                                            "/voice cancel it."))
                (queued,) = db.execute("SELECT count(*) FROM voice_jobs WHERE state IN ('queued', 'running')"
                                       ).fetchone()
                if queued >= MAX_QUEUED_JOBS:
                    raise VoiceError(Phrase("The bot is training {count} voices already, the most it queues; "
                                            "try again later.", count=queued))
                cursor = db.execute(
                    "INSERT INTO voice_jobs (guild_id, name, base, requester_id, text_file, state, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)",
                    (guild_id, name, base, requester_id, str(text_file), now, now))
                job_id = cursor.lastrowid
        except BaseException:
            text_file.unlink(missing_ok=True)
            raise
        job = self.job(job_id)
        assert job is not None
        return job

    def cancel(self, guild_id: int) -> Job | None:
        """Cancel the server's queued or running job (the trainer stops at its next report)."""
        with self._connection(write=True) as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM voice_jobs WHERE guild_id = ? AND state IN "
                             "('queued', 'running')", (guild_id,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE voice_jobs SET state = 'cancelled', reason = 'cancelled by an admin', "
                       "updated_at = ? WHERE id = ?", (time.time(), row[0]))
        job = Job(*row)
        if job.state == "queued":
            Path(job.text_file).unlink(missing_ok=True)  # the trainer will never open it
        return job

    def delete_voice(self, guild_id: int, name: str) -> bool:
        """Forget the voice, then remove its file; False when there was none by that name."""
        with self._connection(write=True) as db:
            row = db.execute("SELECT file FROM voices WHERE guild_id = ? AND name = ?",
                             (guild_id, name)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM voices WHERE guild_id = ? AND name = ?", (guild_id, name))
        Path(row[0]).unlink(missing_ok=True)
        return True

    # -- what the trainer does --

    def recover_stale(self, now: float | None = None) -> list[Job]:
        """Running jobs whose trainer stopped reporting: queued again, or failed after MAX_ATTEMPTS."""
        now = time.time() if now is None else now
        with self._connection(write=True) as db:
            rows = db.execute(f"SELECT {_JOB_COLUMNS} FROM voice_jobs WHERE state = 'running' AND "
                              "coalesce(heartbeat_at, updated_at) < ?", (now - STALE_SECONDS,)).fetchall()
            for row in rows:
                job = Job(*row)
                if job.attempts >= MAX_ATTEMPTS:
                    db.execute("UPDATE voice_jobs SET state = 'failed', reason = ?, updated_at = ? "
                               "WHERE id = ?",
                               (f"the trainer stopped {job.attempts} times while training it", now, job.id))
                else:
                    db.execute("UPDATE voice_jobs SET state = 'queued', progress = 0, updated_at = ? "
                               "WHERE id = ?", (now, job.id))
        return [Job(*row) for row in rows]

    def claim(self) -> Job | None:
        """The oldest queued job, now running (one trainer gets it, even with several polling)."""
        now = time.time()
        with self._connection(write=True) as db:
            row = db.execute("SELECT id FROM voice_jobs WHERE state = 'queued' "
                             "ORDER BY id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE voice_jobs SET state = 'running', attempts = attempts + 1, heartbeat_at = ?, "
                       "updated_at = ? WHERE id = ?", (now, now, row[0]))
        return self.job(row[0])

    def report(self, job_id: int, *, progress: float, bits_before: float | None, bits_now: float | None,
               seconds_left: float | None) -> str:
        """Record progress (and that the trainer lives); returns the job's state, so a job that was
        cancelled meanwhile can stop."""
        now = time.time()
        with self._connection(write=True) as db:
            db.execute("UPDATE voice_jobs SET progress = ?, bits_before = coalesce(?, bits_before), "
                       "bits_now = coalesce(?, bits_now), seconds_left = ?, heartbeat_at = ?, updated_at = ? "
                       "WHERE id = ? AND state = 'running'",
                       (min(1.0, max(0.0, progress)), bits_before, bits_now, seconds_left, now, now, job_id))
            (state,) = db.execute("SELECT state FROM voice_jobs WHERE id = ?", (job_id,)).fetchone()
        return state

    def finish(self, job: Job, voice_file: Path, bits_before: float, bits_after: float) -> bool:
        """The job is done and its voice exists, in one transaction; False (and the file removed)
        when the job was cancelled meanwhile."""
        now = time.time()
        with self._connection(write=True) as db:
            (state,) = db.execute("SELECT state FROM voice_jobs WHERE id = ?", (job.id,)).fetchone()
            if state != "running":
                voice_file.unlink(missing_ok=True)
                return False
            db.execute("INSERT OR REPLACE INTO voices (guild_id, name, base, file, bits_before, bits_after, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (job.guild_id, job.name, job.base, str(voice_file), bits_before, bits_after, now))
            db.execute("UPDATE voice_jobs SET state = 'done', progress = 1, bits_before = ?, "
                       "bits_now = ?, seconds_left = 0, updated_at = ? WHERE id = ?",
                       (bits_before, bits_after, now, job.id))
        return True

    def requeue(self, job: Job) -> None:
        """Back in the queue, this attempt not counted: its trainer was told to stop."""
        with self._connection(write=True) as db:
            db.execute("UPDATE voice_jobs SET state = 'queued', attempts = max(0, attempts - 1), "
                       "progress = 0, updated_at = ? WHERE id = ? AND state = 'running'",
                       (time.time(), job.id))

    def end(self, job: Job, state: str, reason: str, bits_before: float | None = None) -> None:
        """A job that ends without a voice: failed (with the reason) or cancelled."""
        with self._connection(write=True) as db:
            db.execute("UPDATE voice_jobs SET state = ?, reason = ?, bits_before = coalesce(?, bits_before), "
                       "updated_at = ? WHERE id = ? AND state IN ('queued', 'running')",
                       (state, reason[:500], bits_before, time.time(), job.id))


def remove_text(job: Job) -> None:
    """The uploaded text goes once the job ends, trained or not (docs/architecture.md says so)."""
    with contextlib.suppress(OSError):
        os.unlink(job.text_file)
