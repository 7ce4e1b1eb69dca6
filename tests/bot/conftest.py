"""PostgreSQL for the bot's tests: one throwaway server per test process (tests/pg_server.py), a new
database per test, and `database`, which runs a test once per backend the bot supports."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tests.pg_server import (
    SKIP_REASON,
    PostgresServer,
    create_database,
    create_database_now,
    drop_database,
    drop_database_now,
    find_bin_dir,
)


@pytest.fixture(scope="session")
def pg_server():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI") == "true":  # .ci/run installs PostgreSQL: never skip there
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bin_dir)
    started = time.monotonic()
    try:
        server.init()
        server.start()
    except BaseException:
        server.destroy()
        raise
    print(f"\nPostgreSQL test server: initdb {server.initdb_seconds:.2f} s, "
          f"start {server.start_seconds:.2f} s, ready after {time.monotonic() - started:.2f} s")
    yield server
    server.destroy()


@pytest.fixture
async def database_url(pg_server):
    url = await create_database(pg_server)
    yield url
    if not pg_server.running():  # a test that stopped the server and failed before starting it again
        await asyncio.to_thread(pg_server.start)
    await drop_database(pg_server, url)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request):
    """The bot's DATABASE_URL for each backend in turn: None (SQLite at BOT_DB_PATH), then a new,
    empty PostgreSQL database (the server starts only for the tests that get here)."""
    if request.param == "sqlite":
        yield None
        return
    server = request.getfixturevalue("pg_server")
    url = create_database_now(server)
    yield url
    drop_database_now(server, url)
