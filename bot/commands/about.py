"""/about: the models loaded, their size and validation loss, the bot's version, and where to read
what it stores (docs/privacy.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.utils import escape_markdown

from bot import __version__
from bot.commands.guess_text import fooled_figures
from bot.i18n import Phrase, localize
from charlm.engine import ModelInfo

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot


PRIVACY = Phrase("What the bot stores, for how long, and how to have it deleted: docs/privacy.md in its "
                 "source, or ask its operator.")


def describe_model(info: ModelInfo) -> Phrase:
    if info.val_bits_per_char is None:
        loss = Phrase("validation loss not recorded")
    else:
        loss = Phrase("validation loss {bits} bits/char ({nats} nats)", bits=f"{info.val_bits_per_char:.3f}",
                      nats=f"{info.val_nats_per_char:.3f}")
    trained = ("" if info.training_minutes is None
               else Phrase(", trained {minutes} min", minutes=f"{info.training_minutes:.0f}"))
    return Phrase("- **{name}**: {kind}, {layers} x {hidden}, {parameters} parameters, {loss}{trained}",
                  name=escape_markdown(info.name), kind=info.kind.upper(), layers=info.num_layers,
                  hidden=info.hidden_size, parameters=f"{info.parameters:,}", loss=loss, trained=trained)


def about_text(models: list[ModelInfo], locale: object = "en", fooled: list[str] | None = None) -> str:
    """`fooled`: /guess's figures, already in the reader's language (bot/commands/guess_text.py)."""
    lines = [Phrase("**Shakespeare bot {version}**: character-level models trained on tinyshakespeare.",
                    version=__version__)]
    lines += [describe_model(info) for info in models]
    lines += fooled or []
    lines.append(PRIVACY)
    return "\n".join(localize(line, locale) for line in lines)


@app_commands.command(name="about", description="Which models this bot runs, how big and how good.")
@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def about(interaction: discord.Interaction[ShakespeareBot]) -> None:
    text = about_text(interaction.client.engine.model_info(), interaction.locale,
                      await fooled_figures(interaction.client, interaction.locale))
    await interaction.response.send_message(text, ephemeral=True)
