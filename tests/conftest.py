"""Shared test set-up.

Tests use small models, which run fastest on one thread; one thread also keeps a test run from
fighting a training run (or another test process) for the machine's cores. Subprocesses that the
tests start (the bot, train.py, torchrun) inherit the setting through the environment.
"""

import asyncio
import os
import time

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Every sentence the bot shows must exist in English and Korean: a missing one raises (bot/i18n.py).
os.environ.setdefault("BOT_STRICT_I18N", "1")

import torch  # noqa: E402  (the environment must be set before torch starts its thread pool)

torch.set_num_threads(1)

from tests.pg_server import (  # noqa: E402
    SKIP_REASON,
    PostgresServer,
    create_database,
    create_database_now,
    drop_database,
    drop_database_now,
    find_bin_dir,
)

# PostgreSQL for the tests: one throwaway server per test process (tests/pg_server.py), started
# only when a test asks for it; a new database per test; and `database`, which runs a test once per
# backend the bot supports (SQLite, then PostgreSQL).


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
