"""Why?: the fourth button under a reply. It answers the member who pressed it, privately, with a
picture of the reply's text (charlm.explain): each character on a background coloured by how
likely the model found it there, the legend in bits, and the few most surprising places numbered
with the model's own top three guesses.

The probabilities are not remembered from the writing: the stored reply (bot/storage/replies.py:
model, temperature, the text so far) is read through the same model or voice again, with the same
temperature, after what the model had read before it (the seed, or the text a Continue followed).
So the button works on any stored reply, after restarts too. The seed is the member's own words
and is not drawn; a reply longer than one picture is drawn up to where the picture ends, and the
message says so.

Why? presses have a per-user cooldown of their own (WHY_COOLDOWN_SECONDS), apart from writing's.
The press (bot/commands/replies.py's press_why) is acknowledged at once without changing anything
(a deferred update), which keeps the message pressed as the interaction's @original: fetching it
tells a message deleted since (one sentence) from one still there. The reading and drawing run
on the bot's picture thread (bot/ops/pictures.py), never the event loop or the engine's worker.
Words in the picture follow the member's language: the legend's unit in English, none in Korean
(the bundled font has no Hangul), where the message text says what the colours mean.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import discord

from bot.answers import UserError
from bot.commands.voice import choose_stored
from bot.i18n import Phrase, language, localize
from bot.storage.replies import MAX_REPLY_BODY, ReplyRecord
from charlm.errors import AlphabetError
from charlm.explain import ExplainInfo, explain_png

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot
    from charlm.checkpoint import LoadedModel

log = logging.getLogger(__name__)

WHY_FILE = "why.png"
# Per user, apart from writing's cooldown (a reply just written can be explained at once): a
# picture costs the picture thread a few hundred ms, so one every few seconds each.
WHY_COOLDOWN_RATE = 1
WHY_COOLDOWN_SECONDS = 5.0
HOW_TO_READ = Phrase("Why the model wrote this: each character's background shows how likely the model "
                     "found it there, pale for likely and dark red for surprising (the scale is in bits); "
                     "the numbered places list the model's top three guesses there.")
CHANGED = Phrase("Characters the model does not know were transliterated or left out.")
NOTHING_TO_EXPLAIN = Phrase("This reply has no text the model can explain.")
NOT_DRAWN = Phrase("The picture could not be drawn; please try again later.")


def what_was_read(record: ReplyRecord) -> tuple[str, str]:
    """(what the model had read before, the text it wrote that the message shows).

    A Continue primed the model with the text so far, which the stored prompt ends with; a first
    reply's text followed its seed (a reply cut for storage no longer ends its prompt)."""
    body = record.body
    if body and record.prompt.endswith(body) and len(record.prompt) > len(body):
        return record.prompt[:-len(body)], body
    return record.seed or "\n", body


def notices(info: ExplainInfo, record: ReplyRecord) -> list[Phrase]:
    """What the message says when the picture is not the whole text as written."""
    total = info.total_characters
    if len(record.body) >= MAX_REPLY_BODY:  # stored cut: the reply itself was longer
        total = max(total, record.length)
    said = []
    if info.shown_characters < total:
        said.append(Phrase("Only the first {shown} of {total} characters are drawn.",
                           shown=f"{info.shown_characters:,}", total=f"{total:,}"))
    if info.changed:
        said.append(CHANGED)
    return said


async def explain(interaction: discord.Interaction[ShakespeareBot], record: ReplyRecord) -> None:
    """Answer a Why? press (acknowledged, the reply read: bot/commands/replies.py's press_why) with
    the picture of `record`, privately."""
    bot = interaction.client
    chosen = await choose_stored(interaction, record.model)  # a voice deleted since: one sentence
    loaded = bot.engine.loaded_model(chosen.engine_key)
    if loaded is None:  # a voice unloaded since it was chosen (another needed the room): again
        loaded = bot.engine.loaded_model((await choose_stored(interaction, record.model)).engine_key)
    if loaded is None:
        raise UserError(NOT_DRAWN)
    png, info = await draw_why(bot, loaded, record, interaction.locale)
    lines = [HOW_TO_READ, *notices(info, record)]
    content = "\n".join(localize(line, interaction.locale) for line in lines)
    await interaction.followup.send(content, file=discord.File(io.BytesIO(png), filename=WHY_FILE),
                                    ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


async def draw_why(bot: ShakespeareBot, loaded: LoadedModel, record: ReplyRecord,
                   locale: object) -> tuple[bytes, ExplainInfo]:
    """The Why? picture of `record` read through `loaded`, drawn on the picture thread."""
    context, text = what_was_read(record)
    unit = "bits" if language(locale) == "en" else ""
    try:
        return await bot.pictures.draw(explain_png, loaded, text, record.temperature, context=context,
                                       unit=unit)
    except AlphabetError:
        raise UserError(NOTHING_TO_EXPLAIN) from None
    except Exception as error:  # a bug or a broken install: one sentence, the log once
        bot.pictures.failed("Why?", error)
        raise UserError(NOT_DRAWN) from None
