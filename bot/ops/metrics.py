"""What one bot counts and measures, in Prometheus's terms; bot/ops/http_status.py serves it.

Each bot has its own `BotMetrics` and its own CollectorRegistry (never prometheus_client's
global one), so several bots in one process (the tests) count apart. Counting costs a dictionary
look-up and an addition; nothing is served unless METRICS_PORT is set.

- `shakespeare_interactions_total{command, outcome}`: commands, message-menu uses and button presses
  by how they ended: answered, refused (a sentence the user caused: cooldown, bad option, not
  allowed, restarting), busy (the engine's queue was full), failed (a fault of ours, or an
  interaction Discord had expired). Autocomplete is not counted.
- `shakespeare_generation_seconds{model}`: from the request entering the engine to its text
  (shipped models by name, server voices as "voice"); `shakespeare_characters_written_total{model}`.
- `shakespeare_engine_waiting`: requests queued in the engine, not yet in a batch.
- `shakespeare_engine_steps_total`, `shakespeare_engine_batch_rows_total`: the engine's batch
  steps and the rows (requests) they carried; rows / steps over a window is the mean batch size.
- `shakespeare_event_loop_lag_seconds`: how late a 1 s sleep of the event loop wakes up.
- `shakespeare_database_check_seconds`, `shakespeare_database_errors_total`: the settings
  database's health check (the heartbeat's every 15 s, and each /readyz).
- `shakespeare_database_operation_seconds{operation}`,
  `shakespeare_database_operation_errors_total{operation}`: every call the bot makes to its
  settings store (get, set_value, save_reply...), timed, and those that failed for the database
  (a refused value is the user's, not counted).
- `shakespeare_gateway_latency_seconds{shard}`, `shakespeare_gateway_connected{shard}`.
- `shakespeare_voice_jobs{state}`: server voice training jobs in the database, by state.
- prometheus_client's own `process_*` (CPU, memory, open files) and `python_info`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import discord
from discord import app_commands
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from bot.answers import expired_interaction, sentence_for
from bot.names import BUTTON_ACTION, GUESS_ID
from bot.ops.logs import bind_interaction
from bot.storage.voices import JOB_STATES
from charlm.engine import EngineBusyError

if TYPE_CHECKING:
    from bot.storage.settings import SettingsStore
    from charlm.engine import GenerationEngine

log = logging.getLogger(__name__)


class MeasuredBot(Protocol):
    """What the metrics read of the bot they count for (bot/runtime/client.py's ShakespeareBot):
    its engine and its shards, as a discord.py AutoShardedClient has them."""

    engine: GenerationEngine
    shards: Mapping[int, discord.ShardInfo]
    shard_ids: list[int] | None
    shard_count: int | None

OUTCOMES = ("answered", "refused", "busy", "failed")
LAG_PROBE_SECONDS = 1.0
# Generations take from tens of milliseconds (one short text) to a minute (10,000 characters, busy).
GENERATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DATABASE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_BUTTON_NAMES = {"again": "again", "more": "continue", "delete": "delete", "why": "why"}


def command_label(interaction: discord.Interaction) -> str:
    """The command's name ("shakespeare", "settings temperature", "Continue as Shakespeare"),
    "button:again|continue|delete|why" for a reply's buttons, "button:guess" for a /guess vote,
    else "unknown": never a name a user typed, so the number of labels stays bounded."""
    if interaction.type is discord.InteractionType.component:
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        found = BUTTON_ACTION.match(custom_id)
        if found:
            return f"button:{_BUTTON_NAMES[found[1]]}"
        return "button:guess" if GUESS_ID.fullmatch(custom_id) else "button:unknown"
    try:
        command = interaction.command
    except Exception:  # command data discord.py cannot read: it is refused elsewhere
        command = None
    return command.qualified_name if command is not None else "unknown"


def outcome_of(result: BaseException | str | None) -> str:
    """answered (None), the outcome itself (a str), or what an error means for the user."""
    if result is None:
        return "answered"
    if isinstance(result, str):
        return result
    original = result.original if isinstance(result, app_commands.CommandInvokeError) else result
    if isinstance(original, EngineBusyError):
        return "busy"
    if expired_interaction(result):
        return "failed"
    return "refused" if sentence_for(result) is not None else "failed"


class _EngineCollector:
    """The engine's step and row counts, read when scraped (the worker thread keeps them)."""

    def __init__(self, bot: MeasuredBot) -> None:
        self.bot = bot

    def collect(self) -> Iterator[CounterMetricFamily]:
        engine = self.bot.engine
        steps = CounterMetricFamily("shakespeare_engine_steps", "Batch steps the engine took.")
        rows = CounterMetricFamily("shakespeare_engine_batch_rows",
                                   "Rows the engine's batch steps carried, one per request and character.")
        steps.add_metric([], float(getattr(engine, "steps", 0)))
        rows.add_metric([], float(getattr(engine, "rows_stepped", 0)))
        yield steps
        yield rows

    def describe(self) -> list:
        return []


class _GatewayCollector:
    """Each shard's latency and whether it is connected, read when scraped."""

    def __init__(self, bot: MeasuredBot) -> None:
        self.bot = bot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        latency = GaugeMetricFamily("shakespeare_gateway_latency_seconds",
                                    "Time between the gateway's last heartbeat and its acknowledgement.",
                                    labels=["shard"])
        connected = GaugeMetricFamily("shakespeare_gateway_connected",
                                      "1 while the shard's gateway connection is open, else 0.",
                                      labels=["shard"])
        bot = self.bot
        shards = dict(getattr(bot, "shards", {}) or {})
        expected = set(getattr(bot, "shard_ids", None) or range(getattr(bot, "shard_count", None) or 1))
        for shard_id in sorted(expected | set(shards)):
            shard = shards.get(shard_id)
            try:
                is_open = shard is not None and not shard.is_closed()
                seconds = shard.latency if shard is not None else math.inf
            except AttributeError:  # not connected yet: no websocket
                is_open, seconds = False, math.inf
            connected.add_metric([str(shard_id)], 1.0 if is_open else 0.0)
            if is_open and math.isfinite(seconds):
                latency.add_metric([str(shard_id)], seconds)
        yield latency
        yield connected

    def describe(self) -> list:
        return []  # collected at scrape time only; nothing is fixed at registration


class BotMetrics:
    """The counters, histograms and gauges of one bot, in a registry of its own."""

    def __init__(self, bot: MeasuredBot) -> None:
        self.bot = bot
        self.registry = registry = CollectorRegistry()
        self.interactions = Counter(
            "shakespeare_interactions", "Commands, message-menu uses and button presses, by how they ended.",
            ["command", "outcome"], registry=registry)
        self.generation_seconds = Histogram(
            "shakespeare_generation_seconds", "From a request entering the engine to its text.",
            ["model"], buckets=GENERATION_BUCKETS, registry=registry)
        self.characters = Counter(
            "shakespeare_characters_written", "Characters the models generated (seeds not counted).",
            ["model"], registry=registry)
        waiting = Gauge("shakespeare_engine_waiting", "Requests queued in the engine, not yet in a batch.",
                        registry=registry)
        waiting.set_function(self._engine_waiting)
        self.loop_lag = Histogram(
            "shakespeare_event_loop_lag_seconds", "How late a 1 s sleep on the event loop woke up.",
            buckets=LAG_BUCKETS, registry=registry)
        self.database_seconds = Histogram(
            "shakespeare_database_check_seconds",
            "The settings database's health check (the heartbeat's, and each /readyz).",
            buckets=DATABASE_BUCKETS, registry=registry)
        self.database_errors = Counter(
            "shakespeare_database_errors", "Health checks of the settings database that failed.",
            registry=registry)
        self.database_operation_seconds = Histogram(
            "shakespeare_database_operation_seconds", "Calls to the settings store, by operation.",
            ["operation"], buckets=DATABASE_BUCKETS, registry=registry)
        self.database_operation_errors = Counter(
            "shakespeare_database_operation_errors", "Calls to the settings store that failed, by operation.",
            ["operation"], registry=registry)
        self.voice_jobs = Gauge("shakespeare_voice_jobs", "Server voice training jobs, by state.",
                                ["state"], registry=registry)
        registry.register(_GatewayCollector(bot))
        registry.register(_EngineCollector(bot))
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        self.last_lag = 0.0  # seconds, the latest probe's
        self.http_address: tuple[str, int] | None = None  # where http_status listens, once it does
        self._lag_probe: asyncio.Task | None = None

    # -- what the bot calls while it serves --

    def handling(self, interaction: discord.Interaction) -> None:
        """The current task now handles `interaction`: the lines it logs carry its id (bot/ops/logs.py)."""
        bind_interaction(interaction)

    def interaction_done(self, interaction: discord.Interaction,
                         result: BaseException | str | None = None) -> None:
        """Count one interaction by its command and outcome (see outcome_of); not autocomplete."""
        if interaction.type is discord.InteractionType.autocomplete:
            return
        self.interactions.labels(command_label(interaction), outcome_of(result)).inc()

    def time_generation(self, generation: asyncio.Future[str], engine_key: str) -> None:
        """Observe how long `generation` (the engine's future, just made) takes, once it has a text."""
        started = time.perf_counter()

        def finished(future: asyncio.Future[str]) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            model = self._model_label(engine_key)
            self.generation_seconds.labels(model).observe(time.perf_counter() - started)
            self.characters.labels(model).inc(len(future.result()))

        generation.add_done_callback(finished)

    async def check_database(self, store: SettingsStore) -> None:
        """store.check(), timed; an error is counted and raised."""
        started = time.perf_counter()
        try:
            await store.check()
        except BaseException as error:
            if not isinstance(error, asyncio.CancelledError):
                self.database_errors.inc()
            raise
        finally:
            self.database_seconds.observe(time.perf_counter() - started)

    # -- what a scrape reads --

    async def refresh(self) -> None:
        """Read what lives outside the process before a scrape: the voice jobs (the book's call,
        bounded by the book's own call_seconds)."""
        voices = getattr(self.bot, "voices", None)
        if voices is None:
            return
        try:
            counts = await voices.count_jobs()
        except Exception as error:  # a locked file, a database away: not counted
            log.debug("Voice jobs not counted: %s", error)
            return
        for state in sorted(set(JOB_STATES) | set(counts)):
            self.voice_jobs.labels(state).set(counts.get(state, 0))

    def _engine_waiting(self) -> float:
        return float(getattr(self.bot.engine, "waiting", 0) or 0)

    def _model_label(self, engine_key: str) -> str:
        engine = self.bot.engine
        return engine_key if engine is not None and engine_key in engine.model_names else "voice"

    # -- the event loop's lag --

    def start_lag_probe(self) -> None:
        if self._lag_probe is None:
            self._lag_probe = asyncio.create_task(self._probe_lag(), name="event-loop-lag")

    async def stop_lag_probe(self) -> None:
        if self._lag_probe is not None:
            self._lag_probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_probe
            self._lag_probe = None

    async def _probe_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            self.last_lag = max(0.0, loop.time() - started - LAG_PROBE_SECONDS)
            self.loop_lag.observe(self.last_lag)

