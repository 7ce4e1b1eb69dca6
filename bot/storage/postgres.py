"""PostgreSQL's side of storage: where the database is (for messages, never the password), and the
one place asyncpg's errors become the bot's (bot/errors.py): which mean the server cannot be
reached, which that another transaction held a lock too long.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import yarl

# What a database that cannot be reached (down, restarting, the network cut, out of connections,
# the connection dropped) raises, as opposed to a refusal of what we asked.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,  # the connection or the pool is closed
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutting down, starting up, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, out of memory or disk
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # 28: the password changed meanwhile
    asyncpg.exceptions.InvalidCatalogNameError,  # 3D000: the database was dropped
)
# Another transaction held a lock we needed for the whole timeout: as SQLite's busy timeout.
BUSY_ERRORS = (asyncpg.exceptions.LockNotAvailableError, asyncpg.exceptions.DeadlockDetectedError,
               asyncpg.exceptions.SerializationError)


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
    text = str(error).strip() or type(error).__name__
    with contextlib.suppress(ValueError, TypeError):
        password = yarl.URL(url).password if url else None
        if password:
            text = text.replace(password, "***")
    return text.splitlines()[0][:200]


