"""End-to-end set-up: the real bot (`python -m bot`) as a child process against the emulator.

One emulator and one bot process at a time serve the whole session (the bot once on SQLite, then
once on PostgreSQL), to keep the suite within CI's minutes on two cores; tests that restart or
kill the bot start their own (see test_e2e_restart).
Tests use fresh users where /shakespeare's per-user cooldown would otherwise get in the way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.devtools.playground import BOT_CAST, BOT_COMMAND
from discord_emulator import Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import BOT_START_TIMEOUT, bot_env
from tests.pg_server import create_database, drop_database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bare_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(cast=BOT_CAST) as emu:
        yield emu
    # Over the whole session: nothing outside what the emulator knows of Discord's API, and
    # nothing against Discord's published contract (empty when the description is absent).
    assert emu.recorder.unknown_routes() == []
    assert emu.contract_violations() == []


@pytest_asyncio.fixture(scope="session", loop_scope="session", params=["sqlite", "postgres"])
async def bot(request: pytest.FixtureRequest, bare_emulator: Emulator,
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    """The shared bot, once on each backend: SQLite at BOT_DB_PATH, then a PostgreSQL database of
    its own (DATABASE_URL); every test that talks to it runs against both. At the end it must stop
    cleanly on SIGTERM, as `docker stop` asks."""
    directory: Path = tmp_path_factory.mktemp("bot")
    env = bot_env(directory / "settings.sqlite3")
    server = request.getfixturevalue("pg_server") if request.param == "postgres" else None
    if server is not None:
        env["DATABASE_URL"] = await create_database(server)
    process = BotProcess(bare_emulator, BOT_COMMAND, env, directory / "bot.log")
    await process.start()
    try:
        await process.wait_ready(BOT_START_TIMEOUT)
        yield process
    finally:
        exit_code = await process.stop()
        if server is not None:
            await drop_database(server, env["DATABASE_URL"])
    assert exit_code == 0, f"the bot stopped with status {exit_code}:\n{process.log_tail()}"
    if server is not None:  # nothing of this run may have gone to a SQLite file
        assert not (directory / "settings.sqlite3").exists()


@pytest.fixture(scope="session")
def emulator(bare_emulator: Emulator, bot: BotProcess) -> Emulator:
    """The session's emulator with the shared bot connected to it: a test that talks to the bot
    asks for this, so the bot is there whichever worker and order the test runs in."""
    return bare_emulator
