"""`python -m bot trainer`: the process that trains server voices, one job at a time.

Never the bot's event loop or its engine thread: a process of its own, at the lowest CPU priority
and VOICE_TRAIN_THREADS threads, so the bot keeps answering while a voice trains. It runs its own
event loop (`serve_jobs`: asyncio.run), on which it awaits the voice book as the bot does; the
training itself runs on a worker thread (asyncio.to_thread), so the loop stays free, and reports
its progress to the book on the loop (asyncio.run_coroutine_threadsafe). A stop (SIGTERM, SIGINT)
is a threading.Event, seen by the polling loop and by the training between its steps. The bot starts
one itself (VOICE_TRAINER=local, `LocalTrainer`); on several hosts a `trainer` role runs this same
command against the same database, and the bot sets VOICE_TRAINER=off (with PostgreSQL the texts and
voices are in the database, so no folder is shared; with SQLite the voices folder must be).

A job survives restarts: it is a row (bot/storage/voices.py). A trainer killed mid-job leaves the
row `running` with a heartbeat that stops; the next trainer to look queues it again (once), then
marks it failed with the reason. A voice is kept only if it reads the server's held-out text
better than its base model did, and is written atomically (safetensors) before its row exists
(with PostgreSQL, its bytes are in the row, written in the transaction that ends the job).

The trainer keeps a heartbeat file fresh (bot/ops/health.py; BOT_HEARTBEAT_PATH, and the bot gives its
own child another path) at every poll and every progress report, so `python -m bot healthcheck`
is its container's or pod's liveness check too: a trainer stuck anywhere goes stale within a
minute. The database away does not stop it, nor make it look dead (restarting would not help):
it says so once in the log and tries again every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from bot.config import BotConfig
from bot.errors import SettingsStoreError
from bot.ops import health
from bot.storage import open_store, open_voice_book
from bot.storage.voices import TEXT_GONE, Job, VoiceBook

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0


def lowest_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.nice(19 - os.nice(0))


async def train_one(book: VoiceBook, job: Job, config: BotConfig, stop: threading.Event | None = None,
                    beat: Callable[[], None] = lambda: None) -> None:
    """Train `job` to its end: a voice, or failed with a reason, or cancelled; a trainer told to
    stop (`stop`) puts the job back in the queue for the next one. The training runs on a worker
    thread; its progress reports are awaited on this loop."""
    from charlm.errors import CharLMError
    from charlm.training import finetune

    state = {"cancelled": False}
    loop = asyncio.get_running_loop()

    def progress(report: finetune.FineTuneProgress) -> None:  # on the training thread
        beat()
        try:
            # Before: the base model on the held-out text (measured first); now: the training loss,
            # since the held-out text is measured again only at the end.
            now = asyncio.run_coroutine_threadsafe(book.report(
                job.id, progress=report.fraction,
                bits_before=report.held_out_bits_per_char if report.step == 0 else None,
                bits_now=report.train_bits_per_char, seconds_left=report.seconds_left), loop).result()
        except Exception as error:  # a busy database must not kill the training; the next report retries
            log.warning("Could not record the progress of voice job %s: %s", job.id, error)
            return
        state["cancelled"] = now == "cancelled"

    out = book.training_path(job)
    try:
        text = await book.job_text(job)
        if text is None:  # cancelled (and its text dropped) before this trainer read it
            await book.end(job, "failed", TEXT_GONE)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        result = await asyncio.to_thread(
            finetune.fine_tune, config.checkpoint_dir / f"{job.base}.safetensors", text,
            budget_seconds=config.voice_train_seconds, threads=config.voice_train_threads,
            progress=progress, out_path=out,
            should_stop=lambda: state["cancelled"] or (stop is not None and stop.is_set()))
    except OSError as error:
        full = error.errno == errno.ENOSPC
        log.error("Voice job %s failed: %s", job.id, error)
        await book.end(job, "failed", "the bot's disk is full" if full else "the trainer could not read or "
                       f"write a file ({error.strerror or error})")
        return
    except CharLMError as error:
        await book.end(job, "failed", str(error))
        return
    if result.cancelled:
        if state["cancelled"]:
            await book.end(job, "cancelled", "cancelled by an admin")
        else:
            await book.requeue(job)  # the trainer is stopping: the next one starts this job again
        return
    after = result.after_bits_per_char
    if result.written is None:
        await book.end(job, "failed", f"the trained model read {after:.3f} bits/char on your held-out text, "
                       f"no better than the base model's {result.before_bits_per_char:.3f}; nothing was kept",
                       bits_before=result.before_bits_per_char)
        return
    assert after is not None
    if await book.finish(job, result.written, result.before_bits_per_char, after):
        log.info("Voice %r of guild %s is ready: %.3f -> %.3f bits/char in %.0f s.", job.name, job.guild_id,
                 result.before_bits_per_char, after, result.seconds)


def serve_jobs(config: BotConfig, stop: threading.Event, *, poll_seconds: float = POLL_SECONDS) -> None:
    """Serve jobs until `stop` is set, on an event loop of this thread's own."""
    asyncio.run(_serve(config, stop, poll_seconds))


async def _serve(config: BotConfig, stop: threading.Event, poll_seconds: float) -> None:
    book = open_voice_book(config)
    heartbeat = config.heartbeat_file
    try:
        await _serve_jobs(book, config, stop, poll_seconds,
                          lambda: health.write_heartbeat(heartbeat, {"role": "trainer"}))
    finally:
        await book.close()
        health.remove_heartbeat(heartbeat)


async def _claim(book: VoiceBook) -> Job | None:
    for job in await book.recover_stale():
        log.warning("Voice job %s had stopped (its trainer died); %s.", job.id,
                    "queued again" if job.attempts < 2 else "marked failed")
    return await book.claim()


async def _wait(stop: threading.Event, seconds: float) -> None:
    """Until `stop` is set or `seconds` passed (on a worker thread: a signal handler or another
    thread sets it)."""
    await asyncio.to_thread(stop.wait, seconds)


async def _serve_jobs(book: VoiceBook, config: BotConfig, stop: threading.Event, poll_seconds: float,
                      beat: Callable[[], None]) -> None:
    away = False
    while not stop.is_set():
        beat()
        try:
            job = await _claim(book)
        except Exception as error:  # the database away or locked (sqlite3's or psycopg's error)
            if not away:
                log.warning("The voice trainer cannot reach its database (%s); trying again every %g s.",
                            error, poll_seconds)
            away = True
            await _wait(stop, poll_seconds)
            continue
        if away:
            log.info("The voice trainer reaches its database again.")
            away = False
        if job is None:
            await _wait(stop, poll_seconds)
            continue
        log.info("Training voice %r for guild %s (job %s).", job.name, job.guild_id, job.id)
        try:
            try:
                await train_one(book, job, config, stop, beat)
            except Exception as error:  # a bug: the job fails with the reason, the trainer goes on
                log.exception("Voice job %s failed", job.id)
                await book.end(job, "failed", f"training failed ({type(error).__name__})")
            finished = await book.job(job.id)
            if finished is None or not finished.live:
                await book.drop_text(job)
        except Exception as error:  # the database went away meanwhile: the job's row, left running,
            # goes back to the queue once its heartbeat is stale (recover_stale)
            log.warning("Voice job %s could not be recorded as ended: %s", job.id, error)


def run_trainer(config: BotConfig) -> int:
    """The `trainer` command: migrate the database if needed, then serve jobs until SIGTERM/SIGINT."""

    lowest_priority()
    import torch

    torch.set_num_threads(config.voice_train_threads)

    async def migrate() -> None:  # as the bot does when it starts (bot/storage/__init__.py)
        store = await open_store(config)
        await store.close()

    try:
        asyncio.run(migrate())
    except SettingsStoreError as error:
        log.error("%s", error)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("Trainer ready: voices in %s, %g s per voice, %d thread(s).", config.voices_folder,
             config.voice_train_seconds, config.voice_train_threads)
    serve_jobs(config, stop)
    return 0


def trainer_env(config: BotConfig) -> dict[str, str]:
    """The environment of a trainer child process: the bot's, with the bot's configuration spelled
    out (a bot configured in code, as tests do, has no environment to pass on), less the Discord
    token, which a trainer never needs."""
    env = dict(os.environ)
    env.pop("DISCORD_TOKEN", None)
    env.update(BOT_DB_PATH=str(config.db_path), VOICES_DIR=str(config.voices_folder),
               # Its own heartbeat: a live trainer must not stand in for a bot that stopped serving.
               BOT_HEARTBEAT_PATH=str(trainer_heartbeat(config)),
               CHECKPOINT_DIR=str(config.checkpoint_dir),
               VOICE_TRAIN_SECONDS=str(max(1, round(config.voice_train_seconds))),
               VOICE_TRAIN_THREADS=str(config.voice_train_threads), LOG_LEVEL=config.log_level)
    env.pop("DATABASE_URL", None)  # the bot's database, whichever it is
    if config.database_url is not None:
        env["DATABASE_URL"] = config.database_url
    return env


def trainer_heartbeat(config: BotConfig) -> Path:
    """Where the bot's own trainer child beats: beside the bot's heartbeat."""
    bot = config.heartbeat_file
    return bot.with_name(f"{bot.name}.trainer")


class LocalTrainer:
    """The trainer as a child process of the bot (VOICE_TRAINER=local): started with the bot,
    started again if it died, stopped with it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env
        self.process: asyncio.subprocess.Process | None = None

    async def ensure_running(self) -> None:
        if self.process is not None and self.process.returncode is None:
            return
        self.process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "trainer",
                                                            env=self.env)
        log.info("Started the voice trainer (pid %s).", self.process.pid)

    async def stop(self, grace: float = 5.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()
