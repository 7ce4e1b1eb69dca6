"""The rows the bot keeps and their limits: settings (a server's, a person's own), and the store's
protocol the commands use, whichever database is under it.

Red-DiscordBot's rule: defaults live here and are merged on read, never written, so changing a
default in code reaches every server that did not choose otherwise. A row holds NULL for every
setting the admin left alone; `/settings reset` deletes the row. `SettingsStore` is the protocol;
bot/storage/sqlite_store.py and bot/storage/postgres_store.py implement it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, get_args

from bot.errors import SettingsError
from bot.i18n import Phrase
from bot.names import VOICE_PREFIX
from bot.storage.replies import ReplyRecord
from charlm.sampling import DEFAULT_LENGTH, DEFAULT_TEMPERATURE

# The ranges an admin (and a /shakespeare option) may choose. The command options' Range
# annotations use these constants; the schema's CHECK constraints repeat the numbers, because a
# migration, once shipped, must not change when a constant does (tests check they agree).
MIN_TEMPERATURE = 0.1
MAX_TEMPERATURE = 2.0
MIN_LENGTH = 1
MAX_LENGTH = 1500
# One /shakespeare may ask for more than a server's default: past one message, the whole text comes
# as a file (bot/commands/replies.py). The engine's own limit, charlm.engine.MAX_GENERATE_LENGTH.
MAX_REQUEST_LENGTH = 10_000
MAX_MODEL_NAME_LENGTH = 32

SettingName = Literal["temperature", "length", "model"]
SETTING_NAMES: tuple[SettingName, ...] = get_args(SettingName)


@dataclass(frozen=True)
class GuildSettings:
    """The settings /shakespeare generates with: a server's, or a person's own where the server's
    do not apply (DMs, group DMs, servers that only their own install of the bot reaches)."""

    temperature: float = DEFAULT_TEMPERATURE
    length: int = DEFAULT_LENGTH
    model: str = "lstm"
    # The settings an admin chose; the others are the defaults above.
    changed: frozenset[str] = field(default=frozenset(), compare=False)


DEFAULT_SETTINGS = GuildSettings()


def check_temperature(value: object) -> float:
    """The value as a float, or SettingsError; also refuses what a forged interaction can carry."""
    # A range check by comparison: false for NaN and infinities, and no OverflowError for 10**400.
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        return float(value)
    raise SettingsError(Phrase("Temperature must be a number from {low} to {high}.", low=MIN_TEMPERATURE,
                               high=MAX_TEMPERATURE))


def check_length(value: object, most: int = MAX_LENGTH) -> int:
    """A setting's length (at most MAX_LENGTH), or one request's (`most`=MAX_REQUEST_LENGTH)."""
    # A float such as 300.0 is refused too: Discord sends integers for an integer option.
    if isinstance(value, int) and not isinstance(value, bool) and MIN_LENGTH <= value <= most:
        return value
    raise SettingsError(Phrase("Length must be a whole number from {low} to {high}.", low=MIN_LENGTH,
                               high=most))


def check_model_name(value: object) -> str:
    """A plausible model name, or a server voice's ("voice:lore"); whether that model is loaded, or
    the voice exists, is the caller's question."""
    name = value.removeprefix(VOICE_PREFIX) if isinstance(value, str) else None
    if (name and isinstance(value, str) and len(value) <= MAX_MODEL_NAME_LENGTH
            and name.replace("-", "").replace("_", "").isalnum() and name.isascii()):
        return value
    raise SettingsError(Phrase("Model must be the name of one of the bot's models, such as lstm."))


_CHECKS = {"temperature": check_temperature, "length": check_length, "model": check_model_name}


def check_setting(name: str, value: object) -> float | int | str:
    if name not in _CHECKS:
        raise SettingsError(Phrase("There is no setting called {name}.", name=repr(name[:40])))
    return _CHECKS[name](value)


class SettingsStore(Protocol):
    """What the bot needs from settings storage; every method is safe to call concurrently."""

    async def get(self, guild_id: int) -> GuildSettings:
        """The guild's settings, defaults merged with what its admins changed."""

    async def set_value(self, guild_id: int, name: SettingName, value: object) -> GuildSettings:
        """Check and store one setting durably, then return the guild's new settings."""

    async def reset(self, guild_id: int) -> None:
        """Forget every change the guild's admins made."""

    async def get_user(self, user_id: int) -> GuildSettings:
        """A person's own defaults, used where no server's settings apply."""

    async def set_user_value(self, user_id: int, name: SettingName, value: object) -> GuildSettings:
        """Check and store one of a person's own defaults durably; return their new settings."""

    async def reset_user(self, user_id: int) -> None:
        """Forget every default the person chose."""

    async def get_state(self, key: str) -> str | None:
        """A bot-wide value, such as the hash of the last command set synced to Discord."""

    async def set_state(self, key: str, value: str) -> None: ...

    async def save_reply(self, reply: ReplyRecord) -> None:
        """Store durably what the buttons under a reply need; old and surplus replies go."""

    async def get_reply(self, key: str) -> ReplyRecord | None:
        """The reply stored under `key`, or None when there is none (never was, or expired)."""

    async def update_reply(self, key: str, *, body: str, prompt: str) -> None:
        """Record that the message was extended: what it shows now and the text so far."""

    async def check(self) -> None:
        """Raise SettingsStoreError unless the store can be read now (used by the heartbeat)."""

    async def close(self) -> None: ...


# Whose settings: a server's (its admins choose) or a person's own; table and key column of each.
Scope = Literal["guild", "user"]
SCOPES: dict[str, tuple[str, str]] = {"guild": ("guild_settings", "guild_id"),
                                      "user": ("user_settings", "user_id")}

# Several bot processes (shards) may share one file: a writer waits this long for another's lock.
BUSY_TIMEOUT_MS = 10_000


class ScopedSettings:
    """The protocol's settings methods, for a store that implements them once per scope: a
    server's (`guild_settings`) and a person's own (`user_settings`), through _read, _write, _delete."""

    async def _read(self, scope: Scope, owner: int) -> GuildSettings:
        raise NotImplementedError

    async def _write(self, scope: Scope, owner: int, name: SettingName, value: object) -> GuildSettings:
        raise NotImplementedError

    async def _delete(self, scope: Scope, owner: int) -> None:
        raise NotImplementedError

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._read("guild", guild_id)

    async def set_value(self, guild_id: int, name: SettingName, value: object) -> GuildSettings:
        return await self._write("guild", guild_id, name, value)

    async def reset(self, guild_id: int) -> None:
        await self._delete("guild", guild_id)

    async def get_user(self, user_id: int) -> GuildSettings:
        return await self._read("user", user_id)

    async def set_user_value(self, user_id: int, name: SettingName, value: object) -> GuildSettings:
        return await self._write("user", user_id, name, value)

    async def reset_user(self, user_id: int) -> None:
        await self._delete("user", user_id)


def merge_row(row: tuple | None) -> GuildSettings:
    if row is None:
        return DEFAULT_SETTINGS
    stored = {name: value for name, value in zip(SETTING_NAMES, row, strict=True) if value is not None}
    return replace(DEFAULT_SETTINGS, **stored, changed=frozenset(stored))
