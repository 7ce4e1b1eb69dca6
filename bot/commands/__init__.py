"""The application commands, one module per feature, added to a client's tree by `add_commands`
(the buttons under replies are in replies.py, registered on the client)."""

from __future__ import annotations

from discord import app_commands

from bot.commands import about, menu, settings, shakespeare


def add_commands(tree: app_commands.CommandTree) -> None:
    tree.add_command(shakespeare.shakespeare)
    tree.add_command(settings.SettingsGroup())
    tree.add_command(settings.PreferencesGroup())
    tree.add_command(about.about)
    tree.add_command(menu.continue_as_shakespeare)
