"""/shakespeare: generate text from a seed with one of the engine's models."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands.answers import UserError
from bot.commands.options import SPEAKERS, seed_autocomplete
from bot.commands.replies import write_reply
from bot.commands.settings import settings_for
from bot.commands.voice import choose_model, model_or_voice_autocomplete
from bot.i18n import Phrase
from bot.storage.settings import (
    MAX_MODEL_NAME_LENGTH,
    MAX_REQUEST_LENGTH,
    MAX_TEMPERATURE,
    MIN_LENGTH,
    MIN_TEMPERATURE,
    GuildSettings,
    check_length,
    check_temperature,
)
from bot.voices.cache import Chosen
from charlm.engine import GenerationRequest

if TYPE_CHECKING:
    from bot.client import ShakespeareBot

log = logging.getLogger(__name__)

MAX_SEED_CHARACTERS = 500
# Per user: generating holds a slot in the engine's shared queue for seconds at a time.
COOLDOWN_RATE = 1
COOLDOWN_SECONDS = 5.0
LENGTH_PER_COOLDOWN = 1500  # a 10,000-character text waits 33 s


class UserCooldown:
    """Per user, one generation every `per` seconds, and longer after a long text: `charge` sets
    the wait for the length asked for (`per` for every LENGTH_PER_COOLDOWN characters), so long
    texts cannot starve others. A request that produced no text gives it back: a user told the
    bot is busy, or that their seed cannot be used, may try again at once."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._ready_at: dict[int, float] = {}

    def check(self, interaction: discord.Interaction) -> bool:
        now = interaction.created_at.timestamp()
        for user, ready in list(self._ready_at.items()):
            if ready <= now:  # a wait that is over: forget it
                del self._ready_at[user]
        ready = self._ready_at.get(interaction.user.id)
        if ready is not None:
            raise app_commands.CommandOnCooldown(app_commands.Cooldown(self.rate, self.per), ready - now)
        self._ready_at[interaction.user.id] = now + self.per
        return True

    def charge(self, interaction: discord.Interaction, length: int) -> None:
        """The user's wait, once the length of what they asked for is known."""
        wait = self.per * max(1.0, length / LENGTH_PER_COOLDOWN)
        self._ready_at[interaction.user.id] = interaction.created_at.timestamp() + wait

    def give_back(self, interaction: discord.Interaction) -> None:
        self._ready_at.pop(interaction.user.id, None)


def cooldown_check(interaction: discord.Interaction[ShakespeareBot]) -> bool:
    return interaction.client.cooldown.check(interaction)


def build_request(settings: GuildSettings, chosen: Chosen, *, seed: object = None,
                  temperature: object = None, length: object = None) -> GenerationRequest:
    """The engine request for these options and the chosen model, the settings filling in what is
    missing.

    Every value is checked again here: Discord enforces the options' ranges in its own client
    only, and a forged interaction can carry NaN, 1e9 or a string where a number belongs.
    """
    if seed is None:
        seed = random.choice(SPEAKERS)
    elif not isinstance(seed, str) or not 0 < len(seed) <= MAX_SEED_CHARACTERS:
        raise UserError(Phrase("The seed must be text of 1 to {most} characters.", most=MAX_SEED_CHARACTERS))
    return GenerationRequest(
        seed=seed,
        model=chosen.engine_key,
        temperature=settings.temperature if temperature is None else check_temperature(temperature),
        length=settings.length if length is None else check_length(length, MAX_REQUEST_LENGTH),
    )


@app_commands.command(name="shakespeare", description="Write Shakespeare with a character-level model.")
@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
@app_commands.describe(
    seed="How the text begins (default: a speaker's name, such as ROMEO:)",
    temp=f"Temperature from {MIN_TEMPERATURE} (careful) to {MAX_TEMPERATURE} (wild); "
         "default: the server's or yours",
    length=f"Characters to write, {MIN_LENGTH} to {MAX_REQUEST_LENGTH}; default: the server's or yours",
    model="Which model or server voice writes; default: the server's or yours",
)
@app_commands.autocomplete(seed=seed_autocomplete, model=model_or_voice_autocomplete)
@app_commands.check(cooldown_check)
async def shakespeare(
    interaction: discord.Interaction[ShakespeareBot],
    seed: app_commands.Range[str, 1, MAX_SEED_CHARACTERS] | None = None,
    temp: app_commands.Range[float, MIN_TEMPERATURE, MAX_TEMPERATURE] | None = None,
    length: app_commands.Range[int, MIN_LENGTH, MAX_REQUEST_LENGTH] | None = None,
    model: app_commands.Range[str, 1, MAX_MODEL_NAME_LENGTH] | None = None,
) -> None:
    bot = interaction.client
    try:
        settings = await settings_for(interaction)  # the server's, or the user's own where none apply
        chosen = await choose_model(interaction, asked=model, setting=settings.model)
        request = build_request(settings, chosen, seed=seed, temperature=temp, length=length)
        await write_reply(interaction, request, chosen=chosen)
    except Exception:
        # Refused or failed: no text came of it, so they may try again now.
        bot.cooldown.give_back(interaction)
        raise
