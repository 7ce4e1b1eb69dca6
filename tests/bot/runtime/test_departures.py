"""A server the bot left is forgotten FORGET_AFTER_DAYS later (its settings, voices and jobs), one it
was added back to is not: the real bot on the emulator, on both databases. The emulator sends no
GUILD_DELETE, so the tests call the client's event handlers as discord.py dispatches them."""

from __future__ import annotations

import time

import discord

from bot.runtime import departures
from bot.storage.departed import FORGET_AFTER_DAYS
from bot.storage.settings import DEFAULT_SETTINGS
from tests.bot.harness import TEXT, running_bot

WORDS = TEXT.decode()  # the harness has the upload's bytes; the book takes the decoded text

GONE, BACK = 10**17 + 1, 10**17 + 2


async def test_a_server_left_long_ago_is_forgotten_and_one_rejoined_is_not(tmp_path, database):
    async with running_bot(tmp_path, database_url=database) as run:
        bot, here = run.bot, run.emu.world.guild.id
        for guild in (GONE, BACK, here):
            await run.store.set_value(guild, "length", 42)
        await bot.voices.enqueue(GONE, "lore", "lstm", 7, WORDS)
        await bot.on_guild_remove(discord.Object(id=GONE))
        await bot.on_guild_remove(discord.Object(id=BACK))
        await bot.on_guild_join(discord.Object(id=BACK))
        await bot.on_guild_remove(discord.Object(id=here))  # as if re-added while the bot was offline
        assert await departures.sweep(bot, now=time.time() + 60) == []
        later = time.time() + FORGET_AFTER_DAYS * 24 * 3600 + 60
        assert await departures.sweep(bot, now=later) == [GONE]
        assert (await run.store.get(GONE)).length == DEFAULT_SETTINGS.length
        assert await bot.voices.latest_job(GONE) is None
        assert [(await run.store.get(guild)).length for guild in (BACK, here)] == [42, 42]
        assert await departures.sweep(bot, now=later) == []  # the server it is in was marked back
