"""/shakespeare: generate text from a seed with one of the engine's models."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands.options import MODEL_CHOICES, require_loaded
from bot.errors import UserError
from bot.formatting import generation_reply
from bot.settings import (
    DEFAULT_SETTINGS,
    MAX_LENGTH,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    GuildSettings,
    check_length,
    check_temperature,
)
from charlm.engine import GenerationRequest

if TYPE_CHECKING:
    from bot.client import ShakespeareBot

log = logging.getLogger(__name__)

MAX_SEED_CHARACTERS = 500
# Speakers who appear in tinyshakespeare, the models' training text: a seed the models know.
SPEAKERS = ("ROMEO:", "JULIET:", "First Citizen:", "MENENIUS:", "KING RICHARD III:", "GLOUCESTER:",
            "DUKE VINCENTIO:", "ISABELLA:", "PETRUCHIO:", "KATHARINA:", "LEONTES:", "CORIOLANUS:")
# Per user: generating holds a slot in the engine's shared queue for seconds at a time.
COOLDOWN_RATE = 1
COOLDOWN_SECONDS = 5.0


def build_request(settings: GuildSettings, loaded: Sequence[str], *, seed: object = None,
                  temperature: object = None, length: object = None, model: str | None = None,
                  ) -> GenerationRequest:
    """The engine request for these options, the guild's settings filling in what is missing.

    Every value is checked again here: Discord enforces the options' ranges in its own client
    only, and a forged interaction can carry NaN, 1e9 or a string where a number belongs.
    """
    if seed is None:
        seed = random.choice(SPEAKERS)
    elif not isinstance(seed, str) or not 0 < len(seed) <= MAX_SEED_CHARACTERS:
        raise UserError(f"The seed must be text of 1 to {MAX_SEED_CHARACTERS} characters.")
    if model is not None:
        chosen = require_loaded(model, loaded)
    elif settings.model in loaded:
        chosen = settings.model
    else:
        # The guild's model is no longer shipped here: serve with another rather than refuse.
        log.warning("Model %r from settings is not loaded; using %r.", settings.model, loaded[0])
        chosen = loaded[0]
    return GenerationRequest(
        seed=seed,
        model=chosen,
        temperature=settings.temperature if temperature is None else check_temperature(temperature),
        length=settings.length if length is None else check_length(length),
    )


@app_commands.command(name="shakespeare", description="Write Shakespeare with a character-level model.")
@app_commands.describe(
    seed="How the text begins (default: a speaker's name, such as ROMEO:)",
    temp=f"Temperature from {MIN_TEMPERATURE} (careful) to {MAX_TEMPERATURE} (wild); default: the server's",
    length=f"Characters to write, {MIN_LENGTH} to {MAX_LENGTH}; default: the server's",
    model="Which model writes; default: the server's",
)
@app_commands.choices(model=MODEL_CHOICES)
@app_commands.checks.cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS)  # keyed by user
async def shakespeare(
    interaction: discord.Interaction[ShakespeareBot],
    seed: app_commands.Range[str, 1, MAX_SEED_CHARACTERS] | None = None,
    temp: app_commands.Range[float, MIN_TEMPERATURE, MAX_TEMPERATURE] | None = None,
    length: app_commands.Range[int, MIN_LENGTH, MAX_LENGTH] | None = None,
    model: app_commands.Choice[str] | None = None,
) -> None:
    bot = interaction.client
    guild_id = interaction.guild_id
    settings = DEFAULT_SETTINGS if guild_id is None else await bot.store.get(guild_id)
    request = build_request(settings, bot.engine.model_names, seed=seed, temperature=temp, length=length,
                            model=None if model is None else model.value)
    generation = asyncio.ensure_future(bot.engine.generate(request))
    try:
        # One step lets the engine take or refuse the request (a full queue, a seed it cannot
        # use) while the refusal can still be an ephemeral reply. Once a public "thinking..."
        # is shown, Discord keeps whatever replaces it public.
        await asyncio.sleep(0)
        if not generation.done():
            # Generating can take longer than the 3 s Discord allows before acknowledging.
            await interaction.response.defer(thinking=True)
        text = await generation
    finally:
        generation.cancel()  # only has an effect when the interaction failed first
    reply = generation_reply(request.seed, text, model=request.model, temperature=request.temperature)
    if interaction.response.is_done():
        await interaction.followup.send(reply, allowed_mentions=discord.AllowedMentions.none())
    else:
        await interaction.response.send_message(reply, allowed_mentions=discord.AllowedMentions.none())
