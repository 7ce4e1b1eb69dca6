"""Server voices and their jobs in PostgreSQL (psycopg 3's async API): for bots on several hosts.

The tables are migration 5 (bot/storage/schema.py); `VoiceBook` (voices.py) holds
the SQL, which this module runs with PostgreSQL's placeholders. No folder is shared between
hosts, so the database holds what SQLite keeps in files:

- The uploaded text is `voice_jobs.text` (at most 2 MB), set NULL once its job ends; the trainer,
  on any host, reads it from there.
- The trained voice is `voices.data` (the safetensors checkpoint's bytes, ~13 MB for the LSTM),
  written in the transaction that marks the job done: a voice row never exists without its bytes.
  The trainer writes its file under VOICES_DIR/training/ and removes it once the row holds it.
- A process serving a voice fetches it once into its own VOICES_DIR/cache/<guild>/ (written to a
  temporary name, then renamed) and loads it from there; a retrained voice has another file name
  (its training time), and a voice deleted through any shard is gone for every one: its row is
  what `voice()` asks for at each request, and a process that finds it gone removes its copy.

Async, as the settings store: the bot awaits each call on its event loop, the trainer on one of its
own. Connections are kept open between calls (a few idle ones, pinged before use once idle for
PING_AFTER_SECONDS), since the bot asks for a voice's row at every request that names one. The bot
bounds each call (`call_seconds`): the connect, lock and statement timeouts for a slow server, and
the socket shut after that long (loop.call_later) for a server that stopped answering, which no
server-side timeout can stop. The cut is the bound that always holds: cancelling the awaiting task
may not stop psycopg's wait (psycopg/psycopg#1371). A connection that was cut is never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg

from bot.errors import UNREACHABLE, SettingsUnavailableError
from bot.storage.postgres import close_quietly, describe, is_unreachable, placeholders
from bot.storage.voices import BUSY_TIMEOUT_MS, Job, Voice, VoiceBook, check_name, fetch_one

CONNECT_TIMEOUT = 5
IDLE_CONNECTIONS = 4
# An idle connection older than this is pinged before use: the server may have dropped it meanwhile
# (a restart, a failover), and the transaction it would fail is not retried.
PING_AFTER_SECONDS = 10.0
# pg_advisory_xact_lock's key for queueing a job: enqueue's limits count what every process queued.
ENQUEUE_LOCK = 0x564F494345  # "VOICE"


def _cut(connection: psycopg.AsyncConnection) -> None:
    """Shut the connection's socket: a call waiting to read it fails at once as a lost connection."""
    with (contextlib.suppress(OSError, psycopg.Error, ValueError),
          socket.socket(fileno=os.dup(connection.pgconn.socket)) as handle):
        handle.shutdown(socket.SHUT_RDWR)


class _Placeholders:
    """A psycopg connection that takes the ? placeholders VoiceBook's SQL is written with."""

    def __init__(self, connection: psycopg.AsyncConnection) -> None:
        self.connection = connection

    async def execute(self, sql: str, params: tuple = (), **options: Any) -> psycopg.AsyncCursor:
        return await self.connection.execute(placeholders(sql), params, **options)


class PostgresVoiceBook(VoiceBook):
    """Over the PostgreSQL database at `url`; `folder` (VOICES_DIR) holds this host's copies only."""

    _LOCK = " FOR UPDATE"
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    _TEXT_COLUMN = "text"
    _DATA_COLUMN = "data"
    _JOB_COLUMNS = VoiceBook._JOB_COLUMNS.replace("text_file", "NULL")
    _VOICE_COLUMNS = VoiceBook._VOICE_COLUMNS.replace("file", "NULL")

    def __init__(self, url: str, folder: Path, disk_mb: float = 1000,
                 call_seconds: float | None = None) -> None:
        super().__init__(folder, call_seconds)
        # This host's copies take at most this much disk; past it the least recently used go.
        self.disk_bytes = int(disk_mb * 1024 * 1024)
        self.url = url
        self.where = describe(url)
        self._idle: list[tuple[psycopg.AsyncConnection, float]] = []  # with when each was last used
        self._closed = False  # closed: a call still running gives its connection back to no one

    # -- connections --

    async def _open(self) -> psycopg.AsyncConnection:
        bound = CONNECT_TIMEOUT if self.call_seconds is None else min(CONNECT_TIMEOUT, self.call_seconds)
        connection = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=max(2, round(bound)),
            application_name="shakespeare-bot voices")
        try:
            async with self._bounded(connection):
                # As SQLite's busy timeout: a write waits this long for another's lock, then fails;
                # and a statement this long (a server that is slow, not gone), when calls are bounded.
                await connection.execute(f"SET lock_timeout = {int(self._lock_timeout_ms)}")
                if self.call_seconds is not None:
                    await connection.execute(f"SET statement_timeout = {int(self.call_seconds * 1000)}")
        except BaseException:
            await close_quietly(connection)
            raise
        return connection

    @property
    def _lock_timeout_ms(self) -> float:
        bounded = self.call_seconds is not None and self.call_seconds * 1000 < BUSY_TIMEOUT_MS
        return self.call_seconds * 1000 if bounded else BUSY_TIMEOUT_MS

    @contextlib.asynccontextmanager
    async def _bounded(self, connection: psycopg.AsyncConnection) -> AsyncIterator[None]:
        """Within: after call_seconds, the connection's socket is shut, so a call waiting on a
        server that stopped answering (paused, or a network that drops everything) fails as a lost
        connection instead of waiting forever: the server's statement_timeout cannot stop what the
        server never runs."""
        if self.call_seconds is None:
            yield
            return
        cut: list[bool] = []

        def expire() -> None:
            cut.append(True)
            _cut(connection)

        timer = asyncio.get_running_loop().call_later(self.call_seconds, expire)
        try:
            yield
        finally:
            timer.cancel()
            if cut:  # cut as the call ended: never handed out again
                await close_quietly(connection)

    async def _take(self) -> psycopg.AsyncConnection:
        while self._idle:
            connection, since = self._idle.pop()
            if time.monotonic() - since < PING_AFTER_SECONDS:
                return connection
            try:
                async with self._bounded(connection):
                    await connection.execute("SELECT 1")
                return connection
            except psycopg.Error:
                await close_quietly(connection)
        return await self._open()

    async def _give_back(self, connection: psycopg.AsyncConnection) -> None:
        if (not self._closed and not connection.closed and len(self._idle) < IDLE_CONNECTIONS
                and connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE):
            self._idle.append((connection, time.monotonic()))
        else:
            await close_quietly(connection)

    @contextlib.asynccontextmanager
    async def _session(self, write: bool, serialize: bool) -> AsyncIterator[_Placeholders]:
        try:
            async with self._on_connection(write, serialize) as db:
                yield db
        except psycopg.Error as error:
            if is_unreachable(error):  # one sentence for the person; the log has the driver's words
                raise SettingsUnavailableError(UNREACHABLE) from error
            raise

    @contextlib.asynccontextmanager
    async def _on_connection(self, write: bool, serialize: bool) -> AsyncIterator[_Placeholders]:
        connection = await self._take()
        try:
            async with self._bounded(connection):
                if write:
                    async with connection.transaction():
                        if serialize:
                            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (ENQUEUE_LOCK,))
                        yield _Placeholders(connection)
                else:
                    yield _Placeholders(connection)
        except BaseException:
            if connection.broken:
                await close_quietly(connection)
            raise
        finally:
            await self._give_back(connection)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            await close_quietly(connection)

    # -- the text, in the job's row --

    @contextlib.asynccontextmanager
    async def _text_kept(self, guild_id: int, text: str) -> AsyncIterator[object]:
        yield text  # in the job's row: refused, the transaction takes it away

    async def job_text(self, job: Job) -> str | None:
        async with self._connection() as db:
            row = await fetch_one(db.execute("SELECT text FROM voice_jobs WHERE id = ?", (job.id,)))
        return None if row is None else row[0]

    async def drop_text(self, job: Job) -> None:
        # Every ended job's text, this one's and any a process stopped before dropping.
        async with self._connection(write=True) as db:
            await db.execute("UPDATE voice_jobs SET text = NULL WHERE text IS NOT NULL AND "
                             "state NOT IN ('queued', 'running')")

    # -- the voice, in its row; a copy in this host's folder --

    def training_path(self, job: Job) -> Path:
        return self.folder / "training" / f"{job.id}.safetensors"

    async def _voice_data(self, voice_file: Path) -> object:
        return await asyncio.to_thread(voice_file.read_bytes)  # ~13 MB: off the event loop

    def _finished(self, voice_file: Path, kept: bool) -> None:
        voice_file.unlink(missing_ok=True)  # the database holds it (or it was cancelled)

    def _voice(self, row: tuple) -> Voice:
        guild_id, name, base, _, bits_before, bits_after, created_at = row
        # '@' is in no voice's name: the copies of one voice are <name>@*.
        file = self.folder / "cache" / str(int(guild_id)) / f"{name}@{created_at:.6f}.safetensors"
        return Voice(guild_id, name, base, str(file), bits_before, bits_after, created_at)

    async def voice(self, guild_id: int, name: str) -> Voice | None:
        name = check_name(name)
        found = await super().voice(guild_id, name)
        if found is None:  # deleted, perhaps through another shard: this host's copy goes too
            self._remove_copies(guild_id, name)
        return found

    async def voice_file(self, voice: Voice) -> Path:
        path = Path(voice.file)
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)  # just used: the last to go when the copies are past their disk cap
            return path
        async with self._connection() as db:
            row = await fetch_one(db.execute("SELECT data FROM voices WHERE guild_id = ? AND name = ? AND "
                                             "created_at = ?", (voice.guild_id, voice.name, voice.created_at),
                                             binary=True))
        if row is None:
            raise FileNotFoundError(errno.ENOENT, f"voice {voice.name!r} of guild {voice.guild_id} is no "
                                    f"longer in the database at {self.where}", str(path))
        # Written, and the copies past the disk cap removed, off the event loop (~13 MB each).
        await asyncio.to_thread(self._keep_copy, voice, path, row[0])
        return path

    def _keep_copy(self, voice: Voice, path: Path, data: bytes) -> None:
        """The voice's bytes as this host's copy at `path` (written to a temporary name, then
        renamed); an earlier training's copy goes, then the least recently used past the cap."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            partial.write_bytes(data)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        self._remove_copies(voice.guild_id, voice.name, keep=path)  # of an earlier training
        self._within_disk_cap(keep=path)

    def _within_disk_cap(self, keep: Path) -> None:
        """Remove this host's least recently used copies (by modification time, which `voice_file`
        sets at each use) until all of them take at most `disk_bytes`; never `keep`, just fetched.
        A removed copy that is wanted again is fetched again from the database."""
        copies = []
        for server in _entries(self.folder / "cache"):
            for copy in _entries(server):
                with contextlib.suppress(OSError):
                    if copy.name.endswith(".safetensors") and not copy.name.startswith("."):
                        status = copy.stat()
                        copies.append((status.st_mtime_ns, status.st_size, copy))
        total = sum(size for _, size, _ in copies)
        for _, size, copy in sorted(copies):
            if total <= self.disk_bytes:
                return
            if copy != keep:
                with contextlib.suppress(OSError):
                    copy.unlink()
                    total -= size

    def _forget_files(self, voice: Voice) -> None:
        self._remove_copies(voice.guild_id, voice.name)

    def _remove_copies(self, guild_id: int, name: str, keep: Path | None = None) -> None:
        """This host's copies of the voice: files in its server's folder whose name, up to the '@',
        is exactly `name` (the folder is listed and each entry compared; nothing is matched as a
        pattern)."""
        folder = self.folder / "cache" / str(int(guild_id))
        try:
            entries = os.listdir(folder)
        except OSError:
            return
        for entry in entries:
            stem, at, rest = entry.partition("@")
            copy = folder / entry
            if at and stem == name and rest.endswith(".safetensors") and copy != keep:
                with contextlib.suppress(OSError):
                    copy.unlink()


def _entries(folder: Path) -> list[Path]:
    """What a folder holds; nothing when it is not there."""
    try:
        return [folder / entry for entry in os.listdir(folder)]
    except OSError:
        return []

