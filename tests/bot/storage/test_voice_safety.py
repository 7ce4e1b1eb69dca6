"""What a server's admin cannot do to other servers or to the host through the voice book, on both
databases: names are checked in the book itself and files are found by exact name, the queue is
shared fairly, this host's copies stay under their disk cap, and a server the bot left is forgotten."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import bot.storage.voices as jobs_module
from bot.config import BotConfig
from bot.errors import VoiceError
from bot.storage import open_voice_book
from bot.storage.voices import VoiceBook
from tests.bot.storage.test_voices import GUILD, TEXT, finish_with, migrate, texts_kept
from tests.helpers import tiny_checkpoint

# Names an admin typed into /settings voice or /voice delete: each a path, a glob or a pattern.
HOSTILE_NAMES = ("../*/*", "../../*", "../../../*", "**/*", "*", "[a-z]*", "a@b", "a/b", "a\\b", "..",
                 "../../../**/*", "lore@*", "lore\x00")


@pytest.fixture
def config(tmp_path: Path, database: str | None) -> BotConfig:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    tiny_checkpoint(checkpoints / "lstm.safetensors", "lstm", hidden_size=32)
    configured = BotConfig(db_path=tmp_path / "bot.sqlite3", database_url=database,
                           checkpoint_dir=checkpoints, voices_dir=tmp_path / "voices",
                           voice_train_seconds=5.0, voice_train_threads=1)
    migrate(configured)
    return configured


@pytest.fixture
def book(config: BotConfig):
    opened = open_voice_book(config)
    yield opened
    opened.close()


def plant(book: VoiceBook, tmp_path: Path) -> list[Path]:
    """Files a hostile name could reach: this server's own copy, another server's copies (in
    PostgreSQL's cache folder and where SQLite keeps voices), and files outside VOICES_DIR."""
    planted = [book.folder / "cache" / str(GUILD) / "lore@1.000000.safetensors",
               book.folder / "cache" / str(GUILD + 1) / "lore@1.000000.safetensors",
               book.folder / "cache" / str(GUILD + 1) / "b@1.000000.safetensors",
               book.folder / str(GUILD + 1) / "lore.safetensors",
               book.folder / "x@1.safetensors",
               tmp_path / "beside-the-settings@1.safetensors",
               tmp_path / "bot.sqlite3-notes@x.safetensors"]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"someone else's")
    return planted


def test_a_hostile_name_is_refused_by_the_book_and_reaches_no_file(book: VoiceBook, tmp_path: Path) -> None:
    planted = plant(book, tmp_path)
    for hostile in HOSTILE_NAMES:
        with pytest.raises(VoiceError, match="must be 1 to 20 letters"):
            book.voice(GUILD, hostile)
        with pytest.raises(VoiceError, match="must be 1 to 20 letters"):
            book.delete_voice(GUILD, hostile)
    assert [path for path in planted if not path.exists()] == []


def test_a_name_reaches_only_its_own_servers_copies_by_exact_name(book: VoiceBook, tmp_path: Path) -> None:
    planted = plant(book, tmp_path)
    longer = book.folder / "cache" / str(GUILD) / "lore-2@1.000000.safetensors"
    longer.write_bytes(b"another voice")
    for name in ("lor", "lore-", "LORE"):  # no such voice here: a copy of exactly that name goes
        assert book.voice(GUILD, name) is None
        assert not book.delete_voice(GUILD, name)
    gone = [path for path in [*planted, longer] if not path.exists()]
    if book.__class__.__name__ == "PostgresVoiceBook":
        assert gone == [planted[0]]  # this server's stale copy of "lore", nothing else
    else:
        assert gone == []  # SQLite's voices are its own files, found through their rows


# Fair queueing ------------------------------------------------------------------------------------


def test_a_server_and_a_person_queue_a_bounded_number_of_voices_a_day(book: VoiceBook) -> None:
    for number in range(jobs_module.MAX_DAILY_JOBS_PER_SERVER):
        book.enqueue(GUILD, f"v{number}", "lstm", 100 + number, TEXT)  # five admins of one server
        book.cancel(GUILD)
    with pytest.raises(VoiceError, match="This server has queued 5 voices in the last day"):
        book.enqueue(GUILD, "more", "lstm", 99, TEXT)
    for server in range(1, jobs_module.MAX_DAILY_JOBS_PER_REQUESTER + 1):  # one person, many servers
        book.enqueue(server, "lore", "lstm", 7, TEXT)
    with pytest.raises(VoiceError, match="You have queued 5 voices in the last day, the most one person may"):
        book.enqueue(99, "lore", "lstm", 7, TEXT)
    assert book.latest_job(99) is None and texts_kept(book) == jobs_module.MAX_DAILY_JOBS_PER_REQUESTER
    # A day later, both may queue again.
    later = time.time() + jobs_module.DAY_SECONDS + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs_module.time, "time", lambda: later)
        book.enqueue(GUILD, "more", "lstm", 99, TEXT)
        book.cancel(GUILD)
        for server in range(1, jobs_module.MAX_DAILY_JOBS_PER_REQUESTER + 1):
            book.cancel(server)
        book.enqueue(99, "lore", "lstm", 7, TEXT)


def test_the_trainer_takes_jobs_round_robin_by_server(book: VoiceBook) -> None:
    busy, quiet = GUILD, GUILD + 1
    for number in range(2):  # the busy server trained twice today
        book.enqueue(busy, f"v{number}", "lstm", 10 + number, TEXT)
        finish_with(book, book.claim())
    again = book.enqueue(busy, "v2", "lstm", 12, TEXT)  # queued first ...
    first = book.enqueue(quiet, "lore", "lstm", 20, TEXT)  # ... but this server has had no turn today
    assert [book.claim().id, book.claim().id] == [first.id, again.id]
