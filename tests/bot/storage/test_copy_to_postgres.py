"""`python -m bot copy-to-postgres`: a bot's SQLite file and voices, filled through the real stores,
copied into a real PostgreSQL (tests/pg_server.py) and read back through the PostgreSQL stores;
refusals are one sentence, exit code 2 and nothing written, whatever fails and wherever."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import ENVIRONMENT, BotConfig
from bot.ops.health import write_heartbeat
from bot.storage import replies as replies_store
from bot.storage.copy_to_postgres import TABLES, copy_database
from bot.storage.pg_voices import PostgresVoiceBook
from bot.storage.postgres import describe
from bot.storage.postgres_store import PostgresSettingsStore
from bot.storage.replies import ReplyRecord
from bot.storage.sqlite_store import SqliteSettingsStore
from bot.storage.sqlite_voices import SqliteVoiceBook
from bot.storage.voices import TEXT_GONE
from tests.helpers import TINY_TEXT, run_main, tiny_checkpoint
from tests.pg_server import connect as pg_connect

GUILD, OTHER, THIRD = 1234, 5678, 9012
USER = 1_234_567_890_123_456_789  # a real Discord id: past 32 bits
TEXT = TINY_TEXT * 20


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> BotConfig:
    return BotConfig(db_path=tmp_path / "data" / "bot.sqlite3", database_url=database_url,
                     voices_dir=tmp_path / "data" / "voices")


def reply(number: int) -> ReplyRecord:
    return ReplyRecord(key=f"{number:016d}", requester_id=USER, seed="To be", model="lstm", temperature=0.8,
                       length=100, body=f"or not {number}", prompt=f"To be or not {number}",
                       continued=bool(number % 2))


async def fill(config: BotConfig) -> dict[str, int]:
    """A bot's file as the bot and its trainer leave it: settings (some left at their defaults),
    state, replies (one expired), a trained voice, and jobs in every state; the ids of the jobs."""
    sqlite = await SqliteSettingsStore.open(config.db_path)
    try:
        await sqlite.set_value(GUILD, "temperature", 0.5)
        await sqlite.set_value(GUILD, "model", "voice:lore")
        await sqlite.set_value(OTHER, "length", 1500)
        await sqlite.set_user_value(USER, "length", 42)
        await sqlite.set_user_value(USER + 1, "model", "gru")
        await sqlite.set_state("command_set_hash", "abc123")
        for number in range(4):
            await sqlite.save_reply(reply(number))
    finally:
        await sqlite.close()
    with sqlite3.connect(config.db_path) as connection:  # /guess's scores and tally
        connection.execute("INSERT INTO guess_scores VALUES (?, 7, 3, 1, 2, 4, 1000.0)", (GUILD,))
        connection.execute("INSERT INTO guess_fooled VALUES ('lstm', 12, 30)")
    with sqlite3.connect(config.db_path) as connection:  # sent 15 days ago: its buttons expired
        connection.execute("UPDATE replies SET created_at = created_at - 15 * 86400 WHERE key = ?",
                           (reply(0).key,))
    book = SqliteVoiceBook(config.db_path, config.voices_folder)
    done = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    assert await book.claim() == await book.job(done.id) != done
    book.training_path(done).parent.mkdir(parents=True)
    tiny_checkpoint(book.training_path(done), "lstm", hidden_size=32)
    assert await book.finish(done, book.training_path(done), 3.0, 2.0)
    await book.drop_text(done)
    cancelled = await book.enqueue(GUILD, "again", "lstm", 7, TEXT)
    await book.cancel(GUILD)
    running = await book.enqueue(OTHER, "bard", "lstm", 8, TEXT)
    queued = await book.enqueue(THIRD, "fool", "lstm", 9, TEXT[::-1])
    assert (await book.claim()).id == running.id  # its trainer stopped mid-job
    return {"done": done.id, "cancelled": cancelled.id, "running": running.id, "queued": queued.id}


async def pg_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every copied table, as psql would show them."""
    connection = await pg_connect(url)
    try:
        return {table: [tuple(row) for row in await connection.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")]
                for table in TABLES}
    finally:
        await connection.close()


def sqlite_rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_sentence(text: str) -> bool:
    return text.startswith("bot: ") and text.endswith(".\n") and text.count("\n") == 1 and ". " not in text


async def command(monkeypatch, config: BotConfig, **overrides: str) -> tuple[int, str, str]:
    """`python -m bot copy-to-postgres` with the configuration's variables (in process, in a thread:
    the command runs its own event loop)."""
    for name, _, _ in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    variables = {"BOT_DB_PATH": str(config.db_path), "VOICES_DIR": str(config.voices_folder),
                 "DATABASE_URL": config.database_url or "", **overrides}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = await asyncio.to_thread(run_main, main, ["copy-to-postgres"], "python -m bot")
    return result.returncode, result.stdout, result.stderr


async def test_everything_is_copied_and_reads_back_the_same_through_the_postgres_stores(
        config: BotConfig, monkeypatch, tmp_path: Path) -> None:
    jobs = await fill(config)
    monkeypatch.setattr(replies_store, "MAX_REPLIES", 2)  # PostgreSQL would keep the newest 2
    before = digest(config.db_path)
    # The password is never shown (the test server trusts any).
    with_password = config.database_url.replace("postgres@", "postgres:hunter2@")
    status, out, err = await command(monkeypatch, config, DATABASE_URL=with_password)
    assert (status, err) == (0, ""), err
    assert f"to the PostgreSQL database at {describe(config.database_url)}" in out and "hunter2" not in out
    counts = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()[1:-1]}
    assert counts == {"guild_settings": 2, "user_settings": 2, "bot_state": 1, "replies": 2, "voices": 1,
                      "voice_jobs": 4, "guess_scores": 1, "guess_fooled": 1}
    assert "2 left out" in out and "2 queued again" in out
    assert digest(config.db_path) == before  # read only

    # The settings rows as they were, NULL (the default) included.
    for table, key in (("guild_settings", "guild_id"), ("user_settings", "user_id")):
        assert [row[:4] for row in (await pg_rows(config.database_url))[table]] == sqlite_rows(
            config.db_path, f"SELECT {key}, temperature, length, model FROM {table} ORDER BY {key}")
    sqlite = await SqliteSettingsStore.open(config.db_path)
    pg = await PostgresSettingsStore.open(config.database_url)
    try:
        for read in ("get", "get_user"):
            for owner in (GUILD, OTHER, THIRD, USER, USER + 1):
                theirs, ours = await getattr(sqlite, read)(owner), await getattr(pg, read)(owner)
                assert (ours, ours.changed) == (theirs, theirs.changed)
        assert await pg.get_state("command_set_hash") == "abc123"
        for number in (2, 3):  # the newest two, with their times: they expire when they would have
            assert await pg.get_reply(reply(number).key) == await sqlite.get_reply(reply(number).key)
            assert (await pg.get_reply(reply(number).key)).body == f"or not {number}"
        assert await pg.get_reply(reply(1).key) is None and await pg.get_reply(reply(0).key) is None
    finally:
        await sqlite.close()
        await pg.close()

    old = SqliteVoiceBook(config.db_path, config.voices_folder)
    new = PostgresVoiceBook(config.database_url, tmp_path / "another-host")
    try:
        [theirs], [ours] = await old.voices(GUILD), await new.voices(GUILD)
        assert (ours.name, ours.base, ours.bits_before, ours.bits_after, ours.created_at) == (
            theirs.name, theirs.base, theirs.bits_before, theirs.bits_after, theirs.created_at)
        assert (await new.voice_file(ours)).read_bytes() == Path(theirs.file).read_bytes()
        # Ended jobs as they were, without their text; live ones queued again with it, the attempt
        # the stopped trainer made not counted, in the same order.
        for name in ("done", "cancelled"):
            assert await new.job(jobs[name]) == replace(await old.job(jobs[name]), text_file=None)
            assert await new.job_text(await new.job(jobs[name])) is None
        running, queued = await new.job(jobs["running"]), await new.job(jobs["queued"])
        assert (running.state, running.attempts, running.progress) == ("queued", 0, 0.0)
        assert await new.job_text(running) == TEXT and await new.job_text(queued) == TEXT[::-1]
        assert [(await new.claim()).id, (await new.claim()).id] == [jobs["running"], jobs["queued"]]
        # A new job is numbered after the copied ones.
        assert (await new.enqueue(GUILD, "next", "lstm", 7, TEXT)).id > max(jobs.values())
    finally:
        await new.close()


async def test_a_second_run_is_refused_and_changes_nothing(config: BotConfig, monkeypatch) -> None:
    await fill(config)
    assert (await command(monkeypatch, config))[0] == 0
    copied = await pg_rows(config.database_url)
    status, out, err = await command(monkeypatch, config)
    assert (status, out) == (2, "") and one_sentence(err), err
    assert f"already holds rows ({', '.join(TABLES)}), and" in err
    assert await pg_rows(config.database_url) == copied


@pytest.mark.parametrize("breakage", ["a model name the checks refuse", "a NUL PostgreSQL refuses",
                                      "an empty checkpoint"])
async def test_a_row_refused_mid_copy_leaves_postgres_empty(config: BotConfig, monkeypatch,
                                                            breakage: str) -> None:
    await fill(config)
    if breakage == "a model name the checks refuse":
        sqlite_rows(config.db_path, f"UPDATE user_settings SET model = 'no such!' WHERE user_id = {USER + 1}")
        named = f"The user_settings row of user {USER + 1}"
    elif breakage == "a NUL PostgreSQL refuses":
        sqlite_rows(config.db_path, f"UPDATE replies SET seed = 'a' || char(0) WHERE key = '{reply(3).key}'")
        named = f"The replies row of key {reply(3).key}"
    else:  # the last but one table: settings, state and replies were written before it failed
        [voice] = await SqliteVoiceBook(config.db_path, config.voices_folder).voices(GUILD)
        Path(voice.file).write_bytes(b"")
        named = f"The voices row of guild {GUILD} voice lore"
    status, out, err = await command(monkeypatch, config)
    assert (status, out) == (2, "") and err.startswith(f"bot: {named} in {config.db_path} cannot be copied (")
    assert err.endswith("; fix or delete it there and run this again, nothing was copied.\n"), err
    assert err.count("\n") == 1
    assert await pg_rows(config.database_url) == {table: [] for table in TABLES}


async def test_a_live_job_whose_text_is_gone_is_copied_as_failed(config: BotConfig) -> None:
    jobs = await fill(config)
    book = SqliteVoiceBook(config.db_path, config.voices_folder)
    await book.drop_text(await book.job(jobs["queued"]))
    counts, notes, _ = await copy_database(config)
    assert counts["voice_jobs"] == 4 and notes["voice_jobs"] == f"1 queued again, 1 failed: {TEXT_GONE}"
    new = PostgresVoiceBook(config.database_url, config.voices_folder)
    try:
        failed = await new.job(jobs["queued"])
        assert (failed.state, failed.reason) == ("failed", TEXT_GONE)
    finally:
        await new.close()


async def test_files_found_in_voices_dir_when_the_folder_moved(config: BotConfig, tmp_path: Path) -> None:
    await fill(config)
    moved = BotConfig(db_path=tmp_path / "moved" / "bot.sqlite3", database_url=config.database_url,
                      voices_dir=tmp_path / "moved" / "voices")
    (tmp_path / "data").rename(tmp_path / "moved")  # the paths in the file point at data/ still
    counts, _, _ = await copy_database(moved)
    assert counts["voices"] == 1
    new = PostgresVoiceBook(config.database_url, tmp_path / "cache")
    try:
        assert await new.job_text(await new.latest_job(THIRD)) == TEXT[::-1]
    finally:
        await new.close()


@pytest.mark.parametrize(("variables", "says"), [
    ({"BOT_DB_PATH": "/nonexistent/bot.sqlite3"}, "bot: There is no SQLite settings database at "),
    ({"DATABASE_URL": ""}, "bot: DATABASE_URL is not set;"),
    ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing"},
     "bot: Cannot use the settings database at 127.0.0.1:1/nothing ("),
    ({"DATABASE_URL": "mysql://x"}, "bot: DATABASE_URL must be a postgresql:// URL"),
])
async def test_what_cannot_work_is_one_sentence_exit_2_and_nothing_written(
        config: BotConfig, monkeypatch, variables: dict[str, str], says: str) -> None:
    await fill(config)
    status, out, err = await command(monkeypatch, config, **variables)
    assert (status, out) == (2, "") and err.startswith(says) and one_sentence(err), err
    connection = await pg_connect(config.database_url)
    try:  # not even migrated
        assert await connection.fetchval("SELECT to_regclass('guild_settings')") is None
    finally:
        await connection.close()


async def test_a_bot_still_serving_from_the_file_is_refused(config: BotConfig, monkeypatch) -> None:
    await fill(config)
    write_heartbeat(config.heartbeat_file, {})
    status, _, err = await command(monkeypatch, config)
    assert status == 2 and one_sentence(err) and "is fresh); stop every bot process" in err
    config.heartbeat_file.unlink()
    assert (await command(monkeypatch, config))[0] == 0
