"""The slash commands, one module per feature, added to a client's tree by `add_commands`."""

from __future__ import annotations

from discord import app_commands

from bot.commands import about, settings, shakespeare


def add_commands(tree: app_commands.CommandTree) -> None:
    tree.add_command(shakespeare.shakespeare)
    tree.add_command(settings.SettingsGroup())
    tree.add_command(about.about)
