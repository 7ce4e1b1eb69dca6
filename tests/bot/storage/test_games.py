"""/guess's rows in both databases: one open round per channel, the pace, votes (changed, after the
reveal), exactly one reveal, scores with streaks, the fooled tally, pruning."""

from __future__ import annotations

import asyncio

from bot.storage import games
from bot.storage.games import GuessRecord
from bot.storage.sqlite_store import SqliteSettingsStore

GUILD, CHANNEL = 10, 20


async def open_store(tmp_path, database):
    if database is None:
        return await SqliteSettingsStore.open(tmp_path / "bot.sqlite3")
    from bot.storage.postgres_store import PostgresSettingsStore

    return await PostgresSettingsStore.open(database)


def record(key: str, now: float, channel: int = CHANNEL, guild: int | None = GUILD) -> GuessRecord:
    return GuessRecord(key=key, guild_id=guild, channel_id=channel, message_id=None, starter_id=1,
                       model="lstm", kind=None, text=None, created_at=now, reveal_at=now + 60)


async def test_a_round_from_reservation_to_scores(tmp_path, database):
    store = await open_store(tmp_path, database)
    try:
        book = store.games
        assert await book.reserve(record("a" * 16, 1000.0), 20) is None
        refused = await book.reserve(record("b" * 16, 1001.0), 20)
        assert refused.open_round.key == "a" * 16
        assert await book.vote("a" * 16, 5, "bot", 1001.0) is None  # not drawn yet: no votes
        await book.fill("a" * 16, "model", "To be, or not to be", 1060.0)
        await book.set_message("a" * 16, 99)
        first = await book.vote("a" * 16, 5, "bot", 1002.0)
        assert first.votes == 1 and not first.changed and first.round.message_id == 99
        assert (await book.vote("a" * 16, 5, "shakespeare", 1003.0)).changed
        assert (await book.vote("a" * 16, 6, "bot", 1004.0)).votes == 2
        assert await book.due(1059.0) == []
        assert [key for key, *_ in await book.due(1060.0)] == ["a" * 16]
        assert await book.vote("a" * 16, 7, "bot", 1060.0) is None  # time is up
        results = await asyncio.gather(book.reveal("a" * 16, 1061.0), book.reveal("a" * 16, 1061.0))
        revealed = [each for each in results if each is not None]
        assert len(revealed) == 1
        assert (revealed[0].shakespeare, revealed[0].bot, revealed[0].right) == (1, 1, 1)
        best, own, rank = await book.scores(GUILD, 6)
        assert [(s.user_id, s.points, s.streak) for s in best] == [(6, 1, 1), (5, 0, 0)]
        assert own.points == 1 and rank == 1
        assert [(f.model, f.shakespeare, f.votes) for f in await book.fooled()] == [("lstm", 1, 2)]
        later = await book.reserve(record("d" * 16, 1015.0, channel=21), 20)
        assert later is None  # another channel is free
    finally:
        await store.close()


async def test_the_pace_and_streaks_and_pruning(tmp_path, database):
    store = await open_store(tmp_path, database)
    try:
        book = store.games
        now = 5000.0
        for number, (answer, choice) in enumerate([("real", "shakespeare"), ("model", "bot"),
                                                   ("real", "bot"), ("model", "bot")]):
            key = f"{number:016x}"
            assert await book.reserve(record(key, now), 20) is None
            assert (await book.reserve(record("f" * 16, now + 1), 20)).open_round.key == key
            await book.fill(key, answer, "text", now + 60)
            await book.vote(key, 5, choice, now + 1)
            assert await book.reveal(key, now + 60) is not None
            refused = await book.reserve(record("e" * 16, now + 61), 70)
            assert refused.ready_at == now + 70
            now += 100
        (score,), own, rank = await book.scores(GUILD, 5)
        assert (score.points, score.streak, score.best_streak, score.rounds) == (3, 1, 2, 4)
        # A day later the rounds and their votes are pruned when the next is reserved.
        assert await book.reserve(record("9" * 16, now + games.ROUND_TTL_SECONDS), 20) is None
        assert await book.get("0" * 16) is None
    finally:
        await store.close()
