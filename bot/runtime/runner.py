"""Starting and stopping the bot (and `python -m bot sync`), importable so the self-test and tests
can run it in process.

    exit_code = await run_bot(BotConfig.from_env())          # serves until SIGTERM/SIGINT
    exit_code = await run_bot(config, stop=event, handle_signals=False)   # until event is set

Known failures (no token, a token Discord rejects, no checkpoints, an unusable database) are
logged as one sentence and give exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import aiohttp
import discord
import yarl
from discord import app_commands

from bot import storage
from bot.commands import add_commands
from bot.commands.translator import BotTranslator
from bot.config import EXIT_CONFIG, BotConfig, ConfigError
from bot.errors import SettingsStoreError
from bot.ops.http_status import serving as serving_status
from bot.runtime.client import ShakespeareBot
from bot.runtime.lifecycle import install_stop_signals
from bot.runtime.sync import sync_commands
from bot.storage.settings import SettingsStore
from charlm.engine import EngineError, GenerationEngine
from charlm.errors import CharLMError

log = logging.getLogger(__name__)

EXIT_OK = 0
TOKEN_REJECTED = ("Discord rejected DISCORD_TOKEN; copy the token again from the developer portal's Bot "
                  "page (or check DISCORD_API_BASE) and restart.")


class StartupError(Exception):
    """The bot cannot start as configured; one sentence for the operator."""


def _unreachable(error: Exception) -> str:
    return (f"Cannot reach Discord at {discord.http.Route.BASE} ({error}); "
            "check the network and DISCORD_API_BASE.")


@contextlib.contextmanager
def discord_endpoints(config: BotConfig) -> Iterator[None]:
    """Point discord.py at DISCORD_API_BASE / DISCORD_GATEWAY_URL for as long as the bot runs.

    Both are class attributes read at request and connect time (Route.BASE must be set before
    login); they are restored afterwards so a test or self-test leaves the process as it was.
    """
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    if config.api_base is not None:
        discord.http.Route.BASE = config.api_base
    if config.gateway_url is not None:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


async def open_engine(config: BotConfig) -> GenerationEngine:
    try:
        # Loading reads every checkpoint from disk: keep it off the event loop.
        return await asyncio.to_thread(
            GenerationEngine.from_directory, config.checkpoint_dir, device=config.device)
    except (EngineError, CharLMError, OSError) as error:
        raise StartupError(
            f"Cannot load the models from CHECKPOINT_DIR={config.checkpoint_dir}: {error}"
        ) from None


async def open_store(config: BotConfig) -> SettingsStore:
    """bot.storage's `open_store` (SQLite at BOT_DB_PATH, or PostgreSQL when DATABASE_URL is set),
    its refusal a StartupError."""
    try:
        return await storage.open_store(config)
    except SettingsStoreError as error:
        raise StartupError(str(error)) from None


async def run_bot(config: BotConfig, *, stop: asyncio.Event | None = None,
                  handle_signals: bool = True) -> int:
    """Serve until `stop` is set or SIGTERM/SIGINT arrives; returns the process exit code."""
    try:
        token = config.require_token()
        with discord_endpoints(config):
            await _serve(config, token, stop or asyncio.Event(), handle_signals)
    except (StartupError, ConfigError) as error:
        log.error("%s", error)
        return EXIT_CONFIG
    return EXIT_OK


async def _serve(config: BotConfig, token: str, stop: asyncio.Event, handle_signals: bool) -> None:
    store = await open_store(config)
    restore_signals = install_stop_signals(stop) if handle_signals else None
    try:
        engine = await open_engine(config)
        try:
            log.info("Loaded models: %s.", ", ".join(engine.model_names))
            async with ShakespeareBot(config, engine=engine, store=store) as bot:
                await serve(bot, token, stop)
        finally:
            await engine.aclose()
    finally:
        if restore_signals is not None:
            restore_signals()
        await store.close()
    log.info("Stopped cleanly.")


async def serve(bot: ShakespeareBot, token: str, stop: asyncio.Event) -> None:
    """Log in, connect and serve until `stop` is set, then drain and close; the caller owns the
    engine and store. Raises StartupError when Discord rejects the token. With METRICS_PORT, the
    HTTP server of /metrics, /healthz and /readyz (bot/ops/http_status.py) runs for as long."""
    async with serving_status(bot):
        await _serve_discord(bot, token, stop)


async def _serve_discord(bot: ShakespeareBot, token: str, stop: asyncio.Event) -> None:
    running = asyncio.create_task(bot.start(token), name="discord-client")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if stopping in done:
        await bot.shutdown()
    try:
        with login_errors():
            await running
    except StartupError:
        raise
    except Exception as error:
        if not stop.is_set():
            raise
        # Stopped while still logging in: closing the session ends the login with some error.
        log.debug("Start-up interrupted by the stop: %r", error)


async def sync_command_set(config: BotConfig, guild_id: int | None) -> int:
    """`python -m bot sync [--guild ID]`: write the commands to Discord now, whatever the stored hash."""
    try:
        token = config.require_token()
        with discord_endpoints(config):
            store = await open_store(config)
            try:
                # A bare client: syncing needs the command definitions, not the models or a gateway.
                async with discord.Client(intents=discord.Intents.none()) as client:
                    tree = app_commands.CommandTree(client)
                    add_commands(tree)
                    await tree.set_translator(BotTranslator())  # the same set the bot syncs
                    with login_errors():
                        await client.login(token)
                    await sync_commands(tree, store, guild_id, force=True)
            finally:
                await store.close()
    except (StartupError, ConfigError) as error:
        log.error("%s", error)
        return EXIT_CONFIG
    except discord.HTTPException as error:  # 403 without applications.commands, 429, 5xx...
        log.error("Discord refused the command sync (HTTP %s): %s", error.status,
                  error.text or "no details given")
        return EXIT_CONFIG
    return EXIT_OK


@contextlib.contextmanager
def login_errors() -> Iterator[None]:
    """Turn the ways logging in fails into one StartupError sentence each."""
    try:
        yield
    except discord.LoginFailure:
        raise StartupError(TOKEN_REJECTED) from None
    except aiohttp.ClientConnectionError as error:
        # Logging in is one request with no retry (the gateway, later, reconnects by itself).
        raise StartupError(_unreachable(error)) from None
