"""Storage: everything the bot keeps in its database, SQLite (the default) or PostgreSQL.

    settings.py          the rows the bot keeps and their limits (server and user settings), and
                         `SettingsStore`, the protocol the commands use
    replies.py           the rows behind a reply's buttons and their bounds
    queries.py           every settings, state and reply query, written once for both databases
    voices.py            server voices and training jobs (`VoiceBook`, async, its SQL written once
                         for both databases with ? placeholders), their limits and the job states
    schema.py            every table, written once for both databases as one frozen history of
                         numbered migrations; each database's `Dialect` spells it
    sqlite.py            SQLite's side: its dialect and migrations, its file's faults and the one
                         place sqlite3 errors become the bot's (bot/errors.py)
    sqlite_store.py      the settings store over a SQLite file (aiosqlite), replies included
    postgres.py          PostgreSQL's side: its dialect (the NOTIFY trigger) and migrations, where
                         it is, and the one place psycopg's errors become the bot's
    postgres_store.py    the settings store over PostgreSQL (psycopg async; LISTEN/NOTIFY keeps every
                         process's cache right, an advisory lock serializes migrations)
    sqlite_voices.py     the voice book over the SQLite file (aiosqlite, as the settings store)
    pg_voices.py         the voice book over PostgreSQL (psycopg 3's async API, as the settings store)
    timed.py             TimedStore: every store call timed for /metrics
    copy_to_postgres.py  `python -m bot copy-to-postgres`: a SQLite bot's data into PostgreSQL

`open_store` and `open_voice_book` choose between the databases by DATABASE_URL; the trainer
opens (and migrates) the database through them as the bot does, on an event loop of its own. One
driver per database: aiosqlite for SQLite, psycopg 3 (async) for PostgreSQL. Nothing here imports
Discord.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.storage.settings import SettingsStore
from bot.storage.sqlite_store import SqliteSettingsStore
from bot.storage.sqlite_voices import SqliteVoiceBook
from bot.storage.voices import VoiceBook

if TYPE_CHECKING:
    from bot.config import BotConfig


async def open_store(config: BotConfig) -> SettingsStore:
    """SQLite at BOT_DB_PATH, or PostgreSQL when DATABASE_URL is set, opened and migrated (either's
    migrations make the server voices' tables too); SettingsStoreError (one sentence) when it
    cannot be. The PostgreSQL driver is imported only when chosen."""
    if config.database_url is None:
        return await SqliteSettingsStore.open(config.db_path)
    from bot.storage.postgres_store import PostgresSettingsStore

    return await PostgresSettingsStore.open(config.database_url)


def open_voice_book(config: BotConfig, call_seconds: float | None = None) -> VoiceBook:
    """The voices in the database the settings are in (the same choice as `open_store`, whose
    migrations make the tables; psycopg is imported only when chosen); `call_seconds` bounds each
    call (VoiceBook.call_seconds)."""
    if config.database_url is None:
        return SqliteVoiceBook(config.db_path, config.voices_folder, call_seconds)
    from bot.storage.pg_voices import PostgresVoiceBook

    return PostgresVoiceBook(config.database_url, config.voices_folder, disk_mb=config.voice_disk_mb,
                             call_seconds=call_seconds)
