"""Server voices and their jobs in the SQLite settings file (aiosqlite, the settings store's driver).

The tables are migration 5 (bot/storage/schema.py); `VoiceBook` (voices.py) holds the
SQL. The files are in VOICES_DIR, which every process on the host shares: an uploaded text is
uploads/<guild>-<random>.txt until its job ends, a trained voice <guild>/<name>.safetensors.

Each call opens a short connection (aiosqlite runs it on a thread of its own) and closes it:
PRAGMA synchronous = FULL, and a write is BEGIN IMMEDIATE (one writer at a time across every
process, so enqueue's limits count what others queued), committed at the end or rolled back on an
error. A writer waits out another's lock for the busy timeout (at most the call's bound), then
fails with the settings store's sentence: sqlite3's errors, which aiosqlite raises, become the
bot's in bot/storage/sqlite.py `translated`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite

from bot.storage.sqlite import translated
from bot.storage.voices import BUSY_TIMEOUT_MS, Job, Voice, VoiceBook


class SqliteVoiceBook(VoiceBook):
    """Over the settings database at `db_path` (migration 5), the files in `folder`
    (VOICES_DIR): uploaded texts in uploads/, voices in <guild>/<name>.safetensors."""

    def __init__(self, db_path: Path, folder: Path, call_seconds: float | None = None) -> None:
        super().__init__(folder, call_seconds)
        self.db_path = Path(db_path)
        # A writer waits this long for another's lock (sqlite3's busy timeout), then SettingsBusyError.
        self._busy_seconds = min(BUSY_TIMEOUT_MS / 1000, call_seconds or BUSY_TIMEOUT_MS / 1000)

    @property
    def uploads(self) -> Path:
        return self.folder / "uploads"

    def voice_path(self, guild_id: int, name: str) -> Path:
        return self.folder / str(guild_id) / f"{name}.safetensors"

    @contextlib.asynccontextmanager
    async def _session(self, write: bool, serialize: bool) -> AsyncIterator[aiosqlite.Connection]:
        try:
            # BEGIN IMMEDIATE: one writer at a time, so every write transaction is serialized already.
            connection = await aiosqlite.connect(self.db_path, timeout=self._busy_seconds,
                                                 isolation_level=None)
            try:
                await connection.execute("PRAGMA synchronous = FULL")
                if write:
                    await connection.execute("BEGIN IMMEDIATE")
                    try:
                        yield connection
                        await connection.execute("COMMIT")
                    except BaseException:
                        # A rollback that fails (the COMMIT ran as the call was cancelled, say) must not
                        # hide why the transaction ended; closing the connection ends it anyway.
                        if connection.in_transaction:
                            with contextlib.suppress(sqlite3.Error):
                                await connection.execute("ROLLBACK")
                        raise
                else:
                    yield connection
            finally:
                await connection.close()
        except sqlite3.Error as error:  # aiosqlite raises sqlite3's errors
            # The settings file's own faults, as the settings store words them: one sentence each.
            bot_error = translated(error)
            if bot_error is error:
                raise
            raise bot_error from error

    @contextlib.asynccontextmanager
    async def _text_kept(self, guild_id: int, text: str) -> AsyncIterator[object]:
        self.uploads.mkdir(parents=True, exist_ok=True)
        text_file = self.uploads / f"{guild_id}-{uuid.uuid4().hex}.txt"
        try:
            await asyncio.to_thread(text_file.write_text, text, encoding="utf-8")  # up to 2 MB: off the loop
            yield str(text_file)
        except BaseException:
            text_file.unlink(missing_ok=True)
            raise

    async def job_text(self, job: Job) -> str | None:
        try:
            return await asyncio.to_thread(Path(job.text_file).read_text, encoding="utf-8")
        except FileNotFoundError:
            return None

    async def drop_text(self, job: Job) -> None:
        with contextlib.suppress(OSError):
            Path(job.text_file).unlink()

    def training_path(self, job: Job) -> Path:
        return self.voice_path(job.guild_id, job.name)

    async def _voice_data(self, voice_file: Path) -> object:
        return str(voice_file)

    def _finished(self, voice_file: Path, kept: bool) -> None:
        if not kept:
            voice_file.unlink(missing_ok=True)

    async def voice_file(self, voice: Voice) -> Path:
        return Path(voice.file)

    def _forget_files(self, voice: Voice) -> None:
        Path(voice.file).unlink(missing_ok=True)
