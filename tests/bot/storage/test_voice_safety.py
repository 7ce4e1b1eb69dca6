"""What a server's admin cannot do to other servers or to the host through the voice book, on both
databases: names are checked in the book itself and files are found by exact name, the queue is
shared fairly, this host's copies stay under their disk cap, and a server the bot left is forgotten."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import bot.storage.voices as jobs_module
from bot.errors import VoiceError
from bot.storage import departed
from bot.storage.voices import VoiceBook
from charlm.training.finetune import MIN_CHARACTERS
from tests.bot.storage.harness import finish_with, texts_kept
from tests.helpers import TINY_TEXT

GUILD = 4321
TEXT = TINY_TEXT * (MIN_CHARACTERS // len(TINY_TEXT) + 2)
pg_only = pytest.mark.parametrize("database", ["postgres"], indirect=True)

# Names an admin typed into /settings voice or /voice delete: each a path, a glob or a pattern.
HOSTILE_NAMES = ("../*/*", "../../*", "../../../*", "**/*", "*", "[a-z]*", "a@b", "a/b", "a\\b", "..",
                 "../../../**/*", "lore@*", "lore\x00")


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


async def test_a_hostile_name_is_refused_by_the_book_and_reaches_no_file(book: VoiceBook,
                                                                         tmp_path: Path) -> None:
    planted = plant(book, tmp_path)
    for hostile in HOSTILE_NAMES:
        with pytest.raises(VoiceError, match="must be 1 to 20 letters"):
            await book.voice(GUILD, hostile)
        with pytest.raises(VoiceError, match="must be 1 to 20 letters"):
            await book.delete_voice(GUILD, hostile)
    assert [path for path in planted if not path.exists()] == []


async def test_a_name_reaches_only_its_own_servers_copies_by_exact_name(book: VoiceBook,
                                                                        tmp_path: Path) -> None:
    planted = plant(book, tmp_path)
    longer = book.folder / "cache" / str(GUILD) / "lore-2@1.000000.safetensors"
    longer.write_bytes(b"another voice")
    for name in ("lor", "lore-", "LORE"):  # no such voice here: a copy of exactly that name goes
        assert await book.voice(GUILD, name) is None
        assert not await book.delete_voice(GUILD, name)
    gone = [path for path in [*planted, longer] if not path.exists()]
    if book.__class__.__name__ == "PostgresVoiceBook":
        assert gone == [planted[0]]  # this server's stale copy of "lore", nothing else
    else:
        assert gone == []  # SQLite's voices are its own files, found through their rows


# Fair queueing ------------------------------------------------------------------------------------


async def test_a_server_and_a_person_queue_a_bounded_number_of_voices_a_day(book: VoiceBook) -> None:
    for number in range(jobs_module.MAX_DAILY_JOBS_PER_SERVER):
        await book.enqueue(GUILD, f"v{number}", "lstm", 100 + number, TEXT)  # five admins of one server
        await book.cancel(GUILD)
    with pytest.raises(VoiceError, match="This server has queued 5 voices in the last day"):
        await book.enqueue(GUILD, "more", "lstm", 99, TEXT)
    for server in range(1, jobs_module.MAX_DAILY_JOBS_PER_REQUESTER + 1):  # one person, many servers
        await book.enqueue(server, "lore", "lstm", 7, TEXT)
    with pytest.raises(VoiceError, match="You have queued 5 voices in the last day, the most one person may"):
        await book.enqueue(99, "lore", "lstm", 7, TEXT)
    assert await book.latest_job(99) is None and texts_kept(book) == jobs_module.MAX_DAILY_JOBS_PER_REQUESTER
    # A day later, both may queue again.
    later = time.time() + jobs_module.DAY_SECONDS + 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs_module.time, "time", lambda: later)
        await book.enqueue(GUILD, "more", "lstm", 99, TEXT)
        await book.cancel(GUILD)
        for server in range(1, jobs_module.MAX_DAILY_JOBS_PER_REQUESTER + 1):
            await book.cancel(server)
        await book.enqueue(99, "lore", "lstm", 7, TEXT)


async def test_the_trainer_takes_jobs_round_robin_by_server(book: VoiceBook) -> None:
    busy, quiet = GUILD, GUILD + 1
    for number in range(2):  # the busy server trained twice today
        await book.enqueue(busy, f"v{number}", "lstm", 10 + number, TEXT)
        await finish_with(book, await book.claim())
    again = await book.enqueue(busy, "v2", "lstm", 12, TEXT)  # queued first ...
    first = await book.enqueue(quiet, "lore", "lstm", 20, TEXT)  # ... but this server has had no turn today
    assert [(await book.claim()).id, (await book.claim()).id] == [first.id, again.id]


# This host's copies (PostgreSQL) -----------------------------------------------------------------


@pg_only
async def test_copies_stay_under_the_disk_cap_least_recently_used_removed(book: VoiceBook) -> None:
    book.disk_bytes = 1_000_000
    paths = {}
    for server in (1, 2, 3):
        await book.enqueue(server, "lore", "lstm", server, TEXT)
        await finish_with(book, await book.claim(), bytes(400_000))
    paths[1] = await book.voice_file(await book.voice(1, "lore"))
    paths[2] = await book.voice_file(await book.voice(2, "lore"))
    time.sleep(0.01)
    assert await book.voice_file(await book.voice(1, "lore")) == paths[1]  # used again: now the more recent
    paths[3] = await book.voice_file(await book.voice(3, "lore"))  # 1.2 MB past 1 MB: server 2's copy goes
    assert {server: path.exists() for server, path in paths.items()} == {1: True, 2: False, 3: True}
    again = await book.voice_file(await book.voice(2, "lore"))
    assert again.read_bytes() == bytes(400_000)  # fetched again
    copies = [path for path in book.folder.rglob("*.safetensors") if path.is_file()]
    assert sum(path.stat().st_size for path in copies) <= 1_000_000


# A server the bot left ---------------------------------------------------------------------------


async def test_a_server_the_bot_left_is_forgotten_after_the_stated_days(book: VoiceBook) -> None:
    left_at = time.time()
    for guild in (GUILD, GUILD + 1):
        await book.enqueue(guild, "lore", "lstm", guild, TEXT)
        await finish_with(book, await book.claim())
        await book.voice_file(await book.voice(guild, "lore"))  # PostgreSQL: a copy on this host
    await book.enqueue(GUILD, "next", "lstm", 1, TEXT)
    running = await book.claim()  # a trainer is training the server's next voice
    await departed.mark_left(book, GUILD, now=left_at)
    await departed.mark_left(book, GUILD, now=left_at + 100)  # left again: the first time counts
    await departed.mark_left(book, GUILD + 2, now=left_at)
    await departed.mark_back(book, GUILD + 2)  # added back in time: never forgotten
    days = departed.FORGET_AFTER_DAYS * 24 * 3600
    assert await departed.due(book, left_at + days - 1) == []
    assert await departed.due(book, left_at + days + 1) == [GUILD]
    assert await departed.forget(book, GUILD) == ["lore"]
    assert await book.voices(GUILD) == [] and await book.latest_job(GUILD) is None and texts_kept(book) == 0
    assert await departed.due(book, left_at + days + 1) == []
    # Its trainer stops at its next report, and what it trained is not kept.
    said = await book.report(running.id, progress=0.5, bits_before=None, bits_now=None, seconds_left=1)
    assert said == "cancelled"
    path = book.training_path(running)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    assert not await book.finish(running, path, 3.0, 2.0) and await book.voices(GUILD) == []
    left = [path for path in book.folder.rglob("*") if path.is_file()]
    assert left and all(str(GUILD + 1) in path.parts for path in left)  # the other server's only
    assert await book.voice(GUILD + 1, "lore") is not None
