"""The commands' Korean names and descriptions, as discord.py's Translator hands them to Discord
when the command set is synced; the catalog itself is bot/i18n.py's COMMAND_KOREAN (bot/i18n.py
imports no Discord, so storage and the error tree can use its `Phrase`)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import COMMAND_KOREAN


class BotTranslator(app_commands.Translator):
    """Korean names and descriptions for the commands (discord.py sends them when syncing)."""

    async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                        context: app_commands.TranslationContextTypes) -> str | None:
        if locale is not discord.Locale.korean:
            return None
        return COMMAND_KOREAN.get(string.message)
