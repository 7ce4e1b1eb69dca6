"""Server voices below the commands: the job queue in the settings database, the checks on an
uploaded text, the download, and the trainer's handling of a job (tiny models, small budgets).

Every test of the queue, the trainer and the cache runs on both backends (`database`: SQLite, then
PostgreSQL through tests/pg_server.py); the ones at the end are PostgreSQL's own: several trainers
and shards on as many hosts, sharing the queue and the voices through the database only."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import errno
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yarl
from aiohttp import web

import bot.storage.voices as jobs_module
import bot.voices.trainer as trainer_module
from bot.config import BotConfig
from bot.errors import SettingsBusyError, SettingsUnavailableError, VoiceError
from bot.ops import health
from bot.storage import open_voice_book
from bot.storage.sqlite_voices import SqliteVoiceBook
from bot.storage.voices import MAX_VOICES_PER_SERVER, VoiceBook, check_name
from bot.voices.trainer import serve_jobs, train_one
from bot.voices.upload import MAX_UPLOAD_BYTES, check_source, check_text, decode_text, download
from charlm.checkpoint import load_checkpoint
from charlm.training.finetune import MIN_CHARACTERS
from tests.bot.storage.harness import finish_with, texts_kept
from tests.helpers import TINY_TEXT, tiny_checkpoint

GUILD = 4321
TEXT = TINY_TEXT * (MIN_CHARACTERS // len(TINY_TEXT) + 2)
CDN = "https://cdn.discordapp.com"


# The queue ---------------------------------------------------------------------------------------


async def test_a_job_is_queued_with_its_text_and_one_per_server_at_a_time(book: VoiceBook) -> None:
    job = await book.enqueue(GUILD, "Lore", "lstm", 7, TEXT)
    assert (job.name, job.state, job.base, await book.position(job)) == ("lore", "queued", "lstm", 1)
    assert await book.job_text(job) == TEXT
    with pytest.raises(VoiceError, match="already training for this server"):
        await book.enqueue(GUILD, "other", "lstm", 7, TEXT)
    assert texts_kept(book) == 1  # the refused job's text was removed again
    other = await book.enqueue(GUILD + 1, "lore", "gru", 8, TEXT)  # names are per server
    assert await book.position(other) == 2


async def test_names_are_checked_and_taken_ones_refused(book: VoiceBook) -> None:
    for bad in ("", "-lead", "with space", "x" * 21, "ünï", None):
        with pytest.raises(VoiceError, match="must be 1 to 20 letters"):
            check_name(bad)
    with pytest.raises(VoiceError, match="The name lstm is taken"):
        await book.enqueue(GUILD, "LSTM", "lstm", 7, TEXT, reserved={"lstm", "gru"})
    assert texts_kept(book) == 0


async def test_a_server_keeps_at_most_its_voices_and_the_queue_is_bounded(book: VoiceBook,
                                                                           monkeypatch) -> None:
    for number in range(MAX_VOICES_PER_SERVER):
        job = await book.enqueue(GUILD, f"v{number}", "lstm", 7, TEXT)
        claimed = await book.claim()
        assert claimed is not None and claimed.id == job.id
        await finish_with(book, claimed)
    with pytest.raises(VoiceError, match=f"has {MAX_VOICES_PER_SERVER} voices, the most it may keep"):
        await book.enqueue(GUILD, "one-more", "lstm", 7, TEXT)
    with pytest.raises(VoiceError, match="The name v0 is taken"):
        await book.enqueue(GUILD, "v0", "lstm", 7, TEXT)
    monkeypatch.setattr(jobs_module, "MAX_QUEUED_JOBS", 2)
    await book.enqueue(1, "a", "lstm", 1, TEXT)
    await book.enqueue(2, "a", "lstm", 2, TEXT)
    with pytest.raises(VoiceError, match="training 2 voices already"):
        await book.enqueue(3, "a", "lstm", 3, TEXT)
    assert texts_kept(book) == 2
    assert [(await book.latest_job(guild)).state for guild in (1, 2)] == ["queued"] * 2
    assert await book.latest_job(3) is None


async def test_cancel_and_delete_leave_nothing_behind(book: VoiceBook) -> None:
    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    cancelled = await book.cancel(GUILD)
    assert cancelled is not None and cancelled.id == job.id and texts_kept(book) == 0
    assert (await book.latest_job(GUILD)).state == "cancelled" and await book.cancel(GUILD) is None
    assert await book.claim() is None  # a cancelled job is never trained
    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    await finish_with(book, await book.claim())
    assert [voice.name for voice in await book.voices(GUILD)] == ["lore"]
    assert await book.voices(GUILD + 1) == []
    path = await book.voice_file(await book.voice(GUILD, "lore"))  # PostgreSQL: this host's copy, fetched
    assert path.read_bytes() == b"weights"
    assert await book.delete_voice(GUILD, "lore") and not path.exists()
    assert await book.voice(GUILD, "lore") is None
    assert not await book.delete_voice(GUILD, "lore")
    assert sorted(path.name for path in book.folder.rglob("*") if path.is_file()) == []


async def test_a_job_whose_trainer_died_is_retried_once_then_failed_with_the_reason(book: VoiceBook) -> None:
    await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    first = await book.claim()
    assert await book.recover_stale(time.time()) == []  # reported just now: alive
    [stale] = await book.recover_stale(time.time() + jobs_module.STALE_SECONDS + 1)
    assert stale.id == first.id and (await book.job(first.id)).state == "queued"
    second = await book.claim()
    assert second.attempts == 2
    await book.recover_stale(time.time() + jobs_module.STALE_SECONDS + 1)
    failed = await book.job(first.id)
    assert failed.state == "failed" and "trainer stopped 2 times" in failed.reason


# The upload --------------------------------------------------------------------------------------


def test_only_discords_attachment_host_is_fetched_from() -> None:
    assert check_source(f"{CDN}/attachments/1/2/lore.txt?ex=1", CDN).host == "cdn.discordapp.com"
    assert check_source(f"{CDN}/ephemeral-attachments/1/2/lore.txt?ex=1&is=2&hm=3&", CDN).name == "lore.txt"
    for url in ("https://evil.example/attachments/1/2/a.txt", "http://cdn.discordapp.com/attachments/1/2/a",
                f"{CDN}/avatars/1/2.png", "https://user@cdn.discordapp.com/attachments/1/2/a.txt",
                "https://cdn.discordapp.com.evil.example/attachments/1/2/a.txt", "not a url", 5):
        with pytest.raises(VoiceError, match="not an attachment Discord sent"):
            check_source(url, CDN)


def test_only_text_in_utf8_or_utf16_with_a_bom_is_read() -> None:
    assert decode_text("héllo".encode()) == "héllo"
    assert decode_text(codecs.BOM_UTF8 + "héllo".encode()) == "héllo"
    assert decode_text(codecs.BOM_UTF16_LE + "héllo".encode("utf-16-le")) == "héllo"
    assert decode_text(codecs.BOM_UTF16_BE + "héllo".encode("utf-16-be")) == "héllo"
    with pytest.raises(VoiceError, match="not UTF-8"):
        decode_text("héllo wörld".encode("latin-1"))
    with pytest.raises(VoiceError, match="not text"):
        decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # an image renamed .txt
    with pytest.raises(VoiceError, match="not text"):
        decode_text(b"\x01\x02\x03\x04" * 100)
    with pytest.raises(VoiceError, match="not text"):
        decode_text(codecs.BOM_UTF16_LE + ("x" * 1000 + "\x00").encode("utf-16-le"))  # one NUL
    with pytest.raises(VoiceError, match="starts like UTF-16"):
        decode_text(codecs.BOM_UTF16_LE + b"\x00\xd8")


def test_a_text_must_be_long_enough_and_mostly_writable() -> None:
    assert check_text(TEXT) == TEXT
    with pytest.raises(VoiceError, match=f"at least {MIN_CHARACTERS:,} characters"):
        check_text(TEXT[: MIN_CHARACTERS - 1])
    with pytest.raises(VoiceError, match="characters the models cannot write"):
        check_text("\U0001f3ad\U0001f480\u2603 " * MIN_CHARACTERS)


async def test_the_download_stops_at_the_limit_while_reading() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"x" * 65536)  # no Content-Length: the size shows only as it comes
        return response

    app = web.Application()
    app.router.add_get("/attachments/1/2/big.txt", endless)
    async def fine(request: web.Request) -> web.Response:
        return web.Response(body=b"fine")

    app.router.add_get("/attachments/1/2/ok.txt", fine)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = yarl.URL(f"http://127.0.0.1:{runner.addresses[0][1]}")
    try:
        assert await download(base / "attachments/1/2/ok.txt", 4) == b"fine"
        with pytest.raises(VoiceError, match="larger than 2 MB"):
            await download(base / "attachments/1/2/big.txt", 10)  # Discord's stated size is not trusted
        with pytest.raises(VoiceError, match="larger than 2 MB"):
            await download(base / "attachments/1/2/ok.txt", MAX_UPLOAD_BYTES + 1)  # refused before fetching
        with pytest.raises(VoiceError, match=r"HTTP 404"):
            await download(base / "attachments/1/2/gone.txt", 4)
    finally:
        await runner.cleanup()


# The trainer -------------------------------------------------------------------------------------


def beat_time(path: Path) -> float | None:
    try:
        return json.loads(path.read_text())["time"]
    except FileNotFoundError:
        return None


@contextlib.asynccontextmanager
async def trainer_serving(config: BotConfig) -> AsyncIterator[threading.Thread]:
    """serve_jobs on a thread (with its own event loop), as `python -m bot trainer` runs it, from
    its first heartbeat on."""
    stop = threading.Event()
    worker = threading.Thread(target=serve_jobs, args=(config, stop), kwargs={"poll_seconds": 0.05})
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while beat_time(config.heartbeat_file) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        yield worker
    finally:
        stop.set()
        await asyncio.to_thread(worker.join, 30)


async def run_trainer_until_done(config: BotConfig, book: VoiceBook, job_id: int, within: float = 60) -> None:
    """The trainer serving until the job ended."""
    async with trainer_serving(config):
        deadline = time.monotonic() + within
        while (await book.job(job_id)).live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


async def test_the_trainer_makes_a_voice_that_loads_and_deletes_the_text(book: VoiceBook, config: BotConfig):
    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    await run_trainer_until_done(config, book, job.id)
    done = await book.job(job.id)
    assert done.state == "done" and done.bits_now < done.bits_before, done.reason
    voice = await book.voice(GUILD, "lore")
    assert voice is not None and (voice.bits_before, voice.bits_after) == (done.bits_before, done.bits_now)
    assert load_checkpoint(await book.voice_file(voice)).config.kind == "lstm"
    assert texts_kept(book) == 0 and await book.job_text(done) is None  # the text goes once trained
    if not isinstance(book, SqliteVoiceBook):  # (where SQLite keeps the voice) the row holds it now
        assert not book.training_path(done).exists()


async def test_a_voice_no_better_than_its_base_is_not_kept(book: VoiceBook, config: BotConfig,
                                                           monkeypatch) -> None:
    from charlm.training import finetune

    real = finetune.fine_tune

    def untrained(*args, **kwargs):
        kwargs["out_path"] = None  # as if the tuned model read the held-out text worse
        return real(*args, **{**kwargs, "budget_seconds": 0.5})

    monkeypatch.setattr(finetune, "fine_tune", untrained)
    await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    await train_one(book, await book.claim(), config)
    failed = await book.latest_job(GUILD)
    assert failed.state == "failed" and "no better than the base model's" in failed.reason
    assert await book.voices(GUILD) == [] and not book.training_path(failed).exists()


async def test_a_full_disk_or_a_cancel_ends_the_job_with_its_reason(book: VoiceBook, config: BotConfig,
                                                              monkeypatch) -> None:
    from charlm.training import finetune

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(finetune, "fine_tune", full)
    await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    await train_one(book, await book.claim(), config)
    assert (await book.latest_job(GUILD)).reason == "the bot's disk is full"
    monkeypatch.undo()
    await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    job = await book.claim()
    await book.cancel(GUILD)  # an admin cancels while it runs: the trainer stops at its next report
    started = time.monotonic()
    await train_one(book, job, dataclasses.replace(config, voice_train_seconds=30))
    assert time.monotonic() - started < 15
    assert (await book.job(job.id)).state == "cancelled" and await book.voices(GUILD) == []


async def test_a_trainer_told_to_stop_puts_its_job_back(book: VoiceBook, config: BotConfig) -> None:
    await book.enqueue(GUILD, "lore", "lstm", 7, TEXT * 30)  # long enough not to finish its epochs first
    job = await book.claim()
    stop = threading.Event()
    threading.Timer(1.0, stop.set).start()
    await train_one(book, job, dataclasses.replace(config, voice_train_seconds=30), stop)
    again = await book.job(job.id)
    assert (again.state, again.attempts) == ("queued", 0) and await book.job_text(again) == TEXT * 30


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_the_trainer_process_stopped_by_sigterm_puts_its_job_back_and_exits_cleanly(
        book: VoiceBook, config: BotConfig) -> None:
    """`python -m bot trainer` (its own event loop, the training on a worker thread) heeds SIGTERM
    mid-job: the job is queued again and the process exits 0 within the bot's grace, not killed."""
    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT * 30)
    trainer = trainer_module.LocalTrainer(trainer_module.trainer_env(
        dataclasses.replace(config, voice_train_seconds=60)))
    await trainer.ensure_running()
    try:
        deadline = time.monotonic() + 60
        while (await book.job(job.id)).progress == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # training, and reporting its progress through the book
        assert (await book.job(job.id)).state == "running"
    finally:
        await trainer.stop(grace=20)
    assert trainer.process.returncode == 0
    again = await book.job(job.id)
    assert (again.state, again.attempts) == ("queued", 0) and await book.job_text(again) == TEXT * 30
    assert not trainer_module.trainer_heartbeat(config).exists()


def test_the_local_trainer_gets_the_bots_configuration(config: BotConfig, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")  # the bot's, not the environment's
    env = trainer_module.trainer_env(dataclasses.replace(config, voice_train_seconds=7))
    assert env["BOT_DB_PATH"] == str(tmp_path / "bot.sqlite3") and env["VOICE_TRAIN_SECONDS"] == "7"
    assert env.get("DATABASE_URL") == config.database_url
    child = BotConfig.from_env(env)
    assert child.voices_folder == tmp_path / "voices"
    # Its own heartbeat: the bot's stays the bot's, so a live trainer cannot hide a bot that stopped.
    assert child.heartbeat_file != config.heartbeat_file
    assert child.heartbeat_file.parent == config.heartbeat_file.parent


async def test_the_trainer_keeps_a_heartbeat_while_it_serves_and_removes_it_at_the_end(book, config) -> None:
    async with trainer_serving(config) as worker:
        first = beat_time(config.heartbeat_file)
        assert first is not None and health.check_heartbeat(config.heartbeat_file) is None
        await asyncio.sleep(0.3)
        assert beat_time(config.heartbeat_file) > first  # fresh at every poll
    assert not worker.is_alive() and not config.heartbeat_file.exists()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_the_trainer_outlives_its_database_going_away_and_takes_the_next_job(
        book: VoiceBook, config: BotConfig, pg_server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="bot.voices.trainer")
    async with trainer_serving(config) as worker:
        await asyncio.to_thread(pg_server.stop)
        try:
            await asyncio.sleep(0.5)  # polls fail meanwhile; the trainer lives on, as its heartbeat says
            before = beat_time(config.heartbeat_file)
            await asyncio.sleep(0.5)
            assert worker.is_alive() and beat_time(config.heartbeat_file) > before
        finally:
            await asyncio.to_thread(pg_server.start)
        job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
        deadline = time.monotonic() + 60
        while (await book.job(job.id)).live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert (await book.job(job.id)).state == "done", (await book.job(job.id)).reason
    said = [record.getMessage() for record in caplog.records if record.name == "bot.voices.trainer"]
    assert sum("cannot reach its database" in line for line in said) == 1, said  # once per outage
    assert "The voice trainer reaches its database again." in said


async def test_loaded_voices_stay_within_the_cache_bound(tmp_path: Path, book: VoiceBook) -> None:
    from bot.voices.cache import VoiceCache
    from charlm.engine import GenerationEngine, GenerationRequest

    tiny_checkpoint(tmp_path / "lstm.safetensors", "lstm", hidden_size=32)
    engine = GenerationEngine({"lstm": tmp_path / "lstm.safetensors"}, device="cpu")
    try:
        for number in range(4):
            await book.enqueue(GUILD, f"v{number}", "lstm", 7, TEXT)
            await finish_with(book, await book.claim(), hidden_size=32)
        cache = VoiceCache(engine, book, budget_mb=1)
        first = await cache.choose(GUILD, "v0")
        cache.budget = int(2.5 * engine.model_bytes(first.engine_key))  # room for two voices
        for number in range(4):
            chosen = await cache.choose(GUILD, f"v{number}")
            assert await engine.generate(GenerationRequest(seed="a", model=chosen.engine_key, length=3))
            assert sum(engine.model_bytes(key) for key in cache.loaded) <= cache.budget
        assert len(cache.loaded) == 2
        await asyncio.sleep(0.2)  # the worker unloads the others between steps
        assert [key for key in cache.loaded if engine.serves(key)] == cache.loaded
        assert not engine.serves(first.engine_key)
        assert cache.loaded[-1].startswith(f"voice:{GUILD}:v3:")
        # A request whose voice was unloaded after it was chosen loads it again and is served.
        assert await cache.generate(GenerationRequest(seed="a", model=first.engine_key, length=3))
        assert engine.serves(first.engine_key) and len(cache.loaded) == 2
        with pytest.raises(VoiceError, match="no voice named nope"):
            await cache.choose(GUILD, "nope")
        with pytest.raises(VoiceError, match="no voice named v0"):
            await cache.choose(GUILD + 1, "v0")  # another server's voice is not there
        await book.delete_voice(GUILD, "v3")
        cache.forget(GUILD, "v3")
        assert not any(key.startswith(f"voice:{GUILD}:v3:") for key in cache.loaded)
        await asyncio.sleep(0.2)
        with pytest.raises(VoiceError):
            await cache.choose(GUILD, "v3")
    finally:
        await engine.aclose()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_with_the_database_away_a_loaded_voice_still_writes_and_another_is_one_sentence(
        tmp_path: Path, book: VoiceBook, config: BotConfig, pg_server) -> None:
    from bot.voices.cache import VoiceCache
    from charlm.engine import GenerationEngine, GenerationRequest

    tiny_checkpoint(tmp_path / "lstm.safetensors", "lstm", hidden_size=32)
    engine = GenerationEngine({"lstm": tmp_path / "lstm.safetensors"}, device="cpu")
    try:
        for name in ("lore", "saga"):
            await book.enqueue(GUILD, name, "lstm", 7, TEXT)
            await finish_with(book, await book.claim(), hidden_size=32)
        # Another host's process: its own VOICES_DIR, so "saga" is nowhere on it until fetched.
        there = open_voice_book(on_host(config, "other"))
        cache = VoiceCache(engine, there, budget_mb=100)
        loaded = await cache.choose(GUILD, "lore")
        pg_server.stop()
        try:
            again = await cache.choose(GUILD, "lore")
            assert again == loaded  # as the settings fall back to the last read
            assert await cache.generate(GenerationRequest(seed="a", model=again.engine_key, length=3))
            with pytest.raises(SettingsUnavailableError) as refused:
                await cache.choose(GUILD, "saga")
            assert str(refused.value) == ("The bot cannot reach its database right now, so the voice saga "
                                          "cannot be loaded; try again in a moment.")
            # The book's own calls are the settings' sentence, not a driver's traceback.
            with pytest.raises(SettingsUnavailableError, match="cannot reach its settings database"):
                await there.voices(GUILD)
        finally:
            pg_server.start()
        assert (await cache.choose(GUILD, "saga")).engine_key.startswith(f"voice:{GUILD}:saga:")
        await there.close()
    finally:
        await engine.aclose()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_locked_or_damaged_sqlite_file_is_the_settings_sentence(book: VoiceBook,
                                                                   config: BotConfig) -> None:
    import sqlite3

    bounded = open_voice_book(config, call_seconds=0.2)  # as the bot's: a lock waited for 0.2 s at most
    holder = sqlite3.connect(config.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than the busy timeout
    try:
        with pytest.raises(SettingsBusyError, match="busy, so nothing was changed"):
            await bounded.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        await bounded.close()
    assert await book.voices(GUILD) == [] and await book.latest_job(GUILD) is None and texts_kept(book) == 0
    with config.db_path.open("r+b") as file:  # a torn copy: the header and first pages overwritten
        file.write(b"\x00not a database" * 512)
    with pytest.raises(SettingsUnavailableError, match="storage is damaged"):
        await book.voices(GUILD)


async def test_the_progress_reply_says_where_the_job_is(book: VoiceBook) -> None:
    from bot.commands.voice import describe_job
    from bot.i18n import localize

    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    assert describe_job(job, 3) == "Voice lore is queued: number 3 in line."
    running = await book.claim()
    await book.report(running.id, progress=0.4, bits_before=2.91, bits_now=None, seconds_left=180)
    assert describe_job(await book.job(running.id)) == "Training voice lore: 40% done, about 180 s left."
    await book.report(running.id, progress=0.5, bits_before=None, bits_now=1.62, seconds_left=150)
    shown = describe_job(await book.job(running.id))
    assert shown == ("Training voice lore: 50% done, about 150 s left; held-out loss before 2.910, "
                     "training loss now 1.620 bits/char.")
    assert localize(shown, "ko").startswith("목소리 lore 학습 중: 50% 완료")
    await book.end(running, "failed", "the bot's disk is full")
    assert describe_job(await book.job(running.id)) == "Voice lore was not made: the bot's disk is full."


# PostgreSQL: shards and trainers on several hosts, sharing only the database ---------------------

pg_only = pytest.mark.parametrize("database", ["postgres"], indirect=True)


def on_host(config: BotConfig, host: str) -> BotConfig:
    """The same database, seen from another host: a VOICES_DIR of its own, empty."""
    return dataclasses.replace(config, voices_dir=config.voices_folder.parent / host)


def another_process(config: BotConfig, name: str) -> BotConfig:
    """Another bot or trainer process on the same database: on another host with PostgreSQL, on this
    one with SQLite (whose processes share the file and VOICES_DIR)."""
    return config if config.database_url is None else on_host(config, name)


async def test_trainers_claiming_at_once_each_get_a_different_job(book: VoiceBook, config: BotConfig) -> None:
    queued = [(await book.enqueue(guild, "lore", "lstm", guild, TEXT)).id for guild in range(1, 17)]
    # Six trainers, each its own book and connections: their transactions run at once in the database.
    trainers = [open_voice_book(another_process(config, f"trainer{number}")) for number in range(6)]
    start = asyncio.Barrier(len(trainers))

    async def claim_all(trainer: VoiceBook) -> list[int]:
        await trainer.any_live()  # connected before the start, so the claims begin together
        await start.wait()
        claimed = []
        while (job := await trainer.claim()) is not None:
            claimed.append(job.id)
        return claimed

    try:
        claims = await asyncio.gather(*(claim_all(trainer) for trainer in trainers))
    finally:
        for trainer in trainers:
            await trainer.close()
    assert sorted(job for claimed in claims for job in claimed) == queued  # each job exactly once
    jobs = [await book.job(job) for job in queued]
    assert {(job.state, job.attempts) for job in jobs} == {("running", 1)}


@pg_only
async def test_a_claim_skips_a_job_another_trainer_holds(book: VoiceBook) -> None:
    import psycopg

    # A trainer whose claim holds the oldest job's row (its transaction not yet committed) does not
    # hold up the next one, which takes the job after it at once.
    await book.enqueue(100, "a", "lstm", 100, TEXT)
    second = await book.enqueue(101, "b", "lstm", 101, TEXT)
    with psycopg.connect(book.url) as other:
        other.execute("SELECT id FROM voice_jobs WHERE guild_id = 100 FOR UPDATE")
        started = time.monotonic()
        claimed = await book.claim()
        assert claimed is not None and claimed.id == second.id and time.monotonic() - started < 2


async def test_the_queues_bounds_hold_when_shards_enqueue_at_once(book: VoiceBook, config: BotConfig,
                                                                  monkeypatch) -> None:
    monkeypatch.setattr(jobs_module, "MAX_QUEUED_JOBS", 3)
    # Eight shards, each its own book and connections: their transactions run at once in the database.
    shards = [open_voice_book(another_process(config, f"shard{number}")) for number in range(8)]

    async def enqueue_at_once(guilds: list[int]) -> list[str]:
        start = asyncio.Barrier(len(shards))

        async def enqueue(shard: VoiceBook, guild: int) -> str:
            await shard.any_live()  # connected before the start, so the transactions begin together
            await start.wait()
            try:
                await shard.enqueue(guild, "lore", "lstm", 7, TEXT)
            except VoiceError as error:
                return str(error)
            return "queued"

        return sorted(await asyncio.gather(*map(enqueue, shards, guilds)))

    try:
        # One server, eight shards at once: one job, seven refusals (not a unique-index error).
        said = await enqueue_at_once([GUILD] * len(shards))
        assert said[-1] == "queued" and set(said[:-1]) == {
            "A voice is already training for this server; wait for it or /voice cancel it."}
        # Eight servers at once with room for two more jobs: two queued, six told the queue is full.
        said = await enqueue_at_once(list(range(1, 9)))
        assert said.count("queued") == 2 and set(said) - {"queued"} == {
            "The bot is training 3 voices already, the most it queues; try again later."}
    finally:
        for shard in shards:
            await shard.close()
    assert texts_kept(book) == 3  # no refused job's text was kept


@pg_only
async def test_a_voice_trained_on_one_host_is_served_by_others_from_the_database(
        book: VoiceBook, config: BotConfig) -> None:
    from bot.voices.cache import VoiceCache
    from charlm.engine import GenerationEngine, GenerationRequest

    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)  # queued by the shard on "voices"
    trainer = on_host(config, "trainer-host")
    await run_trainer_until_done(trainer, book, job.id)
    assert (await book.job(job.id)).state == "done", (await book.job(job.id)).reason
    assert [path for path in trainer.voices_folder.rglob("*") if path.is_file()] == []  # all in the database
    serving = open_voice_book(on_host(config, "shard-host"))  # another shard, nothing in its folder
    engine = GenerationEngine({"lstm": config.checkpoint_dir / "lstm.safetensors"}, device="cpu")
    try:
        cache = VoiceCache(engine, serving, budget_mb=100)
        chosen = await cache.choose(GUILD, "lore")
        request = GenerationRequest(seed="a", model=chosen.engine_key, length=3)
        assert await engine.generate(request)
        [copy] = [path for path in serving.folder.rglob("*") if path.is_file()]
        assert load_checkpoint(copy).config.kind == "lstm"
        # Unloaded and its copy gone (a new container, say): the next request fetches it again.
        engine.unload_model(chosen.engine_key)
        copy.unlink()
        await asyncio.sleep(0.2)
        assert await cache.generate(request) and copy.exists()
        # Deleted through the first shard: gone for this one too, its copy with it.
        assert await book.delete_voice(GUILD, "lore")
        with pytest.raises(VoiceError, match="no voice named lore"):
            await cache.choose(GUILD, "lore")
        assert not copy.exists()
    finally:
        await serving.close()
        await engine.aclose()


@pg_only
async def test_the_schema_refuses_what_gets_past_the_book(book: VoiceBook) -> None:
    import psycopg

    job = await book.enqueue(GUILD, "lore", "lstm", 7, TEXT)
    insert = ("INSERT INTO voice_jobs (guild_id, name, base, requester_id, text, state, created_at, "
              "updated_at) VALUES (%s, %s, 'lstm', 7, %s, %s, 0, 0)")
    refused = [
        (insert, (GUILD, "other", TEXT, "queued"), psycopg.errors.UniqueViolation),  # a second live job
        (insert, (GUILD + 1, "lore", None, "queued"), psycopg.errors.CheckViolation),  # queued, no text
        (insert, (GUILD + 1, "lore", "x" * (2 * 1024 * 1024 + 1), "queued"), psycopg.errors.CheckViolation),
        (insert, (GUILD + 1, "x" * 21, TEXT, "queued"), psycopg.errors.CheckViolation),
        (insert, (0, "lore", TEXT, "queued"), psycopg.errors.CheckViolation),
        (insert, (GUILD + 1, "lore", TEXT, "paused"), psycopg.errors.CheckViolation),
        (insert, (GUILD + 1, "lore", "a\x00b", "queued"), psycopg.DataError),  # decode_text refuses a NUL
        ("INSERT INTO voices (guild_id, name, base, data, bits_before, bits_after, created_at) "
         "VALUES (%s, 'lore', 'lstm', %s, 3, 2, 0)", (GUILD, b""), psycopg.errors.CheckViolation),
    ]
    for statement, values, error in refused:
        with psycopg.connect(book.url) as connection, pytest.raises(error):
            connection.execute(statement, values)
    assert await book.latest_job(GUILD + 1) is None and await book.voices(GUILD) == []
    assert await book.job_text(job) == TEXT and texts_kept(book) == 1


@pg_only
async def test_a_burst_of_calls_opens_at_most_a_few_connections(book: VoiceBook) -> None:
    import psycopg

    def open_connections() -> int:
        with psycopg.connect(book.url) as watcher:
            return watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                   "'shakespeare-bot voices'").fetchone()[0]

    with psycopg.connect(book.url) as holder:
        holder.execute("LOCK TABLE voices IN ACCESS EXCLUSIVE MODE")  # every read waits meanwhile
        burst = [asyncio.ensure_future(book.voices(guild)) for guild in range(40)]
        await asyncio.sleep(1.0)
        assert not any(call.done() for call in burst)
        assert open_connections() == jobs_module.CALLS_AT_ONCE  # the other calls wait their turn
    assert await asyncio.gather(*burst) == [[]] * 40  # and each is answered once the lock goes


@pg_only
async def test_a_bounded_call_to_a_paused_server_ends_in_time_and_its_connection_goes(
        config: BotConfig, pg_server) -> None:
    bounded = open_voice_book(config, call_seconds=1.0)  # as the bot opens it (CALL_SECONDS)
    try:
        assert await bounded.voices(GUILD) == []
        [(kept, _)] = bounded._idle  # kept for the next call
        pg_server.pause()  # the server stops answering: no server-side timeout can end the call
        try:
            started = time.monotonic()
            with pytest.raises(SettingsUnavailableError, match="cannot reach its settings database"):
                await bounded.voices(GUILD)
            assert time.monotonic() - started < 3  # the socket cut after call_seconds ended it
        finally:
            pg_server.resume()
        assert kept.closed and bounded._idle == []  # a cut connection is never handed out again
        assert await bounded.voices(GUILD) == []  # the next call connects afresh
    finally:
        await bounded.close()
