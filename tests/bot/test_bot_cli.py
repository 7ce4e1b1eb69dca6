"""`python -m bot`: its help, its refusals (one sentence, exit code 2, no traceback), the self-test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import __version__
from bot.config import ENVIRONMENT
from bot.ops.health import write_heartbeat
from bot.storage.sqlite_store import SqliteSettingsStore
from tests.bot.harness import make_checkpoints
from tests.pg_server import connect as pg_connect

REPO = Path(__file__).resolve().parents[2]
CONFIG_VARIABLES = [name for name, _, _ in ENVIRONMENT]


def run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=REPO, env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


def test_help_explains_every_command_option_and_variable():
    result = run("--help")
    assert result.returncode == 0
    for word in ["run", "sync", "healthcheck", "trainer", "invite", "copy-to-postgres", "--guild", "--local",
                 "--self-test", *CONFIG_VARIABLES]:
        assert word in result.stdout


def test_the_version_is_the_package_version():
    # tomllib is 3.11+, and the project supports 3.10.
    version = re.search(r'^version = "([^"]+)"$', (REPO / "pyproject.toml").read_text(), re.MULTILINE)
    assert version and __version__ == version[1]
    assert run("--version").stdout.strip() == f"python -m bot {__version__}"


@pytest.mark.parametrize("args", [(), ("run",), ("sync",), ("sync", "--guild", "1")])
def test_a_missing_token_is_one_sentence_and_exit_code_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("bot: DISCORD_TOKEN is not set;") and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_a_bad_variable_is_one_sentence_and_exit_code_2():
    result = run(DISCORD_TOKEN="x", SHARD_IDS="0,1")
    assert (result.returncode, result.stderr) == (
        2, "bot: SHARD_IDS needs SHARD_COUNT, the total number of shards, to be set too.\n")


def test_guild_only_goes_with_sync():
    result = run("--guild", "5")
    assert result.returncode == 2 and "--guild only applies to `sync`" in result.stderr


@pytest.mark.parametrize("guild", ["0", "-5", str(2**64)])
def test_guild_must_be_a_server_id(guild):
    result = run("sync", "--guild", guild, DISCORD_TOKEN="x")
    assert result.returncode == 2 and "--guild must be a server ID" in result.stderr


def test_healthcheck_is_healthy_only_with_a_fresh_heartbeat(tmp_path):
    heartbeat = tmp_path / "bot.sqlite3.heartbeat"
    result = run("healthcheck", BOT_DB_PATH=str(tmp_path / "bot.sqlite3"))
    assert result.returncode == 1 and "No heartbeat" in result.stdout
    write_heartbeat(heartbeat, {})
    assert run("healthcheck", BOT_DB_PATH=str(tmp_path / "bot.sqlite3")).returncode == 0
    os.utime(heartbeat)  # the file's content, not its time stamp, says when the bot last beat
    heartbeat.write_text('{"time": 0}')
    result = run("healthcheck", BOT_HEARTBEAT_PATH=str(heartbeat))
    assert result.returncode == 1 and "old" in result.stdout


async def test_the_self_test_passes_end_to_end_and_leaves_the_change_in_the_database(tmp_path):
    db_path = tmp_path / "data" / "bot.sqlite3"
    result = run("--self-test", timeout=300, BOT_DB_PATH=str(db_path), DEVICE="cpu",
                 CHECKPOINT_DIR=str(make_checkpoints(tmp_path / "checkpoints")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "self-test: passed"
    store = await SqliteSettingsStore.open(db_path)
    try:
        async with store._reader.execute("SELECT temperature FROM guild_settings") as cursor:
            assert await cursor.fetchall() == [(1.3,)]
    finally:
        await store.close()


async def test_the_self_test_uses_postgresql_when_database_url_is_set(tmp_path, database_url):

    result = run("--self-test", timeout=300, BOT_DB_PATH=str(tmp_path / "unused.sqlite3"), DEVICE="cpu",
                 DATABASE_URL=database_url, CHECKPOINT_DIR=str(make_checkpoints(tmp_path / "checkpoints")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test: the change is stored in 127.0.0.1:" in result.stdout
    connection = await pg_connect(database_url)
    try:
        assert await connection.fetchval("SELECT array_agg(temperature) FROM guild_settings") == [1.3]
    finally:
        await connection.close()
    assert not (tmp_path / "unused.sqlite3").exists()


def test_the_self_test_fails_without_models(tmp_path):
    result = run("--self-test", timeout=300, BOT_DB_PATH=str(tmp_path / "bot.sqlite3"),
                 CHECKPOINT_DIR=str(tmp_path / "none"))
    assert result.returncode == 1
    assert "self-test: FAILED: the bot stopped before it connected" in result.stdout
    assert "self-test: FAILED: the bot ended with 2 (its log is above)" in result.stdout
    assert "Cannot load the models from CHECKPOINT_DIR=" in result.stderr


def test_invite_prints_both_install_links_with_only_the_permission_the_bot_uses():
    result = run("invite", "--client-id", "123")
    assert result.returncode == 0 and result.stderr == ""
    links = [line.strip() for line in result.stdout.splitlines() if line.startswith("  https://")]
    assert links == [
        "https://discord.com/oauth2/authorize?client_id=123&scope=bot+applications.commands"
        "&permissions=32768&integration_type=0",  # 32768: Attach Files, and nothing else
        "https://discord.com/oauth2/authorize?client_id=123&scope=applications.commands&integration_type=1",
    ]


def test_invite_reads_the_application_id_from_the_token_or_says_what_to_give():
    from bot.ops.invite import application_id_from_token
    from discord_emulator.models import make_token

    assert application_id_from_token(make_token(987654321)) == 987654321
    assert "client_id=42&" in run("invite", DISCORD_TOKEN=make_token(42)).stdout
    for env, expected in ({}, "Give --client-id"), ({"DISCORD_TOKEN": "not-a-token"}, "does not look like"):
        result = run("invite", **env)
        assert result.returncode == 2 and result.stdout == "" and expected in result.stderr
        assert result.stderr.count("\n") == 1
    refused = run("run", "--client-id", "1")
    assert refused.returncode == 2 and "--client-id only applies to `invite`" in refused.stderr
