"""/about: the models loaded, their size and validation loss, and the bot's version."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.utils import escape_markdown

from bot import __version__
from charlm.engine import ModelInfo

if TYPE_CHECKING:
    from bot.client import ShakespeareBot


def describe_model(info: ModelInfo) -> str:
    if info.val_bits_per_char is None:
        loss = "validation loss not recorded"
    else:
        loss = f"validation loss {info.val_bits_per_char:.3f} bits/char ({info.val_nats_per_char:.3f} nats)"
    trained = "" if info.training_minutes is None else f", trained {info.training_minutes:.0f} min"
    size = f"{info.kind.upper()}, {info.num_layers} x {info.hidden_size}, {info.parameters:,} parameters"
    return f"- **{escape_markdown(info.name)}**: {size}, {loss}{trained}"


def about_text(models: list[ModelInfo]) -> str:
    lines = [f"**Shakespeare bot {__version__}**: character-level models trained on tinyshakespeare."]
    lines += [describe_model(info) for info in models]
    return "\n".join(lines)


@app_commands.command(name="about", description="Which models this bot runs, how big and how good.")
async def about(interaction: discord.Interaction[ShakespeareBot]) -> None:
    text = about_text(interaction.client.engine.model_info())
    await interaction.response.send_message(text, ephemeral=True)
