"""The message context menu "Continue as Shakespeare": any message's text as the seed.

Right-click a message -> Apps -> Continue as Shakespeare. The message is first turned into plain
words as a reader sees them: mentions become the names they show, custom emoji their names, links
the site they point to, and markdown goes; the model then continues it with the server's settings,
and the reply has the same buttons as /shakespeare's. Nobody is ever pinged (allowed mentions are
off, and the seed is shown inside a code block).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.utils import remove_markdown

from bot.answers import UserError
from bot.commands.acknowledge import DEFER
from bot.commands.replies import write_reply
from bot.commands.settings import settings_for
from bot.commands.shakespeare import check_seed, cooldown_check
from bot.commands.voice import choose_model
from bot.i18n import Phrase
from charlm.engine import GenerationRequest

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

MENU_NAME = "Continue as Shakespeare"
NOTHING_TO_CONTINUE = Phrase("That message has no text to continue; pick one with some words in it.")
# The end of a long message is what the model continues from; this much of it primes the model.
MAX_MENU_SEED = 2000

_USER = re.compile(r"<@!?(\d{1,20})>")
_ROLE = re.compile(r"<@&(\d{1,20})>")
_CHANNEL = re.compile(r"<#(\d{1,20})>")
_EMOJI = re.compile(r"<a?:(\w{1,32}):\d{1,20}>")
_TIMESTAMP = re.compile(r"<t:(-?\d{1,13})(?::[tTdDfFR])?>")
_COMMAND = re.compile(r"</([\w -]{1,100}):\d{1,20}>")
_LINK = re.compile(r"<?(https?://[^\s<>]+)>?")
_EVERYONE = re.compile(r"@(everyone|here)\b")
# A heading's or quote's mark at a line's start. Spaces and tabs only, never newlines: a pattern
# whose leading \s* could run over newlines tried every line start against every line after it,
# quadratic in a message of newlines.
_LINE_MARK = re.compile(r"^[ \t]*(?:#{1,3}|-#|>>>|>)(?:[ \t]+|$)", re.MULTILINE)


def plain_words(message: discord.Message) -> str:
    """The message's text as a reader sees it, as plain words (see the module docstring)."""
    return plain_text(message.content or "",
                      users={str(user.id): user.display_name for user in message.mentions},
                      roles={str(role.id): role.name for role in message.role_mentions},
                      channels={str(channel.id): getattr(channel, "name", "channel")
                                for channel in message.channel_mentions})


def plain_text(text: str, *, users: dict[str, str], roles: dict[str, str], channels: dict[str, str]) -> str:
    """`text` with mentions named from the maps (id -> name), emoji, links and markdown made plain."""
    text = _USER.sub(lambda match: "@" + users.get(match[1], "someone"), text)
    text = _ROLE.sub(lambda match: "@" + roles.get(match[1], "role"), text)
    text = _CHANNEL.sub(lambda match: "#" + channels.get(match[1], "channel"), text)
    text = _EMOJI.sub(lambda match: match[1], text)
    text = _TIMESTAMP.sub("a moment", text)
    text = _COMMAND.sub(lambda match: "/" + match[1], text)
    text = _LINK.sub(lambda match: _site(match[1]), text)
    text = _EVERYONE.sub(lambda match: match[1], text)
    text = remove_markdown(text)
    text = _LINE_MARK.sub("", text)  # headings, quotes
    return re.sub(r"[ \t]+", " ", text).strip()


def _site(url: str) -> str:
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].split("@")[-1].split(":")[0]
    return host.removeprefix("www.") or "a link"


@app_commands.context_menu(name=MENU_NAME, extras={DEFER: "public"})  # as /shakespeare
@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
@app_commands.check(cooldown_check)
async def continue_as_shakespeare(interaction: discord.Interaction[ShakespeareBot],
                                  message: discord.Message) -> None:
    bot = interaction.client
    try:
        seed = plain_words(message)[-MAX_MENU_SEED:]
        if not seed:
            raise UserError(NOTHING_TO_CONTINUE)
        check_seed(seed)  # before any voice is loaded for it
        settings = await settings_for(interaction)
        chosen = await choose_model(interaction, setting=settings.model)
        request = GenerationRequest(seed=seed, model=chosen.engine_key, temperature=settings.temperature,
                                    length=settings.length)
        await write_reply(interaction, request, chosen=chosen)
    except Exception as error:
        # Only the bot's own refusals (busy, restarting) give the wait back: cleaning the message
        # was work done on this user's input, so a message that cleans to nothing still costs it.
        bot.cooldown.give_back_if_ours(interaction, error)
        raise
