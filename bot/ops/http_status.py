"""One small HTTP server in the bot's process, when METRICS_PORT is set: metrics, liveness, readiness.

- `GET /metrics`: the bot's metrics in Prometheus's text format (bot/ops/metrics.py names them).
- `GET /healthz`: 200 while the process lives and its event loop turns (the answer itself proves
  it), with the loop's latest lag in the body.
- `GET /readyz`: 200 only while the gateway is connected on every shard, the bot takes
  interactions and the settings database answers; else 503 and one line saying why, in words
  that give nothing away ("not ready: database"; the database's own error goes to the log).

The server runs on the bot's own event loop (aiohttp, already a dependency), so a loop that is
stuck stops /healthz from answering, which is what a liveness probe should see. So that callers
cannot make the bot's own work wait: at most MAX_CONNECTIONS are open at once (more are closed at
once), each lives at most CONNECTION_SECONDS (a client that sends half a request and waits is cut
off), and the database is asked at most once every CACHE_SECONDS however often /readyz and /metrics
are called (the answers between reuse the last). The heartbeat file and `python -m bot healthcheck`
(the container's HEALTHCHECK) are unchanged beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.config import ConfigError

if TYPE_CHECKING:
    import discord

    from bot.config import BotConfig
    from bot.ops.metrics import BotMetrics
    from bot.storage.settings import SettingsStore

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
# A probe every few seconds and a scrape every 15-60 s need a handful of connections, each
# answered in milliseconds; these bounds only ever stop a client that holds connections open.
MAX_CONNECTIONS = 16
CONNECTION_SECONDS = 10.0
CACHE_SECONDS = 5.0  # readiness and job counts: how long one database answer serves


def connection_state(bot: ServedBot) -> str | None:
    """None while the bot is connected and taking interactions, else a few words saying why not
    (read from memory: cheap enough for every call)."""
    if bot.is_closed() or not bot.in_flight.accepting:
        return "the bot is stopping"
    if not bot.is_ready():
        return "not connected to Discord yet"
    closed = [str(shard_id) for shard_id, shard in sorted(bot.shards.items()) if shard.is_closed()]
    if closed:
        return f"the gateway connection of shard {', '.join(closed)} is closed"
    return None


async def database_state(bot: ServedBot) -> str | None:
    """None while the settings database answers, else "database": no internals (its own error,
    which may name hosts, paths and databases, goes to the log)."""
    try:
        await asyncio.wait_for(bot.metrics.check_database(bot.store), READY_DATABASE_TIMEOUT)
    except asyncio.TimeoutError:
        log.warning("Not ready: the settings database did not answer within %.0f s.", READY_DATABASE_TIMEOUT)
        return "database"
    except Exception as error:  # SettingsStoreError, or anything else: never a 500 here
        log.warning("Not ready: the settings database does not answer: %s", error)
        return "database"
    return None


class _Cached:
    """One awaited answer, reused for `seconds`; callers meanwhile share the call in flight."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = -float("inf")
        self._value: object = None
        self._pending: asyncio.Future | None = None

    async def get(self, compute: Callable[[], Awaitable[object]]) -> object:
        if time.monotonic() - self._at < self.seconds:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(compute())
            self._pending.add_done_callback(self._settle)
        return await asyncio.shield(self._pending)

    def _settle(self, pending: asyncio.Future) -> None:
        self._pending = None
        if not pending.cancelled() and pending.exception() is None:
            self._value, self._at = pending.result(), time.monotonic()


class _Bounded(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted against MAX_CONNECTIONS and cut after its
    CONNECTION_SECONDS (aiohttp itself has no timeout for reading a request)."""

    def __init__(self, server: StatusServer, inner: asyncio.Protocol) -> None:
        self.server, self.inner = server, inner
        self._deadline: asyncio.TimerHandle | None = None
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.server.open_connections >= self.server.max_connections:
            transport.abort()
            return
        self._counted = True
        self.server.open_connections += 1
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.server.connection_seconds, transport.abort)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return
        self.server.open_connections -= 1
        if self._deadline is not None:
            self._deadline.cancel()
        self.inner.connection_lost(exc)


class StatusServer:
    def __init__(self, bot: ServedBot, host: str, port: int, *,
                 max_connections: int = MAX_CONNECTIONS, connection_seconds: float = CONNECTION_SECONDS,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.bot, self.host, self.port = bot, host, port
        self.max_connections, self.connection_seconds = max_connections, connection_seconds
        self.open_connections = 0
        self._ready = _Cached(cache_seconds)  # the database's answer to /readyz
        self._counts = _Cached(cache_seconds)  # the job counts /metrics reads from the database
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               keepalive_timeout=self.connection_seconds)
        await runner.setup()
        handler = runner.server
        assert handler is not None
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _Bounded(self, handler()), self.host, self.port)
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(f"Cannot serve metrics on METRICS_HOST={self.host} METRICS_PORT={self.port} "
                              f"({error.strerror or error}); choose a free port.") from None
        self._runner = runner
        self.port = self._listener.sockets[0].getsockname()[1]  # the port chosen, when 0 asked for any

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._counts.get(self.bot.metrics.refresh)
        return web.Response(body=generate_latest(self.bot.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        lag = self.bot.metrics.last_lag
        return web.Response(text=f"alive; event loop lag {lag * 1000:.1f} ms\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        reason = connection_state(self.bot) or await self._ready.get(lambda: database_state(self.bot))
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
