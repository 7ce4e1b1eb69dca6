"""Per-key pacing for actions that cost the bot work whoever asks: settings writes (per user) and
voice uploads (per server), on discord.py's own `app_commands.Cooldown` bucket.

A `Pace` refuses with discord.py's `CommandOnCooldown`, which the tree's error handler turns into
one sentence with the seconds to wait. It is never given back: what it paces is work already done.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

# Settings writes: a person (or a script of the end-to-end tests) changing values in a row is never
# refused; a loop writing the database (each write waits for the disk) is held to three a second.
SETTINGS_RATE, SETTINGS_PER = 30, 10.0
# Voice uploads, per server: each downloads up to 2 MB and checks it (about a second of CPU).
UPLOAD_RATE, UPLOAD_PER = 3, 300.0


class Pace:
    """At most `rate` actions every `per` seconds for each key (a user's id, a server's id)."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def take(self, key: int) -> None:
        """Count one action for `key`; CommandOnCooldown (with the wait) when it has used its rate."""
        now = time.time()
        for other, bucket in list(self._buckets.items()):  # full again: forget it
            if bucket.get_tokens(now) == bucket.rate:
                del self._buckets[other]
        bucket = self._buckets.setdefault(key, app_commands.Cooldown(self.rate, self.per))
        retry_after = bucket.update_rate_limit(now)
        if retry_after is not None:
            raise app_commands.CommandOnCooldown(bucket, retry_after)

    def __len__(self) -> int:
        return len(self._buckets)


def settings_pace_check(interaction: discord.Interaction[ShakespeareBot]) -> bool:
    """A write to /settings or /preferences, counted against the user's pace (a command check)."""
    interaction.client.settings_pace.take(interaction.user.id)
    return True
