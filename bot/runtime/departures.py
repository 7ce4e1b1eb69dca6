"""The bot's side of forgetting a server it left (the rules are bot/storage/departed.py's).

on_guild_remove records when the bot left, on_guild_join clears it (added back in time, nothing is
lost), and every SWEEP_SECONDS `sweep` deletes what belongs to servers left more than
FORGET_AFTER_DAYS ago: their settings (through the settings store, which drops its cached row),
then their voices and jobs. A process sweeps only the servers of the shards it runs; one of them
that it is in again (added back while the bot was offline, so no join event came) is marked back
instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot.errors import SettingsStoreError
from bot.storage import departed

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0


async def left(bot: ShakespeareBot, guild_id: int) -> None:
    try:
        await departed.mark_left(bot.voices, guild_id)
    except (SettingsStoreError, OSError) as error:  # the next sweep cannot know: said in the log
        log.warning("Could not record leaving server %s: %s", guild_id, error)


async def joined(bot: ShakespeareBot, guild_id: int) -> None:
    try:
        await departed.mark_back(bot.voices, guild_id)
    except (SettingsStoreError, OSError) as error:  # the sweep checks bot.guilds before forgetting
        log.warning("Could not record joining server %s: %s", guild_id, error)


def _ours(bot: ShakespeareBot, guild_id: int) -> bool:
    """Whether this process runs the shard the server is on (Discord's rule: (id >> 22) % count)."""
    return (guild_id >> 22) % (bot.shard_count or 1) in bot.shards


async def sweep(bot: ShakespeareBot, now: float | None = None) -> list[int]:
    """Forget the servers of this process's shards left more than FORGET_AFTER_DAYS before `now`;
    returns them."""
    forgotten = []
    for guild_id in await departed.due(bot.voices, now):
        if not _ours(bot, guild_id):
            continue
        if bot.get_guild(guild_id) is not None:
            await departed.mark_back(bot.voices, guild_id)
            continue
        await bot.store.reset(guild_id)
        for name in await departed.forget(bot.voices, guild_id):
            bot.voice_cache.forget(guild_id, name)
        log.info("Forgot server %s: the bot left it over %s days ago.", guild_id, departed.FORGET_AFTER_DAYS)
        forgotten.append(guild_id)
    return forgotten


async def sweep_forever(bot: ShakespeareBot) -> None:
    await bot.wait_until_ready()
    while True:
        try:
            await sweep(bot)
        except (SettingsStoreError, OSError) as error:
            log.warning("Could not forget the servers the bot left: %s", error)
        await asyncio.sleep(SWEEP_SECONDS)
