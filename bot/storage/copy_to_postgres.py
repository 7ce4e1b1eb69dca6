"""`python -m bot copy-to-postgres`: move a bot's data from SQLite to PostgreSQL before setting DATABASE_URL.

A bot started with DATABASE_URL finds an empty database; this copies what the SQLite file at
BOT_DB_PATH and the files in VOICES_DIR hold into it first, so no server's settings, person's
preferences, reply's buttons or server voice stays behind:

- SQLite is opened read-only (aiosqlite) and read in one transaction: one consistent snapshot. A bot whose
  heartbeat is fresh is still serving from the file, and the copy is refused: what it wrote after
  the copy would stay behind.
- PostgreSQL is migrated through PostgresSettingsStore.open, as a bot would, then written in one
  transaction (its tables locked against a bot started meanwhile): all or nothing. A database that
  already holds a row in any of the copied tables is refused: nothing is merged or overwritten.
- Settings pass bot/storage/settings.py's check_setting, and every row the PostgreSQL schema's CHECKs; a row
  refused is one sentence naming its table and row, and nothing is written.
- Replies: those PostgresSettingsStore would keep (the newest MAX_REPLIES of the last
  REPLY_TTL_SECONDS), with their times, so their buttons expire when they would have.
- Voices: each checkpoint's bytes, read from its file, into voices.data. Ended jobs are copied as
  history. A queued or running job is copied as queued, with its uploaded text, as a trainer told
  to stop puts its job back (VoiceBook.requeue): the trainer on PostgreSQL takes it up, and nobody
  has to run the old bot again to let jobs finish (up to 20 of them, minutes each). One whose text
  is gone ends failed with the trainer's reason for that.

Every refusal is one sentence and exit code 2, with nothing written.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import aiosqlite
import psycopg

from bot.config import EXIT_CONFIG, BotConfig
from bot.errors import SettingsError, SettingsStoreError
from bot.ops.health import check_heartbeat
from bot.storage import queries, replies, settings
from bot.storage.postgres import UNREACHABLE_ERRORS, close_quietly, connect, describe, placeholders, reason
from bot.storage.postgres_store import (
    CONNECT_TIMEOUT,
    PostgresSettingsStore,
    fetch_value,
)
from bot.storage.replies import REPLY_COLUMNS, ReplyRecord
from bot.storage.schema import SCHEMA_VERSION
from bot.storage.sqlite_voices import SqliteVoiceBook
from bot.storage.voices import LIVE, TEXT_GONE, Job, Voice, VoiceBook

# In the order they are copied; a database holding a row in any of them is refused.
TABLES = ("guild_settings", "user_settings", "bot_state", "replies", "voices", "voice_jobs", "guess_scores",
          "guess_fooled")
# /guess's lasting rows, copied as they are (its rounds last a minute: a round open at the copy is lost).
GAME_COLUMNS = {"guess_scores": "guild_id, user_id, points, streak, best_streak, rounds, updated_at",
                "guess_fooled": "model, shakespeare, votes"}
# How long the copy waits for a bot's lock on the PostgreSQL tables before it gives up.
LOCK_TIMEOUT_MS = 10_000

# Job's fields, then the one it leaves out.
_JOB_COLUMNS = f"{VoiceBook._JOB_COLUMNS}, heartbeat_at"
_SETTINGS_COLUMNS = ", ".join(settings.SETTING_NAMES)


class CopyRefused(Exception):
    """One sentence for the operator; nothing was written."""


def copy_to_postgres(config: BotConfig) -> int:
    """The command: the summary on stdout and 0, or one sentence on stderr and EXIT_CONFIG."""
    try:
        counts, notes, where = asyncio.run(copy_database(config))
    except CopyRefused as error:
        print(f"bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"Copied {config.db_path} (and the voices in {config.voices_folder}) to the PostgreSQL database at "
          f"{where}, in one transaction; rows per table:")
    for table in TABLES:
        note = f"  ({notes[table]})" if table in notes else ""
        print(f"  {table:<15}{counts[table]:>8}{note}")
    print("Now set DATABASE_URL on every bot process and the trainer, and start them.")
    return 0


async def copy_database(config: BotConfig) -> tuple[dict[str, int], dict[str, str], str]:
    """Copy everything; rows copied and notes per table, and where to. CopyRefused: nothing written."""
    url = config.database_url
    if url is None:
        raise CopyRefused("DATABASE_URL is not set; set it to the empty PostgreSQL database to copy into, "
                          "such as postgresql://user:password@host:5432/shakespeare.")
    where = describe(url)
    async with _snapshot(config) as (sqlite, tables):
        try:
            opened = await PostgresSettingsStore.open(url, pool_size=1)  # migrates, as a bot would
        except SettingsStoreError as error:
            raise CopyRefused(str(error)) from None
        await opened.close()
        try:
            pg = await connect(url, "shakespeare-bot copy-to-postgres", CONNECT_TIMEOUT)
        except (*UNREACHABLE_ERRORS, psycopg.Error) as error:
            raise CopyRefused(f"Cannot connect to the PostgreSQL database at {where} "
                              f"({reason(error, url)}); nothing was copied.") from None
        try:
            async with pg.transaction():
                await pg.execute(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}")
                await pg.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
                held = [table for table in TABLES
                        if await fetch_value(pg, f"SELECT EXISTS (SELECT 1 FROM {table})")]
                if held:
                    raise CopyRefused(
                        f"The PostgreSQL database at {where} already holds rows ({', '.join(held)}), and "
                        "copy-to-postgres never merges into or overwrites a database; give it an empty one "
                        "(or drop and create this one again) and run it again.")
                book = SqliteVoiceBook(config.db_path, config.voices_folder)
                return *await _copy(sqlite, tables, pg, book, config.db_path), where
        except CopyRefused:
            raise
        except (*UNREACHABLE_ERRORS, psycopg.Error) as error:
            # The commit itself may be what failed: the copy may have arrived, or not.
            raise CopyRefused(f"The copy to the PostgreSQL database at {where} did not complete "
                              f"({reason(error, url)}); run it again, which refuses if the copy did "
                              "arrive.") from None
        finally:
            await close_quietly(pg)


@contextlib.asynccontextmanager
async def _snapshot(config: BotConfig) -> AsyncIterator[tuple[aiosqlite.Connection, set[str]]]:
    """The SQLite file, read-only, in one read transaction (one consistent snapshot), and the
    tables it has (a file of an older bot lacks the newer ones: nothing of theirs to copy)."""
    path = config.db_path
    if not path.is_file():
        raise CopyRefused(f"There is no SQLite settings database at {path}; set BOT_DB_PATH to the bot's "
                          "file (and VOICES_DIR to its voices folder, if it was set).")
    heartbeats = {config.heartbeat_file, *path.parent.glob(f"{path.name}*.heartbeat")}
    for heartbeat in sorted(heartbeats):
        if check_heartbeat(heartbeat) is None:
            raise CopyRefused(f"A bot is still serving from {path} (its heartbeat {heartbeat} is fresh); "
                              "stop every bot process and trainer using it first, or what they write after "
                              "the copy stays behind.")
    try:
        connection = await aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                             isolation_level=None)
    except sqlite3.Error as error:  # aiosqlite raises sqlite3's errors
        raise CopyRefused(f"Cannot open the settings database {path} ({error}).") from None
    try:
        await connection.execute("BEGIN")  # the snapshot is taken at the first read and kept to the end
        ((version,),) = await connection.execute_fetchall("PRAGMA user_version")
        tables = {row[0] for row in await connection.execute_fetchall("SELECT name FROM sqlite_master "
                                                                      "WHERE type = 'table'")}
        if version > SCHEMA_VERSION or "guild_settings" not in tables:
            raise CopyRefused(f"{path} is not a settings database this bot knows (schema version {version}, "
                              f"this bot's is {SCHEMA_VERSION}); check BOT_DB_PATH.")
        yield connection, tables
    except sqlite3.Error as error:
        raise CopyRefused(f"Cannot read the settings database {path} ({error}); nothing was "
                          "copied.") from None
    finally:
        await connection.close()  # the read transaction ends with it


async def _copy(sqlite: aiosqlite.Connection, tables: set[str], pg: psycopg.AsyncConnection,
                book: SqliteVoiceBook, path: Path) -> tuple[dict[str, int], dict[str, str]]:
    counts: dict[str, int] = {}
    notes: dict[str, str] = {}

    async def rows(table: str, sql: str, params: tuple = ()) -> AsyncIterator[tuple]:
        if table in tables:
            async with sqlite.execute(sql, params) as cursor:
                async for row in cursor:
                    yield row

    async def insert(table: str, sql: str, values: AsyncIterable[tuple],
                     row_name: Callable[[tuple], str]) -> None:
        counts[table] = 0
        async for row in values:
            try:
                await pg.execute(sql, row)
            except (psycopg.IntegrityError, psycopg.DataError) as error:
                raise _refused(table, row_name(row), reason(error), path) from None
            counts[table] += 1

    for scope, (table, key) in settings.SCOPES.items():
        await insert(table, f"INSERT INTO {table} ({key}, {_SETTINGS_COLUMNS}, updated_at) "
                            "VALUES (%s, %s, %s, %s, coalesce(%s, now()))",
                     _settings(rows(table, f"SELECT {key}, {_SETTINGS_COLUMNS}, updated_at FROM {table} "
                                           f"ORDER BY {key}"), table, scope, path),
                     lambda row, scope=scope: f"{scope} {row[0]}")
    await insert("bot_state", "INSERT INTO bot_state (key, value) VALUES (%s, %s)",
                 rows("bot_state", "SELECT key, value FROM bot_state ORDER BY key"),
                 lambda row: f"key {row[0]!r}")
    for table, columns in GAME_COLUMNS.items():
        values = ", ".join(["%s"] * len(columns.split(", ")))
        await insert(table, f"INSERT INTO {table} ({columns}) VALUES ({values})",
                     rows(table, f"SELECT {columns} FROM {table} ORDER BY 1, 2"),
                     lambda row: f"row {row[:2]}")

    # What PostgresSettingsStore keeps: the newest MAX_REPLIES of the last REPLY_TTL_SECONDS.
    stored = sum([1 async for _ in rows("replies", "SELECT key FROM replies")])
    newest = rows("replies", f"SELECT {REPLY_COLUMNS} FROM replies WHERE created_at >= ? "
                             "ORDER BY created_at DESC, key DESC LIMIT ?",
                  (time.time() - replies.REPLY_TTL_SECONDS, replies.MAX_REPLIES))
    await insert("replies", placeholders(queries.INSERT_REPLY),
                 (queries.reply_values(reply, reply.created_at)
                  async for reply in (ReplyRecord.from_row(row) async for row in newest)),
                 lambda row: f"key {row[0]}")
    if stored > counts["replies"]:
        notes["replies"] = (f"{stored - counts['replies']} left out: older than "
                            f"{replies.REPLY_TTL_SECONDS // 86400} days or past the newest "
                            f"{replies.MAX_REPLIES:,}, which PostgreSQL would not keep either")

    voices = [Voice(*row) async for row in rows("voices", f"SELECT {VoiceBook._VOICE_COLUMNS} FROM voices "
                                                    "ORDER BY guild_id, name")]
    sizes: list[int] = []
    await insert("voices", "INSERT INTO voices (guild_id, name, base, data, bits_before, bits_after, "
                           "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 _voices(voices, book, sizes, path), lambda row: f"guild {row[0]} voice {row[1]}")
    if sizes:
        notes["voices"] = f"{sum(sizes):,} bytes of checkpoints"

    outcomes: dict[str, int] = {}
    await insert("voice_jobs", f"INSERT INTO voice_jobs ({_JOB_COLUMNS.replace('text_file', 'text')}) "
                               "OVERRIDING SYSTEM VALUE VALUES "
                               "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 _jobs(rows("voice_jobs", f"SELECT {_JOB_COLUMNS} FROM voice_jobs ORDER BY id"), book,
                       outcomes),
                 lambda row: f"job {row[0]} (guild {row[1]}, voice {row[2]})")
    # New jobs are numbered after the copied ones.
    await pg.execute("SELECT setval(pg_get_serial_sequence('voice_jobs', 'id'), max(id)) FROM voice_jobs")
    if outcomes:
        notes["voice_jobs"] = ", ".join(f"{count} {what}" for what, count in outcomes.items())
    return counts, notes


def _refused(table: str, row: str, why: str, path: Path) -> CopyRefused:
    return CopyRefused(f"The {table} row of {row} in {path} cannot be copied ({why.rstrip('.')}); fix or "
                       "delete it there and run this again, nothing was copied.")


async def _settings(rows: AsyncIterable[tuple], table: str, scope: str, path: Path) -> AsyncIterator[tuple]:
    """Each row's values through check_setting (NULL stays NULL: the default); its time in UTC."""
    async for owner, *values, updated_at in rows:
        for name, value in zip(settings.SETTING_NAMES, values, strict=True):
            if value is not None:
                try:
                    settings.check_setting(name, value)
                except SettingsError as error:
                    raise _refused(table, f"{scope} {owner}", f"{name}: {error}", path) from None
        yield owner, *values, _utc(updated_at)


def _utc(text: object) -> datetime | None:
    """SQLite's datetime('now') (UTC, no zone) as a time; None (now) for anything else."""
    try:
        return datetime.fromisoformat(str(text)).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


async def _voices(voices: list[Voice], book: SqliteVoiceBook, sizes: list[int],
                  path: Path) -> AsyncIterator[tuple]:
    """Each voice's row with its checkpoint's bytes, read one at a time (13 MB each for the LSTM)."""
    for voice in voices:
        found = _file(await book.voice_file(voice), book.voice_path(voice.guild_id, voice.name))
        if found is None:
            raise _refused("voices", f"guild {voice.guild_id} voice {voice.name}",
                           f"its checkpoint is neither at {voice.file} nor in VOICES_DIR={book.folder}", path)
        try:
            data = found.read_bytes()
        except OSError as error:
            raise _refused("voices", f"guild {voice.guild_id} voice {voice.name}", str(error), path) from None
        sizes.append(len(data))
        yield (voice.guild_id, voice.name, voice.base, data, voice.bits_before, voice.bits_after,
               voice.created_at)


async def _jobs(rows: AsyncIterable[tuple], book: SqliteVoiceBook,
                outcomes: dict[str, int]) -> AsyncIterator[tuple]:
    """Ended jobs as they are (their text is gone); live ones queued again with their text, as
    VoiceBook.requeue puts back a job whose trainer was told to stop (that attempt not counted)."""
    async for row in rows:
        job, heartbeat_at = Job(*row[:15]), row[15]
        text = None
        if job.state in LIVE:
            uploaded = _file(Path(job.text_file), book.uploads / Path(job.text_file).name)
            text = None if uploaded is None else await book.job_text(replace(job, text_file=str(uploaded)))
            state, reason = ("queued", job.reason) if text is not None else ("failed", TEXT_GONE)
            what = "queued again" if text is not None else f"failed: {TEXT_GONE}"
            outcomes[what] = outcomes.get(what, 0) + 1
            attempts = max(job.attempts - 1, 0) if job.state == "running" else job.attempts
            yield (job.id, job.guild_id, job.name, job.base, job.requester_id, text, state, attempts, 0.0,
                   job.bits_before, job.bits_now, None, reason, job.created_at, time.time(), None)
        else:
            yield (*row[:5], None, *row[6:15], heartbeat_at)


def _file(stored: Path, in_folder: Path) -> Path | None:
    """Where a file the database names is: where it says, else in VOICES_DIR (a folder moved or
    mounted elsewhere since); None when in neither."""
    return next((path for path in (stored, in_folder) if path.is_file()), None)


