"""Writing the command set to Discord: only when it changed since the last sync, per scope.

Used by the client's start-up (`setup_hook`) and by `python -m bot sync` (bot/runtime/runner.py).
"""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord import app_commands

from bot.storage.settings import SettingsStore

log = logging.getLogger(__name__)


async def command_set_hash(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> str:
    """A digest of exactly what a sync would send Discord for this scope, translations included
    (the same payload discord.py's CommandTree.sync builds)."""
    commands = tree.get_commands(guild=guild)  # every type, as sync sends them
    translator = tree.translator
    if translator is not None:
        payload = [await command.get_translated_payload(tree, translator) for command in commands]
    else:
        payload = [command.to_dict(tree) for command in commands]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def sync_commands(tree: app_commands.CommandTree, store: SettingsStore, guild_id: int | None,
                        *, force: bool) -> bool:
    """Sync global commands, or copies of them to one guild; skip when Discord already has them.

    Discord limits how often commands may be written, so the hash of the last synced set is
    stored (per application and scope) and a restart with unchanged commands sends nothing.
    """
    guild = discord.Object(guild_id) if guild_id is not None else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    digest = await command_set_hash(tree, guild)
    key = f"synced-commands:{tree.client.application_id}:{guild_id or 'global'}"
    if not force and await store.get_state(key) == digest:
        log.info("Commands unchanged since the last sync (%s); not syncing.", guild_id or "global")
        return False
    synced = await tree.sync(guild=guild)
    await store.set_state(key, digest)
    log.info("Synced %d command(s) to %s.", len(synced), f"guild {guild_id}" if guild else "all servers")
    return True
