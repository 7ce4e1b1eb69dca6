"""The application commands, one module per feature, added to a client's tree by `add_commands`
(the buttons under replies are in replies.py, registered on the client)."""

from __future__ import annotations

from discord import app_commands

from bot.commands import about, guess, menu, settings, shakespeare, voice


def add_commands(tree: app_commands.CommandTree) -> None:
    tree.add_command(shakespeare.shakespeare)
    server_settings = settings.SettingsGroup()
    server_settings.add_command(voice.settings_voice)  # a server's only: people have no voices
    tree.add_command(server_settings)
    tree.add_command(settings.PreferencesGroup())
    tree.add_command(voice.VoiceGroup())
    tree.add_command(about.about)
    tree.add_command(menu.continue_as_shakespeare)
    tree.add_command(guess.GuessGroup())
