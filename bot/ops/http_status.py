"""One small HTTP server in the bot's process, when METRICS_PORT is set: metrics, liveness, readiness.

- `GET /metrics`: the bot's metrics in Prometheus's text format (bot/ops/metrics.py names them).
- `GET /healthz`: 200 while the process lives and its event loop turns (the answer itself proves
  it), with the loop's latest lag in the body.
- `GET /readyz`: 200 only while the gateway is connected on every shard, the bot takes
  interactions and the settings database answers; else 503 and one line saying why.

The server runs on the bot's own event loop (aiohttp, already a dependency), so a loop that is
stuck stops /healthz from answering, which is what a liveness probe should see. The heartbeat
file and `python -m bot healthcheck` (the container's HEALTHCHECK) are unchanged beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.config import ConfigError

if TYPE_CHECKING:
    import discord

    from bot.config import BotConfig
    from bot.ops.metrics import BotMetrics
    from bot.store import SettingsStore

log = logging.getLogger(__name__)


class Accepting(Protocol):
    accepting: bool  # False once the bot is stopping


class ServedBot(Protocol):
    """What the status server reads of the bot it serves (bot/runtime/client.py's ShakespeareBot)."""

    config: BotConfig
    metrics: BotMetrics
    store: SettingsStore
    in_flight: Accepting
    shards: Mapping[int, discord.ShardInfo]

    def is_closed(self) -> bool: ...

    def is_ready(self) -> bool: ...


READY_DATABASE_TIMEOUT = 5.0  # seconds /readyz waits for the database before calling it unready


async def readiness(bot: ServedBot) -> str | None:
    """None when the bot is ready to serve, else one line saying why not."""
    if bot.is_closed() or not bot.in_flight.accepting:
        return "the bot is stopping"
    if not bot.is_ready():
        return "not connected to Discord yet"
    closed = [str(shard_id) for shard_id, shard in sorted(bot.shards.items()) if shard.is_closed()]
    if closed:
        return f"the gateway connection of shard {', '.join(closed)} is closed"
    try:
        await asyncio.wait_for(bot.metrics.check_database(bot.store), READY_DATABASE_TIMEOUT)
    except asyncio.TimeoutError:
        return f"the settings database did not answer within {READY_DATABASE_TIMEOUT:.0f} s"
    except Exception as error:  # SettingsStoreError, or anything else: never a 500 here
        return f"the settings database does not answer: {error}"
    return None


class StatusServer:
    def __init__(self, bot: ServedBot, host: str, port: int) -> None:
        self.bot, self.host, self.port = bot, host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(f"Cannot serve metrics on METRICS_HOST={self.host} METRICS_PORT={self.port} "
                              f"({error.strerror or error}); choose a free port.") from None
        self._runner = runner
        self.port = runner.addresses[0][1]  # the port chosen, when 0 asked for any

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.bot.metrics.refresh()
        return web.Response(body=generate_latest(self.bot.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        lag = self.bot.metrics.last_lag
        return web.Response(text=f"alive; event loop lag {lag * 1000:.1f} ms\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        reason = await readiness(self.bot)
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")


@contextlib.asynccontextmanager
async def serving(bot: ServedBot) -> AsyncIterator[StatusServer | None]:
    """The status server and the loop-lag probe for as long as the bot serves; nothing without
    METRICS_PORT. A port that cannot be used is a ConfigError (one sentence, exit code 2)."""
    port = bot.config.metrics_port
    if port is None:
        yield None
        return
    server = StatusServer(bot, bot.config.metrics_host, port)
    await server.start()
    bot.metrics.http_address = (server.host, server.port)
    bot.metrics.start_lag_probe()
    log.info("Serving /metrics, /healthz and /readyz on %s:%d.", server.host, server.port)
    try:
        yield server
    finally:
        await bot.metrics.stop_lag_probe()
        await server.stop()
        bot.metrics.http_address = None
