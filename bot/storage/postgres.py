"""PostgreSQL's side of storage, through psycopg 3's async API (the settings store and the voice
book): how it spells the tables (`POSTGRES`, the dialect of bot/storage/schema.py,
with the trigger that NOTIFYs other processes of settings changes) and runs their migrations;
where the database is (for messages, never the password); and the one place psycopg's errors
become the bot's (bot/errors.py): which mean the server cannot be reached, which that another
transaction held a lock too long, which that its disk is full.

psycopg reports a lost server, a refused login and a full disk all as OperationalError (the
SQLSTATE tells them apart), so `reaching` turns the ones that mean "cannot be reached" into
`Unreachable`, one type the stores catch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import psycopg
import psycopg.errors
import yarl

from bot.errors import SettingsStoreError
from bot.storage.schema import MIGRATIONS, SCHEMA_VERSION, Dialect

# SQLSTATE classes of a database that cannot be reached, as opposed to a refusal of what we asked:
# 08 connection exception, 57 operator intervention (shutting down, starting up, cancelled),
# 53 insufficient resources (too many connections, out of memory; not 53100 disk full, which is
# FULL), 28 the password changed meanwhile, 3D000 the database was dropped.
_UNREACHABLE_STATES = ("08", "57", "53", "28", "3D000")
DISK_FULL = "53100"


class Unreachable(Exception):
    """The database cannot be reached (down, restarting, the network cut, out of connections, the
    connection dropped); str(error) is the driver's words."""


# What a store catches for "the database cannot be reached".
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, Unreachable)
# Another transaction held a lock we needed for the whole timeout: as SQLite's busy timeout.
BUSY_ERRORS = (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected,
               psycopg.errors.SerializationFailure)
FULL_ERRORS = (psycopg.errors.DiskFull,)

log = logging.getLogger(__name__)


def _notify_changes(spec: str) -> str:
    """The triggers on a settings table (`spec`: its name and its key column): every change, whoever
    makes it (a bot process, an operator in psql), tells the listening bots whose cached settings to
    drop: 'guild:123', 'user:5', or 'guild:*' after a TRUNCATE."""
    table, column = spec.split()
    scope = column.removesuffix("_id")
    return f"""
    CREATE OR REPLACE FUNCTION bot_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':*');
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION bot_settings_changed('{scope}', '{column}');
    CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION bot_settings_changed('{scope}', '{column}');
    """


POSTGRES = Dialect("postgres", {
    "int": "integer", "bigint": "bigint", "real": "double precision", "text": "text", "bool": "boolean",
    "timestamp": "timestamptz", "now": "now()",
    "identity": "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "strict": "", "notify": _notify_changes,
})

# pg_advisory_xact_lock's key for migrating: processes starting at the same moment take turns.
MIGRATION_LOCK = 0x5348414B45  # "SHAKE"
# How long a process waits for another's migration (or any lock a migration needs) before it gives up.
MIGRATION_LOCK_TIMEOUT_MS = 60_000
# Before bot/storage/schema.py wrote the tables once, PostgreSQL numbered its own migrations (in the
# order its tables came) in a table schema_version: each of those numbers, and the migrations of
# today's history it made.
NUMBERED_BEFORE = {1: (1, 4), 2: (2,), 3: (3,), 4: (5,), 5: (6,)}


async def migrate(connection: psycopg.AsyncConnection, where: str) -> None:
    """Apply the migrations the database lacks, each exactly once however many processes start at
    once: the advisory lock makes them take turns, and each finds what the ones before it recorded
    (one row per migration in schema_migrations). A database numbered the old way is renumbered
    first, in the same transaction. SettingsStoreError for a database from a newer bot."""
    renumbered = None
    async with connection.transaction():
        await connection.execute(f"SET LOCAL lock_timeout = {MIGRATION_LOCK_TIMEOUT_MS}")
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        await connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                number     integer PRIMARY KEY CHECK (number > 0),
                applied_at timestamptz NOT NULL DEFAULT now()
            )""")
        if await _rows(connection, "SELECT to_regclass('schema_version') IS NOT NULL") == [True]:
            numbered = await _rows(connection, "SELECT version FROM schema_version")
            _refuse_newer(where, max(numbered, default=0), max(NUMBERED_BEFORE))
            for number in sorted({new for old in numbered for new in NUMBERED_BEFORE[old]}):
                await connection.execute("INSERT INTO schema_migrations (number) VALUES (%s) "
                                         "ON CONFLICT DO NOTHING", (number,))
            await connection.execute("DROP TABLE schema_version")
            renumbered = max(numbered, default=0)
        done = set(await _rows(connection, "SELECT number FROM schema_migrations"))
        _refuse_newer(where, max(done, default=0), SCHEMA_VERSION)
        for number in range(1, len(MIGRATIONS) + 1):
            if number not in done:
                await connection.execute(POSTGRES.migration(number))
                await connection.execute("INSERT INTO schema_migrations (number) VALUES (%s)", (number,))
    if renumbered is not None:
        log.info("The settings database at %s had numbered its migrations the old way (schema_version, up "
                 "to %s); they are recorded in schema_migrations now.", where, renumbered)


def _refuse_newer(where: str, version: int, known: int) -> None:
    if version > known:
        raise SettingsStoreError(
            f"The settings database at {where} has schema version {version}, newer than this bot's "
            f"{known}; run a newer bot or restore an older backup.")


async def _rows(connection: psycopg.AsyncConnection, sql: str) -> list:
    """The first column of every row `sql` returns."""
    cursor = await connection.execute(sql)
    return [row[0] for row in await cursor.fetchall()]


def is_unreachable(error: BaseException) -> bool:
    """psycopg's error for a database that cannot be reached: no connection (no SQLSTATE), the
    connection closed, or one of _UNREACHABLE_STATES."""
    if isinstance(error, psycopg.InterfaceError):
        return True
    if not isinstance(error, psycopg.Error):
        return False
    state = error.sqlstate
    if state is None:
        return isinstance(error, psycopg.OperationalError)
    return state != DISK_FULL and state.startswith(_UNREACHABLE_STATES)


@contextlib.contextmanager
def reaching() -> Iterator[None]:
    """Within: psycopg's "cannot be reached" errors raise as Unreachable (chained), others as they are."""
    try:
        yield
    except psycopg.Error as error:
        if is_unreachable(error):
            raise Unreachable(str(error).strip() or type(error).__name__) from error
        raise


def placeholders(sql: str) -> str:
    """bot/storage/queries.py's `?` placeholders as psycopg's `%s` (no query there holds a literal ?)."""
    return sql.replace("?", "%s")


def describe(url: str) -> str:
    """Where the database is, for messages and logs: host, port and database, never the password."""
    try:
        parsed = yarl.URL(url)
    except (ValueError, TypeError):
        return "DATABASE_URL"
    host = parsed.host or parsed.query.get("host") or "localhost"
    database = parsed.path.lstrip("/") or parsed.user or "postgres"
    return f"{host}:{parsed.port or 5432}/{database}"


def reason(error: BaseException, url: str = "") -> str:
    """The driver's words for a log line or a sentence: its first line, the password hidden."""
    text = str(error).strip() or type(error).__name__
    with contextlib.suppress(ValueError, TypeError):
        password = yarl.URL(url).password if url else None
        if password:
            text = text.replace(password, "***")
    return text.splitlines()[0][:200]


async def connect(url: str, application_name: str, timeout: float) -> psycopg.AsyncConnection:
    """One autocommit connection (a transaction is begun where one is wanted), within `timeout`."""
    with reaching():
        return await asyncio.wait_for(psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=max(2, round(timeout)),
            application_name=application_name), timeout)


class Pool:
    """At most `size` connections to the database at `url`, the idle ones kept for the next use.

    A connection comes back to the pool only idle and outside a transaction; one that failed, was
    cancelled mid-statement or was closed by the server is closed instead."""

    def __init__(self, url: str, size: int, application_name: str, connect_timeout: float) -> None:
        self._url = url
        self._application_name = application_name
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float):
        await asyncio.wait_for(self._slots.acquire(), timeout)
        try:
            if self._closed:
                raise Unreachable("the connection pool is closed")
            connection = self._idle.pop() if self._idle else await connect(
                self._url, self._application_name, min(timeout, self._connect_timeout))
            try:
                with reaching():
                    yield connection
            except BaseException:
                await close_quietly(connection)
                raise
            if (self._closed or connection.closed
                    or connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE):
                await close_quietly(connection)
            else:
                self._idle.append(connection)
        finally:
            self._slots.release()

    async def expire_connections(self) -> None:
        """Close the idle connections: after one was found dropped by the server, so may they be."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await close_quietly(connection)

    async def close(self) -> None:
        self._closed = True
        await self.expire_connections()


async def close_quietly(connection: psycopg.AsyncConnection) -> None:
    with contextlib.suppress(psycopg.Error, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(connection.close(), 2)
