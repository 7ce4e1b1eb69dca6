"""/guess's rows: rounds, votes, each server's scores and each model's "fooled" tally, with every
query written once for both databases (`?` placeholders, times as Unix seconds arguments).

`GuessGames` holds the game's rules as the database keeps them; it runs its statements through a
`Transactions` seam each store provides over its own connections (SQLite: the replies' writer and
the store's reader, bot/storage/sqlite_store.py; PostgreSQL: the store's pool,
bot/storage/postgres_store.py), so driver errors keep their one translation per database.

- One open round per channel: a partial unique index, so two processes cannot both open one.
- A round is reserved before its passage is drawn (`reserve`), filled in once drawn (`fill`), and
  revealed by exactly one process (`reveal`: an UPDATE ... WHERE revealed_at IS NULL claims it,
  in the transaction that scores it). A vote takes the round's row first (an UPDATE), so a vote and
  a reveal are ordered: a vote either counts or is told the round is over.
- Bounded and expired like replies: rounds (with their votes) older than ROUND_TTL_SECONDS are
  pruned when a round is reserved; scores not touched in SCORE_TTL_SECONDS go, and at most
  MAX_SCORES rows are kept. The tally has one row per shipped model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

Choice = Literal["shakespeare", "bot"]
CHOICES: tuple[Choice, ...] = ("shakespeare", "bot")
ROUND_TTL_SECONDS = 24 * 3600
SCORE_TTL_SECONDS = 365 * 24 * 3600
MAX_SCORES = 200_000
# A reservation whose passage never came (the process died while drawing) stops blocking its
# channel after this many seconds.
DRAWING_SECONDS = 120
MAX_TEXT = 2000

T = TypeVar("T")
# Runs one statement in the open transaction; returns its rows ([] for none).
Execute = Callable[[str, tuple], Awaitable[list[tuple]]]


class Transactions(Protocol):
    async def write(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        """`work` in one write transaction, committed when it returns."""

    async def read(self, work: Callable[[Execute], Awaitable[T]]) -> T:
        """`work` on a reading connection."""


class RoundConflict(Exception):
    """Another process opened a round in the channel at the same moment (the unique index)."""


ROUND_COLUMNS = ("key, guild_id, channel_id, message_id, starter_id, model, kind, text, created_at, "
                 "reveal_at, revealed_at")


@dataclass(frozen=True)
class GuessRecord:
    key: str
    guild_id: int | None  # None: a round where the bot is not installed (one player, no scores)
    channel_id: int
    message_id: int | None
    starter_id: int
    model: str
    kind: str | None  # "real" or "model"; None while the passage is being drawn
    text: str | None
    created_at: float
    reveal_at: float
    revealed_at: float | None = None

    @property
    def answer(self) -> Choice:
        return "shakespeare" if self.kind == "real" else "bot"


@dataclass(frozen=True)
class Opened:
    """Why a round cannot start here: the open round, or the time the channel may have one again."""

    open_round: GuessRecord | None = None
    ready_at: float | None = None


@dataclass(frozen=True)
class Voted:
    round: GuessRecord
    votes: int
    changed: bool  # the voter had voted, and chose otherwise now


@dataclass(frozen=True)
class Revealed:
    round: GuessRecord
    shakespeare: int
    bot: int
    right: int


@dataclass(frozen=True)
class Score:
    user_id: int
    points: int
    streak: int
    best_streak: int
    rounds: int


@dataclass(frozen=True)
class Fooled:
    model: str
    shakespeare: int
    votes: int


SELECT_ROUND = f"SELECT {ROUND_COLUMNS} FROM guess_rounds WHERE key = ?"
OPEN_IN_CHANNEL = (f"SELECT {ROUND_COLUMNS} FROM guess_rounds WHERE channel_id = ? AND revealed_at IS NULL")
DROP_STALE_DRAWING = ("DELETE FROM guess_rounds WHERE channel_id = ? AND revealed_at IS NULL "
                      "AND text IS NULL AND created_at < ?")
LAST_IN_CHANNEL = "SELECT max(created_at) FROM guess_rounds WHERE channel_id = ?"
INSERT_ROUND = ("INSERT INTO guess_rounds (key, guild_id, channel_id, starter_id, model, created_at, "
                "reveal_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
PRUNE_VOTES = "DELETE FROM guess_votes WHERE round_key IN (SELECT key FROM guess_rounds WHERE created_at < ?)"
PRUNE_ROUNDS = "DELETE FROM guess_rounds WHERE created_at < ?"
FILL_ROUND = "UPDATE guess_rounds SET kind = ?, text = ?, reveal_at = ? WHERE key = ? AND revealed_at IS NULL"
SET_MESSAGE = "UPDATE guess_rounds SET message_id = ? WHERE key = ?"
DROP_ROUND = "DELETE FROM guess_rounds WHERE key = ? AND revealed_at IS NULL"
# Takes the round's row (a vote waits for a reveal in progress, and the reverse).
TAKE_FOR_VOTE = (f"UPDATE guess_rounds SET reveal_at = reveal_at WHERE key = ? AND revealed_at IS NULL "
                 f"AND text IS NOT NULL AND reveal_at > ? RETURNING {ROUND_COLUMNS}")
OLD_VOTE = "SELECT choice FROM guess_votes WHERE round_key = ? AND user_id = ?"
UPSERT_VOTE = ("INSERT INTO guess_votes (round_key, user_id, choice, voted_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (round_key, user_id) DO UPDATE SET choice = excluded.choice, "
               "voted_at = excluded.voted_at")
COUNT_VOTES = "SELECT count(*) FROM guess_votes WHERE round_key = ?"
SPLIT = ("SELECT choice, count(*) FROM guess_votes WHERE round_key = ? GROUP BY choice")
DUE = ("SELECT key, guild_id, reveal_at FROM guess_rounds WHERE revealed_at IS NULL AND text IS NOT NULL "
       "AND reveal_at <= ? ORDER BY reveal_at LIMIT ?")
CLAIM = (f"UPDATE guess_rounds SET revealed_at = ? WHERE key = ? AND revealed_at IS NULL "
         f"AND text IS NOT NULL RETURNING {ROUND_COLUMNS}")
# Every voter of a round in a server: a right vote is a point and one more in the streak; a wrong
# one ends the streak. Parameters: guild, the answer, now, the answer, the round.
SCORE_VOTERS = (
    "INSERT INTO guess_scores (guild_id, user_id, points, streak, best_streak, rounds, updated_at) "
    "SELECT ?, user_id, CASE WHEN choice = ? THEN 1 ELSE 0 END, CASE WHEN choice = ? THEN 1 ELSE 0 END, "
    "CASE WHEN choice = ? THEN 1 ELSE 0 END, 1, ? FROM guess_votes WHERE round_key = ? "
    "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
    "points = guess_scores.points + excluded.points, "
    "streak = CASE WHEN excluded.points > 0 THEN guess_scores.streak + 1 ELSE 0 END, "
    "best_streak = CASE WHEN excluded.points > 0 AND guess_scores.streak + 1 > guess_scores.best_streak "
    "THEN guess_scores.streak + 1 ELSE guess_scores.best_streak END, "
    "rounds = guess_scores.rounds + 1, updated_at = excluded.updated_at")
PRUNE_SCORES = ("DELETE FROM guess_scores WHERE updated_at < ? OR (guild_id, user_id) NOT IN "
                "(SELECT guild_id, user_id FROM guess_scores ORDER BY updated_at DESC LIMIT ?)")
TALLY = ("INSERT INTO guess_fooled (model, shakespeare, votes) VALUES (?, ?, ?) "
         "ON CONFLICT (model) DO UPDATE SET shakespeare = guess_fooled.shakespeare + excluded.shakespeare, "
         "votes = guess_fooled.votes + excluded.votes")
TOP = ("SELECT user_id, points, streak, best_streak, rounds FROM guess_scores WHERE guild_id = ? "
       "ORDER BY points DESC, best_streak DESC, user_id LIMIT ?")
OWN = ("SELECT user_id, points, streak, best_streak, rounds FROM guess_scores "
       "WHERE guild_id = ? AND user_id = ?")
RANK = "SELECT count(*) FROM guess_scores WHERE guild_id = ? AND points > ?"
FOOLED = "SELECT model, shakespeare, votes FROM guess_fooled ORDER BY model"


def _round(row: tuple) -> GuessRecord:
    return GuessRecord(*row)


class GuessGames:
    """The game's rows, over one database's `Transactions` (see the module doc)."""

    def __init__(self, transactions: Transactions) -> None:
        self.transactions = transactions

    async def reserve(self, record: GuessRecord, pace_seconds: float) -> Opened | None:
        """Reserve `record`'s channel for a new round (None: reserved), or say why not: its open
        round, or that the last one started under `pace_seconds` ago."""
        async def work(execute: Execute) -> Opened | None:
            now = record.created_at
            await execute(PRUNE_VOTES, (now - ROUND_TTL_SECONDS,))
            await execute(PRUNE_ROUNDS, (now - ROUND_TTL_SECONDS,))
            await execute(DROP_STALE_DRAWING, (record.channel_id, now - DRAWING_SECONDS))
            rows = await execute(OPEN_IN_CHANNEL, (record.channel_id,))
            if rows:
                return Opened(open_round=_round(rows[0]))
            ((last,),) = await execute(LAST_IN_CHANNEL, (record.channel_id,))
            if last is not None and now < last + pace_seconds:
                return Opened(ready_at=last + pace_seconds)
            await execute(INSERT_ROUND, (record.key, record.guild_id, record.channel_id, record.starter_id,
                                         record.model, now, record.reveal_at))
            return None

        try:
            return await self.transactions.write(work)
        except RoundConflict:
            return await self.transactions.read(
                lambda execute: _open_after_conflict(execute, record.channel_id))

    async def fill(self, key: str, kind: str, text: str, reveal_at: float) -> None:
        await self.transactions.write(
            lambda execute: execute(FILL_ROUND, (kind, text[:MAX_TEXT], reveal_at, key)))

    async def set_message(self, key: str, message_id: int) -> None:
        await self.transactions.write(lambda execute: execute(SET_MESSAGE, (message_id, key)))

    async def drop(self, key: str) -> None:
        """Give up a reserved round whose passage could not be drawn or shown."""
        async def work(execute: Execute) -> None:
            await execute("DELETE FROM guess_votes WHERE round_key = ?", (key,))
            await execute(DROP_ROUND, (key,))

        await self.transactions.write(work)

    async def get(self, key: str) -> GuessRecord | None:
        rows = await self.transactions.read(lambda execute: execute(SELECT_ROUND, (key,)))
        return _round(rows[0]) if rows else None

    async def vote(self, key: str, user_id: int, choice: Choice, now: float) -> Voted | None:
        """Record (or change) a vote; None when the round is over or unknown (nothing written)."""
        async def work(execute: Execute) -> Voted | None:
            rows = await execute(TAKE_FOR_VOTE, (key, now))
            if not rows:
                return None
            old = await execute(OLD_VOTE, (key, user_id))
            await execute(UPSERT_VOTE, (key, user_id, choice, now))
            ((votes,),) = await execute(COUNT_VOTES, (key,))
            return Voted(_round(rows[0]), votes, changed=bool(old) and old[0][0] != choice)

        return await self.transactions.write(work)

    async def count(self, key: str) -> int:
        ((votes,),) = await self.transactions.read(lambda execute: execute(COUNT_VOTES, (key,)))
        return votes

    async def due(self, now: float, limit: int = 20) -> list[tuple[str, int | None, float]]:
        """(key, guild, reveal_at) of rounds whose time is up and that nobody revealed yet."""
        return await self.transactions.read(lambda execute: execute(DUE, (now, limit)))

    async def reveal(self, key: str, now: float) -> Revealed | None:
        """Claim and score a round; None when another process (or press) already revealed it."""
        async def work(execute: Execute) -> Revealed | None:
            rows = await execute(CLAIM, (now, key))
            if not rows:
                return None
            record = _round(rows[0])
            split = dict(await execute(SPLIT, (key,)))
            shakespeare, bot = split.get("shakespeare", 0), split.get("bot", 0)
            if record.guild_id is not None:
                answer = record.answer
                await execute(SCORE_VOTERS, (record.guild_id, answer, answer, answer, now, key))
                await execute(PRUNE_SCORES, (now - SCORE_TTL_SECONDS, MAX_SCORES))
            if record.kind == "model" and shakespeare + bot:
                await execute(TALLY, (record.model, shakespeare, shakespeare + bot))
            right = shakespeare if record.answer == "shakespeare" else bot
            return Revealed(record, shakespeare, bot, right)

        return await self.transactions.write(work)

    async def scores(self, guild_id: int, user_id: int,
                     top: int = 10) -> tuple[list[Score], Score | None, int]:
        """The server's top `top`, the user's own score (None: never played) and their rank."""
        async def work(execute: Execute) -> tuple[list[Score], Score | None, int]:
            best = [Score(*row) for row in await execute(TOP, (guild_id, top))]
            own_rows = await execute(OWN, (guild_id, user_id))
            if not own_rows:
                return best, None, 0
            own = Score(*own_rows[0])
            ((above,),) = await execute(RANK, (guild_id, own.points))
            return best, own, above + 1

        return await self.transactions.read(work)

    async def fooled(self) -> list[Fooled]:
        return [Fooled(*row) for row in await self.transactions.read(lambda execute: execute(FOOLED, ()))]


async def _open_after_conflict(execute: Execute, channel_id: int) -> Opened:
    rows = await execute(OPEN_IN_CHANNEL, (channel_id,))
    return Opened(open_round=_round(rows[0]) if rows else None)
