"""/shakespeare: generate text from a seed with one of the engine's models."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.answers import UserError, expired_interaction
from bot.commands.acknowledge import DEFER
from bot.commands.options import SPEAKERS, seed_autocomplete
from bot.commands.replies import write_reply
from bot.commands.settings import settings_for
from bot.commands.voice import choose_model, model_or_voice_autocomplete
from bot.errors import SettingsBusyError, SettingsUnavailableError
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
from charlm.alphabet import Alphabet
from charlm.engine import EngineBusyError, EngineClosedError, GenerationRequest
from charlm.errors import SamplingError
from charlm.sampling import prepare_seed

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

MAX_SEED_CHARACTERS = 500
# Per user: generating holds a slot in the engine's shared queue for seconds at a time.
COOLDOWN_RATE = 1
COOLDOWN_SECONDS = 5.0
LENGTH_PER_COOLDOWN = 1500  # a 10,000-character text waits 33 s
# The bot's own reasons for not writing: a user refused for one of these gets their wait back.
# Anything else (a seed, a model or a voice that cannot be used) was work done on their input.
OUR_REASONS = (EngineBusyError, EngineClosedError, SettingsBusyError, SettingsUnavailableError)
# The engine's own words for it, said before any model or voice is chosen.
UNUSABLE_SEED = Phrase("The seed has no characters the model knows, even after normalising.")


class UserCooldown:
    """Per user, one generation every `per` seconds, and longer after a long text: `charge` sets
    the wait for the length asked for (`per` for every LENGTH_PER_COOLDOWN characters), so long
    texts cannot starve others. A request the bot refused for its own reasons (busy, restarting,
    its database away) gives it back, so the user may try again at once; one refused for what the
    user sent (a seed or a voice that cannot be used) keeps it, since the bot already did work on
    it (`give_back_if_ours`)."""

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

    def give_back_if_ours(self, interaction: discord.Interaction, error: BaseException) -> None:
        """Give the wait back only when `error` is the bot's own reason (OUR_REASONS), or Discord
        had expired the interaction (nobody could be answered, through no doing of the user's)."""
        if isinstance(error, app_commands.CommandInvokeError):
            error = error.original
        if isinstance(error, OUR_REASONS) or expired_interaction(error):
            self.give_back(interaction)


def cooldown_check(interaction: discord.Interaction[ShakespeareBot]) -> bool:
    return interaction.client.cooldown.check(interaction)


def check_seed(seed: str) -> str:
    """The seed, if the models can start from it (some characters left once transliterated);
    checked before any model or voice is chosen, so a seed that cannot be used costs no load."""
    try:
        prepare_seed(Alphabet(), seed)
    except SamplingError:
        raise UserError(UNUSABLE_SEED) from None
    return seed


def checked_seed(seed: object) -> str:
    if not isinstance(seed, str) or not 0 < len(seed) <= MAX_SEED_CHARACTERS:
        raise UserError(Phrase("The seed must be text of 1 to {most} characters.", most=MAX_SEED_CHARACTERS))
    return seed


def build_request(settings: GuildSettings, chosen: Chosen, *, seed: object = None,
                  temperature: object = None, length: object = None) -> GenerationRequest:
    """The engine request for these options and the chosen model, the settings filling in what is
    missing.

    Every value is checked again here: Discord enforces the options' ranges in its own client
    only, and a forged interaction can carry NaN, 1e9 or a string where a number belongs.
    """
    if seed is None:
        seed = random.choice(SPEAKERS)
    else:
        check_seed(checked_seed(seed))
    return GenerationRequest(
        seed=seed,
        model=chosen.engine_key,
        temperature=settings.temperature if temperature is None else check_temperature(temperature),
        length=settings.length if length is None else check_length(length, MAX_REQUEST_LENGTH),
    )


@app_commands.command(name="shakespeare", description="Write Shakespeare with a character-level model.",
                      extras={DEFER: "public"})  # its reply is public: so is its "thinking..."
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
        if seed is not None:  # before any voice is loaded for it
            check_seed(checked_seed(seed))
        settings = await settings_for(interaction)  # the server's, or the user's own where none apply
        chosen = await choose_model(interaction, asked=model, setting=settings.model)
        request = build_request(settings, chosen, seed=seed, temperature=temp, length=length)
        await write_reply(interaction, request, chosen=chosen)
    except Exception as error:
        bot.cooldown.give_back_if_ours(interaction, error)  # busy or restarting: they may try again now
        raise
