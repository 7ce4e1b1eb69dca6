"""Time and ids: a clock tests can move forward, and snowflakes that carry it.

Discord's deadlines (the 3 s acknowledgement window, the 15 min token, signed url expiry) are read
from this clock, so a test jumps past them without sleeping.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta, timezone

DISCORD_EPOCH_MS = 1420070400000


class Clock:
    """Monotonic time plus an offset, so tests can jump past Discord's deadlines without sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def utcnow(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self._offset)

    def advance(self, seconds: float) -> None:
        self._offset += seconds


class Snowflakes:
    """Real Discord snowflakes: discord.py derives created_at and cooldown buckets from them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._increment = itertools.count()

    def next(self) -> int:
        milliseconds = int(self._clock.utcnow().timestamp() * 1000) - DISCORD_EPOCH_MS
        return (milliseconds << 22) | (1 << 17) | (next(self._increment) & 0xFFF)

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """A new id that Discord routes to `shard_id`, by its rule (id >> 22) % shard_count: the
        timestamp part moves on to the next millisecond that qualifies (at most count - 1 ahead)."""
        snowflake = self.next()
        milliseconds = snowflake >> 22
        milliseconds += (shard_id - milliseconds) % shard_count
        return (milliseconds << 22) | (snowflake & ((1 << 22) - 1))


def iso(moment: datetime) -> str:
    return moment.isoformat()
