"""/guess: "Shakespeare or the bot?", a game for a channel.

`/guess play [model]` posts a passage of about 300 characters: a real first line from the held-out
tenth of the text, then at even odds the real continuation or a shipped model's (charlm/guess).
Anyone in the channel votes with the two buttons, once (a second press changes the vote); after
ROUND_SECONDS the message shows the answer, the split and how many were right
(bot/commands/guess_rounds.py reveals it, on time, whichever process is running then).
`/guess scores` shows the server's best ten and the caller's own rank.

A group, `/guess play` and `/guess scores`, rather than `/guess` beside `/guess-scores`: Discord
lets a name be a command or a group, never both, and one name keeps the game in one place in the
command picker.

Where the bot is not installed (DMs, user installs) the player guesses alone: their vote reveals
the answer at once, and no score is kept (scores are a server's). Only shipped models play:
voices are a server's own and stay out of the cross-server "fooled" figures.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.answers import UserError
from bot.commands.acknowledge import DEFER
from bot.commands.guess_rounds import RoundKeeper, bounded, guess_view
from bot.commands.guess_text import round_text, scores_text
from bot.commands.options import in_server_with_bot, require_loaded
from bot.i18n import Phrase
from bot.storage.games import GuessRecord
from bot.storage.settings import MAX_MODEL_NAME_LENGTH
from charlm.engine import GenerationRequest
from charlm.guess import GuessRound, PassageError, draw_round_async
from charlm.guess.passages import KINDS

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

ROUND_SECONDS = 60.0
PACE_SECONDS = 20.0  # a channel's next round starts at most this long after its last began
DRAWS = 2  # each draw_round_async tries 16 passages; two draws, then one sentence

OPEN_ROUND = Phrase("This channel already has a round going: {link}. Vote there; a new one can start "
                    "after its answer.")
DRAWING = Phrase("A round is being drawn in this channel; vote in it once it appears.")
PACE = Phrase("A new round can start in this channel {when}.")
NO_PASSAGE = Phrase("The model wrote nothing that makes a passage this time; try /guess play again.")
NOT_SHIPPED = Phrase("Only the shipped models play /guess: choose {choices}.")
SCORES_NEED_SERVER = Phrase("Scores belong to a server that added the bot; play /guess there.")


def keeper(bot: ShakespeareBot) -> RoundKeeper:
    return bot.guess


def choose_guess_model(bot: ShakespeareBot, asked: object) -> str:
    """A shipped model this bot loads (`asked`, or the first one); voices never play."""
    loaded = bot.engine.model_names
    if asked is None:
        return loaded[0]
    if isinstance(asked, str) and asked.strip().casefold() not in {name.casefold() for name in loaded}:
        raise UserError(Phrase(NOT_SHIPPED.template, choices=tuple(loaded)))
    return require_loaded(asked, loaded)


async def draw(bot: ShakespeareBot, model: str) -> GuessRound:
    """A round's passage; the coin is tossed once, so a model that fails a draw is drawn for again
    (the odds stay even), and after DRAWS draws the user gets one sentence."""
    openings = await keeper(bot).openings()
    rng = keeper(bot).rng
    kind = KINDS[rng.randrange(len(KINDS))]

    async def generate(prompt: str, length: int) -> str:
        return await bot.engine.generate(GenerationRequest(seed=prompt, model=model, length=length))

    for _ in range(DRAWS):
        try:
            return await draw_round_async(rng, generate, model, openings, kind)
        except PassageError as error:
            log.info("A /guess draw with %s failed (%s).", model, error)
    raise UserError(NO_PASSAGE)


class GuessGroup(app_commands.Group, name="guess",
                 description="Shakespeare or the bot? A game for a channel."):
    def __init__(self) -> None:
        super().__init__(allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True,
                                                                         private_channel=True),
                         allowed_installs=app_commands.AppInstallationType(guild=True, user=True))

    # Public replies: so is the guard's "thinking..." should the database be slow (acknowledge.py).
    @app_commands.command(name="play", description="Post a passage: did Shakespeare write it, or the bot?",
                          extras={DEFER: "public"})
    @app_commands.describe(model="Which shipped model plays the bot (default: the first)")
    async def play(self, interaction: discord.Interaction[ShakespeareBot],
                   model: app_commands.Range[str, 1, MAX_MODEL_NAME_LENGTH] | None = None) -> None:
        await play_round(interaction, model)

    @app_commands.command(name="scores", description="This server's best guessers, and your own rank.",
                          extras={DEFER: "public"})
    async def scores(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        if not in_server_with_bot(interaction) or interaction.guild_id is None:
            raise UserError(SCORES_NEED_SERVER)
        await interaction.response.defer()
        best, own, rank = await bounded(interaction.client.store.games.scores(interaction.guild_id,
                                                                              interaction.user.id))
        await interaction.edit_original_response(
            content=scores_text(best, own, rank, interaction.locale),
            allowed_mentions=discord.AllowedMentions.none())


async def play_round(interaction: discord.Interaction[ShakespeareBot], asked: object) -> None:
    bot = interaction.client
    model = choose_guess_model(bot, asked)
    installed = in_server_with_bot(interaction)
    now = time.time()
    assert interaction.channel_id is not None
    record = GuessRecord(key=secrets.token_hex(8), guild_id=interaction.guild_id if installed else None,
                         channel_id=interaction.channel_id, message_id=None, starter_id=interaction.user.id,
                         model=model, kind=None, text=None, created_at=now, reveal_at=now + ROUND_SECONDS)
    games = bot.store.games
    refused = await bounded(games.reserve(record, PACE_SECONDS))
    if refused is not None:
        raise UserError(refusal(refused.open_round, refused.ready_at, interaction))
    try:
        await interaction.response.defer(thinking=True)
        drawn = await draw(bot, model)
        reveal_at = time.time() + ROUND_SECONDS
        await games.fill(record.key, drawn.kind, drawn.text, reveal_at)
        shown = dataclasses.replace(record, kind=drawn.kind, text=drawn.text, reveal_at=reveal_at)
        message = await interaction.edit_original_response(
            content=round_text(shown, 0, interaction.locale, solo=not installed),
            view=guess_view(record.key, interaction.locale), allowed_mentions=discord.AllowedMentions.none())
        await games.set_message(record.key, message.id)
    except BaseException:
        try:
            await games.drop(record.key)
        except Exception as error:  # the reservation lapses by itself (DRAWING_SECONDS)
            log.warning("Could not drop /guess round %s: %s", record.key, error)
        raise
    keeper(bot).posted[record.key] = interaction


def refusal(open_round: GuessRecord | None, ready_at: float | None,
            interaction: discord.Interaction) -> Phrase:
    if open_round is None and ready_at is not None:
        return Phrase(PACE.template, when=f"<t:{int(ready_at) + 1}:R>")
    if open_round is None or open_round.message_id is None:
        return DRAWING
    where = interaction.guild_id or "@me"
    link = f"https://discord.com/channels/{where}/{open_round.channel_id}/{open_round.message_id}"
    return Phrase(OPEN_ROUND.template, link=link)


