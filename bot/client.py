"""The Discord client: owns the command tree, the engine and the settings store while it runs.

As in discord.py's examples/app_commands, one client owns one `CommandTree`; the commands live in
bot/commands/, one module per feature. The engine and store are opened by bot/runner.py and
handed in, so tests, the self-test and the playground can run the same bot in process.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Coroutine

import discord
from discord import app_commands

from bot import health
from bot.commands import add_commands
from bot.commands.answers import UserError, expired_interaction, log_expired, reply_privately, user_message
from bot.commands.options import check_command_data
from bot.commands.replies import NOT_OURS, KeyedLocks, ReplyButton, unserved_press
from bot.commands.shakespeare import COOLDOWN_RATE, COOLDOWN_SECONDS, UserCooldown
from bot.commands.translator import BotTranslator
from bot.config import BotConfig
from bot.errors import INTERNAL, RESTARTING, SettingsStoreError, sentence_of
from bot.lifecycle import InFlight
from bot.metrics import BotMetrics
from bot.storage import open_voice_book
from bot.storage.settings import SettingsStore
from bot.storage.timed import TimedStore
from bot.voices.cache import VoiceCache
from bot.voices.trainer import LocalTrainer, trainer_env
from charlm.engine import GenerationEngine

log = logging.getLogger(__name__)

# See ShakespeareBot._close_unacknowledged.
HEARTBEAT_TIMEOUT_INTERVALS = 1.5
# A text-only bot: discord.py's warnings that voice libraries are missing would only alarm operators.
discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


class ShakespeareTree(app_commands.CommandTree["ShakespeareBot"]):
    async def interaction_check(self, interaction: discord.Interaction[ShakespeareBot], /) -> bool:
        in_flight = self.client.in_flight
        self.client.metrics.handling(interaction)  # metrics: its log lines carry its id
        if not in_flight.accepting:
            self.client.metrics.interaction_done(interaction, "refused")  # metrics
            await reply_privately(interaction, RESTARTING)
            return False
        if interaction.type in (discord.InteractionType.application_command,
                                discord.InteractionType.autocomplete):
            autocomplete = interaction.type is discord.InteractionType.autocomplete
            try:
                check_command_data(interaction.data or {}, autocomplete=autocomplete)
            except UserError as refusal:
                # Answered here: discord.py's error path would look the command up in the same
                # malformed options and fail again, leaving the user without a reply. (An
                # autocomplete cannot carry a sentence: it gets no suggestions.)
                if autocomplete:
                    await _no_suggestions(interaction)
                else:
                    self.client.metrics.interaction_done(interaction, "refused")  # metrics
                    await reply_privately(interaction, sentence_of(refusal))
                return False
        # This runs inside the task discord.py made for the interaction, which also runs on_error:
        # when the task ends, the user has had their reply. Should stopping cut it, they are told.
        task = asyncio.current_task()
        if task is not None:
            in_flight.track(task, lambda: reply_privately(interaction, RESTARTING))
        return True

    async def on_error(self, interaction: discord.Interaction[ShakespeareBot],
                       error: app_commands.AppCommandError, /) -> None:
        self.client.metrics.interaction_done(interaction, error)  # metrics: refused, busy or failed
        if expired_interaction(error):  # answering again would only fail again
            log_expired(interaction)
            return
        sentence = user_message(error)
        if sentence is None:
            command = interaction.command.qualified_name if interaction.command else "(unknown)"
            log.error("Command /%s failed for interaction %s", command, interaction.id, exc_info=error)
            sentence = INTERNAL
        else:
            log.debug("Refused interaction %s: %s", interaction.id, sentence)
        await reply_privately(interaction, sentence)


async def _no_suggestions(interaction: discord.Interaction) -> None:
    try:
        await interaction.response.autocomplete([])
    except discord.HTTPException as error:
        log.warning("Could not answer autocomplete %s: %s", interaction.id, error)


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


def _tolerate_unreadable_events(parsers: dict[str, Callable[[dict], None]]) -> None:
    """Make one gateway event that discord.py cannot parse cost that event only.

    discord.py calls its parser for each event inside the gateway's read loop, unguarded: one
    payload with a field it does not expect (Discord adds fields and types over time) raises out
    of the loop and stops the client. Each parser of this client's connection state (this bot's
    only, nothing global) is wrapped to log the event and go on. A broken connection is not a
    parser's error, so it still closes and reconnects as before."""
    for event, parse in list(parsers.items()):
        parsers[event] = functools.partial(_parse_or_skip, event, parse)


def _parse_or_skip(event: str, parse: Callable[[dict], None], data: dict) -> None:
    try:
        parse(data)
    except Exception as error:
        log.warning("Skipped a %s gateway event that could not be read (%s: %s).", event,
                    type(error).__name__, str(error)[:200])
        log.debug("The unreadable %s event", event, exc_info=error)


class ShakespeareBot(discord.AutoShardedClient):
    def __init__(self, config: BotConfig, *, engine: GenerationEngine, store: SettingsStore) -> None:
        super().__init__(
            # Slash commands need no gateway intent; `guilds` (not privileged) keeps discord.py's
            # guild cache consistent. Messages, members and presences are never received.
            intents=discord.Intents(guilds=True),
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=config.effective_shard_count,
            shard_ids=list(config.shard_ids) if config.shard_ids is not None else None,
        )
        _tolerate_unreadable_events(self._connection.parsers)
        self.config = config
        self.engine = engine
        self.in_flight = InFlight()
        self.metrics = BotMetrics(self)  # this bot's own registry, served by bot/http_status.py
        self.store = TimedStore(store, self.metrics)  # each call timed for the metrics
        # Per bot, never per module, so two bots in one process share nothing.
        self.cooldown = UserCooldown(COOLDOWN_RATE, COOLDOWN_SECONDS)
        self.replaced_models_logged: set[str] = set()  # settings' models not loaded here, warned of
        self.reply_locks = KeyedLocks()  # Continue presses on one message, one at a time
        # Server voices: their jobs and files, the loaded ones, the trainer this process may run.
        self.voices = open_voice_book(config)  # the settings' database: SQLite or PostgreSQL
        self.voice_cache = VoiceCache(engine, self.voices, config.voice_cache_mb)
        self.trainer = LocalTrainer(trainer_env(config)) if config.voice_trainer == "local" else None
        self._followers: set[asyncio.Task] = set()  # the tasks editing admins' voice progress replies
        self.tree = ShakespeareTree(self)
        add_commands(self.tree)
        self._heartbeat: asyncio.Task | None = None
        self._heartbeat_write: asyncio.Future | None = None

    async def setup_hook(self) -> None:
        # The buttons under replies: any custom_id of theirs, on any message, old ones included.
        self.add_dynamic_items(ReplyButton)
        await self.tree.set_translator(BotTranslator())  # Korean names and descriptions
        try:
            await sync_commands(self.tree, self.store, self.config.dev_guild_id, force=False)
        except discord.HTTPException as error:
            # Serving with the commands Discord already has beats not serving at all.
            log.error("Could not sync commands (%s); serving the ones Discord has.", error)
        self._heartbeat = asyncio.create_task(self._beat(), name="heartbeat")
        await self.resume_voice_jobs()

    async def resume_voice_jobs(self) -> None:
        """Jobs queued before a restart go on at once; otherwise the trainer starts with the first job."""
        if self.trainer is not None and await asyncio.to_thread(self.voices.any_live):
            await self.start_trainer()

    async def start_trainer(self) -> None:
        """Make sure a trainer will take queued jobs: this process's own (VOICE_TRAINER=local),
        started again if it died; with VOICE_TRAINER=off another host's."""
        if self.trainer is not None:
            await self.trainer.ensure_running()

    def follow_job(self, follower: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(follower, name="voice-progress")
        self._followers.add(task)
        task.add_done_callback(self._followers.discard)

    async def on_shard_connect(self, shard_id: int) -> None:
        self._close_unacknowledged(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._close_unacknowledged(shard_id)

    def _close_unacknowledged(self, shard_id: int) -> None:
        """Follow Discord's rule for a dead ("zombie") connection: a heartbeat not acknowledged by
        the time the next one is due means close and resume. discord.py instead waits for a fixed
        silence (60 s, whatever interval Discord asked for); it checks at each heartbeat, so a
        timeout of 1.5 intervals closes the connection at the first heartbeat after one that got
        no ACK, and its read gives up after 1.5 intervals of silence. Set per connection, on
        discord.py's own objects (private names: a library upgrade that moves them only loses this)."""
        try:
            socket = self._get_websocket(shard_id=shard_id)
            keep_alive = socket._keep_alive
            timeout = keep_alive.interval * HEARTBEAT_TIMEOUT_INTERVALS
        except (AttributeError, KeyError, TypeError):
            log.debug("Shard %s: no heartbeat handler to tune; keeping discord.py's timeout.", shard_id)
            return
        keep_alive.heartbeat_timeout = socket._max_heartbeat_timeout = timeout

    async def on_app_command_completion(self, interaction: discord.Interaction, command: object) -> None:
        self.metrics.interaction_done(interaction)  # metrics: a command or menu answered

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Answer the button presses discord.py would drop without a word (see unserved_press)."""
        if unserved_press(interaction):
            self.metrics.handling(interaction)  # metrics: log lines and the count
            self.metrics.interaction_done(interaction, "refused")
            log.info("Refused a press of an unknown button %r (interaction %s).",
                     str((interaction.data or {}).get("custom_id"))[:120], interaction.id)
            await reply_privately(interaction, NOT_OURS)

    def is_serving(self) -> bool:
        """Connected on every shard and taking interactions."""
        return (self.is_ready() and not self.is_closed() and self.in_flight.accepting
                and all(not shard.is_closed() for shard in self.shards.values()))

    async def _beat(self) -> None:
        path = self.config.heartbeat_file
        await self.wait_until_ready()
        while True:
            try:
                if self.is_serving():
                    await self.metrics.check_database(self.store)  # store.check(), timed for metrics
                    details = {"shards": sorted(self.shards), "guilds": len(self.guilds)}
                    # Shielded and kept: cancelling a to_thread call does not stop its thread, so
                    # close() waits for a write in flight before removing the file.
                    self._heartbeat_write = asyncio.ensure_future(
                        asyncio.to_thread(health.write_heartbeat, path, details))
                    await asyncio.shield(self._heartbeat_write)
            except (SettingsStoreError, OSError) as error:
                log.warning("Heartbeat not written: %s", error)
            await asyncio.sleep(health.INTERVAL_SECONDS)

    async def shutdown(self) -> None:
        """Refuse new interactions, let those in flight finish (bounded), then close."""
        await self.in_flight.drain(self.config.drain_seconds)
        await self.close()

    async def close(self) -> None:
        for task in list(self._followers):
            task.cancel()
        if self.trainer is not None:
            await self.trainer.stop()  # a job it was training goes back in the queue
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
            if self._heartbeat_write is not None:
                await asyncio.gather(self._heartbeat_write, return_exceptions=True)
            health.remove_heartbeat(self.config.heartbeat_file)
        await asyncio.to_thread(self.voices.close)
        await super().close()
