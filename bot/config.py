"""The bot's configuration, read from the environment and checked before anything starts.

Every refusal is a ConfigError carrying one sentence, which `python -m bot` prints before exiting
with status 2. ENVIRONMENT is the single list of variables; `python -m bot --help` prints it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yarl

# (name, default shown in --help, what it does)
ENVIRONMENT: tuple[tuple[str, str, str], ...] = (
    ("DISCORD_TOKEN", "(none)", "the bot token from the Discord developer portal; needed to run and sync"),
    ("DISCORD_API_BASE", "https://discord.com/api/v10",
     "Discord's REST base URL (a proxy, or the local emulator)"),
    ("DISCORD_GATEWAY_URL", "(asked of Discord)",
     "the gateway's websocket URL; with it and no SHARD_COUNT, one shard"),
    ("BOT_DB_PATH", "./data/bot.sqlite3", "the SQLite file of per-server settings (/data/... in Docker)"),
    ("DATABASE_URL", "(none: SQLite)",
     "postgresql://user:password@host/db: settings, replies and voices in PostgreSQL"),
    ("BOT_HEARTBEAT_PATH", "<BOT_DB_PATH>.heartbeat",
     "touched every 15 s while serving; `healthcheck` reads it"),
    ("CHECKPOINT_DIR", "./checkpoints", "folder of <model>.safetensors files; each is a model, by file name"),
    ("DEVICE", "auto", "where models run: auto, cpu, cuda, cuda:N or mps"),
    ("DEV_GUILD_ID", "(none)", "sync commands to this one server at start, where they appear at once"),
    ("SHARD_COUNT", "(Discord's advice)", "the total number of shards across all processes"),
    ("SHARD_IDS", "(all)", "comma-separated shards this process runs, e.g. 0,1; needs SHARD_COUNT"),
    ("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ("DISCORD_CDN_URL", "https://cdn.discordapp.com",
     "the only host uploaded files are fetched from"),
    ("VOICES_DIR", "<BOT_DB_PATH folder>/voices", "server voices and uploaded texts (PostgreSQL: a cache)"),
    ("VOICE_TRAINER", "local",
     "local: the bot starts the trainer process; off: a `trainer` runs elsewhere"),
    ("VOICE_TRAIN_SECONDS", "300", "how long one voice trains"),
    ("VOICE_TRAIN_THREADS", "2", "CPU threads the trainer uses (at the lowest priority)"),
    ("VOICE_CACHE_MB", "500", "memory for loaded voices; the least recently used are dropped past it"),
    ("VOICE_DISK_MB", "1000", "PostgreSQL: disk for voices' copies in VOICES_DIR; least recently used go"),
    ("METRICS_PORT", "(off)", "serve /metrics, /healthz and /readyz over HTTP on this port"),
    ("METRICS_HOST", "0.0.0.0", "the address that server listens on"),
    ("LOG_FORMAT", "text", "text, or json: each log line one JSON object"),
)



def environment_table() -> str:
    """ENVIRONMENT as the Markdown table README shows (a test keeps README's copy equal to this)."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    rows += [f"| `{name}` | `{default}` | {meaning.replace('<', '&lt;')} |"
             for name, default, meaning in ENVIRONMENT]
    return "\n".join(rows)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses with a traceback.
_DIGITS = re.compile(r"[0-9]+")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_POSTGRES_URL = re.compile(r"postgres(ql)?://", re.IGNORECASE)
# The exit code for configuration the operator must fix (argparse uses it for bad usage too).
EXIT_CONFIG = 2
# How long a stopping bot waits for replies in flight; below `docker stop`'s default 10 s grace.
DEFAULT_DRAIN_SECONDS = 8.0


class ConfigError(Exception):
    """A setting that cannot work; the message is one sentence naming the variable."""


@dataclass(frozen=True)
class BotConfig:
    token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log line
    api_base: str | None = None
    gateway_url: str | None = None
    db_path: Path = Path("data/bot.sqlite3")
    # None: settings in SQLite at db_path. Kept out of repr: it may hold a password.
    database_url: str | None = field(default=None, repr=False)
    heartbeat_path: Path | None = None
    checkpoint_dir: Path = Path("checkpoints")
    device: str = "auto"
    dev_guild_id: int | None = None
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    log_level: str = "INFO"
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    cdn_url: str = "https://cdn.discordapp.com"
    voices_dir: Path | None = None
    voice_trainer: str = "local"
    voice_train_seconds: float = 300.0
    voice_train_threads: int = 2
    voice_cache_mb: int = 500
    voice_disk_mb: int = 1000
    metrics_port: int | None = None  # None: no HTTP server; 0: any free port (tests)
    metrics_host: str = "0.0.0.0"
    log_format: str = "text"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BotConfig:
        env = {name: value.strip() for name, value in (os.environ if environ is None else environ).items()}

        def get(name: str) -> str | None:
            return env.get(name) or None

        shard_count = _positive_int("SHARD_COUNT", get("SHARD_COUNT"))
        shard_ids = _shard_ids(get("SHARD_IDS"), shard_count)
        log_level = (get("LOG_LEVEL") or "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}.")
        device = get("DEVICE") or "auto"
        if not _DEVICE.fullmatch(device):
            raise ConfigError("DEVICE must be auto, cpu, cuda, cuda:N or mps.")
        db_path = Path(get("BOT_DB_PATH") or cls.db_path)
        database_url = get("DATABASE_URL")
        if database_url is not None and not _POSTGRES_URL.match(database_url):
            # Not echoed: it may hold a password.
            raise ConfigError("DATABASE_URL must be a postgresql:// URL such as "
                              "postgresql://user:password@host:5432/shakespeare.")
        heartbeat = get("BOT_HEARTBEAT_PATH")
        voices = get("VOICES_DIR")
        trainer = (get("VOICE_TRAINER") or "local").lower()
        if trainer not in ("local", "off"):
            raise ConfigError("VOICE_TRAINER must be local or off.")
        seconds = _positive_int("VOICE_TRAIN_SECONDS", get("VOICE_TRAIN_SECONDS"))
        metrics_port, metrics_host = _metrics_port(get("METRICS_PORT")), get("METRICS_HOST")
        if metrics_host is not None and metrics_port is None:
            raise ConfigError("METRICS_HOST needs METRICS_PORT, the port to serve metrics on, to be set too.")
        log_format = (get("LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise ConfigError("LOG_FORMAT must be text or json.")
        return cls(
            token=get("DISCORD_TOKEN"),
            # Route.BASE has no trailing slash: routes are appended as "/users/@me".
            api_base=_url("DISCORD_API_BASE", get("DISCORD_API_BASE"), ("http", "https"), strip_slash=True),
            gateway_url=_url("DISCORD_GATEWAY_URL", get("DISCORD_GATEWAY_URL"), ("ws", "wss")),
            db_path=db_path,
            database_url=database_url,
            heartbeat_path=Path(heartbeat) if heartbeat else None,
            checkpoint_dir=Path(get("CHECKPOINT_DIR") or cls.checkpoint_dir),
            device=device,
            dev_guild_id=_positive_int("DEV_GUILD_ID", get("DEV_GUILD_ID")),
            shard_count=shard_count,
            shard_ids=shard_ids,
            log_level=log_level,
            cdn_url=_url("DISCORD_CDN_URL", get("DISCORD_CDN_URL"), ("http", "https"), strip_slash=True)
            or cls.cdn_url,
            voices_dir=Path(voices) if voices else None,
            voice_trainer=trainer,
            voice_train_seconds=float(seconds) if seconds else cls.voice_train_seconds,
            voice_train_threads=_positive_int("VOICE_TRAIN_THREADS", get("VOICE_TRAIN_THREADS"))
            or cls.voice_train_threads,
            voice_cache_mb=_positive_int("VOICE_CACHE_MB", get("VOICE_CACHE_MB")) or cls.voice_cache_mb,
            voice_disk_mb=_positive_int("VOICE_DISK_MB", get("VOICE_DISK_MB")) or cls.voice_disk_mb,
            metrics_port=metrics_port,
            metrics_host=metrics_host or cls.metrics_host,
            log_format=log_format,
        )

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "DISCORD_TOKEN is not set; put the bot's token from the Discord developer portal in "
                "the environment, or run `python -m bot --local` to play offline."
            )
        return self.token

    @property
    def voices_folder(self) -> Path:
        return self.voices_dir if self.voices_dir is not None else self.db_path.with_name("voices")

    @property
    def log_level_number(self) -> int:
        return logging.getLevelName(self.log_level)

    @property
    def heartbeat_file(self) -> Path:
        """Where this process's heartbeat goes; shard processes sharing /data each get their own."""
        if self.heartbeat_path is not None:
            return self.heartbeat_path
        shards = "" if self.shard_ids is None else ".shards-" + "-".join(map(str, self.shard_ids))
        return self.db_path.with_name(f"{self.db_path.name}{shards}.heartbeat")

    @property
    def effective_shard_count(self) -> int | None:
        # discord.py asks Discord's /gateway/bot for a shard count *and* a gateway URL when no count
        # is given, which would ignore DISCORD_GATEWAY_URL; a chosen gateway therefore means one
        # shard unless SHARD_COUNT says more.
        if self.shard_count is None and self.gateway_url is not None:
            return 1
        return self.shard_count


def _positive_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or int(raw) < 1:
        raise ConfigError(f"{name} must be a whole number above 0, not {raw[:40]!r}.")
    return int(raw)


def _metrics_port(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or not 0 < int(raw) < 65536:
        raise ConfigError(f"METRICS_PORT must be a port number from 1 to 65535, not {raw[:40]!r}.")
    return int(raw)


def _shard_ids(raw: str | None, shard_count: int | None) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if shard_count is None:
        raise ConfigError("SHARD_IDS needs SHARD_COUNT, the total number of shards, to be set too.")
    parts = [part.strip() for part in raw.split(",")]
    if not all(_DIGITS.fullmatch(part) for part in parts):
        raise ConfigError(f"SHARD_IDS must be comma-separated whole numbers such as 0,1, not {raw[:40]!r}.")
    ids = tuple(int(part) for part in parts)
    if len(set(ids)) != len(ids) or max(ids) >= shard_count:
        raise ConfigError(
            f"SHARD_IDS must name different shards from 0 to {shard_count - 1} "
            f"(SHARD_COUNT is {shard_count})."
        )
    return ids


def _url(name: str, raw: str | None, schemes: tuple[str, ...], strip_slash: bool = False) -> str | None:
    if raw is None:
        return None
    try:
        url = yarl.URL(raw)
    except ValueError:
        url = None
    if url is None or url.scheme not in schemes or not url.host:
        raise ConfigError(f"{name} must be a {' or '.join(schemes)} URL such as {schemes[-1]}://host/...")
    return raw.rstrip("/") if strip_slash else raw
