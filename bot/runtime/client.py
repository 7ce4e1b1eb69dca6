"""The Discord client: owns the command tree, the engine, the settings store and the server voices
while it runs.

As in discord.py's examples/app_commands, one client owns one `CommandTree`; the commands live in
bot/commands/, one module per feature. The tree's `interaction_check` starts the acknowledgement
guard (bot/commands/acknowledge.py), refuses interactions while stopping (an autocomplete with no
suggestions, anything else with one sentence) and command data discord.py would fail on; its
`on_error` turns every error into one sentence. The client keeps the heartbeat file fresh, resumes
queued voice jobs and answers presses of buttons that are not ours. The command sync (sync.py) and
the gateway guards (gateway.py) sit beside it. The engine and store are opened by
bot/runtime/runner.py and handed in, so tests, the self-test and the playground can run the same
bot in process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

import discord
from discord import app_commands

from bot.answers import UserError, expired_interaction, log_expired, reply_privately, user_message
from bot.commands import add_commands
from bot.commands.acknowledge import command_deferral, guard
from bot.commands.guess_rounds import GuessButton, RoundKeeper
from bot.commands.options import check_command_data
from bot.commands.pace import SETTINGS_PER, SETTINGS_RATE, UPLOAD_PER, UPLOAD_RATE, Pace
from bot.commands.replies import NOT_OURS, KeyedLocks, ReplyButton, unserved_press
from bot.commands.shakespeare import COOLDOWN_RATE, COOLDOWN_SECONDS, UserCooldown
from bot.commands.translator import BotTranslator
from bot.commands.why import WHY_COOLDOWN_RATE, WHY_COOLDOWN_SECONDS
from bot.config import BotConfig
from bot.errors import INTERNAL, RESTARTING, SettingsStoreError, sentence_of
from bot.ops import health
from bot.ops.metrics import BotMetrics
from bot.ops.pictures import PictureWorker
from bot.runtime import departures
from bot.runtime.gateway import tolerate_unreadable_events, tune_heartbeat_timeout
from bot.runtime.lifecycle import InFlight
from bot.runtime.sync import sync_commands
from bot.storage import open_voice_book
from bot.storage.settings import SettingsStore
from bot.storage.timed import TimedStore
from bot.voices.cache import CALL_SECONDS, VoiceCache
from bot.voices.progress_picture import TrainingCurves
from bot.voices.trainer import LocalTrainer, trainer_env
from charlm.engine import GenerationEngine

log = logging.getLogger(__name__)

# A text-only bot: discord.py's warnings that voice libraries are missing would only alarm operators.
discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


class ShakespeareTree(app_commands.CommandTree["ShakespeareBot"]):
    async def interaction_check(self, interaction: discord.Interaction[ShakespeareBot], /) -> bool:
        in_flight = self.client.in_flight
        # First: from here on, whatever the command waits on, it is acknowledged within Discord's 3 s.
        guard(interaction, lambda: command_deferral(interaction))
        self.client.metrics.handling(interaction)  # metrics: its log lines carry its id
        autocomplete = interaction.type is discord.InteractionType.autocomplete
        if not in_flight.accepting:
            if autocomplete:  # only suggestions answer an autocomplete: none
                await _no_suggestions(interaction)
                return False
            self.client.metrics.interaction_done(interaction, "refused")  # metrics
            await reply_privately(interaction, RESTARTING)
            return False
        if interaction.type in (discord.InteractionType.application_command,
                                discord.InteractionType.autocomplete):
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
        tolerate_unreadable_events(self._connection.parsers)
        self.config = config
        self.engine = engine
        self.in_flight = InFlight()
        self.metrics = BotMetrics(self)  # this bot's own registry, served by bot/ops/http_status.py
        self.store = TimedStore(store, self.metrics)  # each call timed for the metrics
        # Per bot, never per module, so two bots in one process share nothing.
        self.cooldown = UserCooldown(COOLDOWN_RATE, COOLDOWN_SECONDS)
        self.settings_pace = Pace(SETTINGS_RATE, SETTINGS_PER)  # /settings and /preferences writes, per user
        self.upload_pace = Pace(UPLOAD_RATE, UPLOAD_PER)  # /voice train's uploads, per server
        self.uploading: set[int] = set()  # servers whose upload is being fetched and checked now
        self.replaced_models_logged: set[str] = set()  # settings' models not loaded here, warned of
        self.reply_locks = KeyedLocks()  # Continue presses on one message, one at a time
        self.guess = RoundKeeper(self)  # /guess: reveals on time, vote counts, solo rounds
        self.pictures = PictureWorker()  # Why? and voice-progress pictures, off the event loop
        self.why_cooldown = UserCooldown(WHY_COOLDOWN_RATE, WHY_COOLDOWN_SECONDS)  # Why? presses, per user
        self.training_curves = TrainingCurves()  # the voice jobs' training losses read so far
        # Server voices: their jobs and files, the loaded ones, the trainer this process may run.
        # The settings' database, SQLite or PostgreSQL; each call bounded, since someone waits for it.
        self.voices = open_voice_book(config, CALL_SECONDS)
        self.voice_cache = VoiceCache(engine, self.voices, config.voice_cache_mb)
        self.trainer = LocalTrainer(trainer_env(config)) if config.voice_trainer == "local" else None
        self._followers: set[asyncio.Task] = set()  # the tasks editing admins' voice progress replies
        self.tree = ShakespeareTree(self)
        add_commands(self.tree)
        self._heartbeat: asyncio.Task | None = None
        self._departures: asyncio.Task | None = None  # forgets servers left long ago (departures.py)
        self._heartbeat_write: asyncio.Future | None = None

    async def setup_hook(self) -> None:
        # The buttons under replies: any custom_id of theirs, on any message, old ones included.
        self.add_dynamic_items(ReplyButton, GuessButton)
        self.guess.start()
        await self.tree.set_translator(BotTranslator())  # Korean names and descriptions
        try:
            await sync_commands(self.tree, self.store, self.config.dev_guild_id, force=False)
        except discord.HTTPException as error:
            # Serving with the commands Discord already has beats not serving at all.
            log.error("Could not sync commands (%s); serving the ones Discord has.", error)
        self._heartbeat = asyncio.create_task(self._beat(), name="heartbeat")
        self._departures = asyncio.create_task(departures.sweep_forever(self), name="departures")
        await self.resume_voice_jobs()

    async def resume_voice_jobs(self) -> None:
        """Jobs queued before a restart go on at once; otherwise the trainer starts with the first job."""
        if self.trainer is not None and await self.voices.any_live():
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

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await departures.left(self, guild.id)  # its data is deleted FORGET_AFTER_DAYS later

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await departures.joined(self, guild.id)

    async def on_shard_connect(self, shard_id: int) -> None:
        tune_heartbeat_timeout(self, shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        tune_heartbeat_timeout(self, shard_id)

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
        await self.guess.stop()
        for task in list(self._followers):
            task.cancel()
        if self._departures is not None:
            self._departures.cancel()
        if self.trainer is not None:
            await self.trainer.stop()  # a job it was training goes back in the queue
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
            if self._heartbeat_write is not None:
                await asyncio.gather(self._heartbeat_write, return_exceptions=True)
            health.remove_heartbeat(self.config.heartbeat_file)
        await self.voices.close()
        self.pictures.close()
        await super().close()
