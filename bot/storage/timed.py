"""TimedStore: a settings store whose calls are timed and whose database failures are counted.

The bot wraps whichever store it opened (bot/storage/__init__.py `open_store`) in one, so every
database's calls land in the same two Prometheus families (bot/metrics.py declares them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from bot.errors import SettingsError
from bot.storage.settings import SettingsStore


class OperationMetrics(Protocol):
    """The two labelled families TimedStore feeds (BotMetrics has them)."""

    database_operation_seconds: Any
    database_operation_errors: Any


# The settings store's calls that TimedStore times: the protocol's, but check (timed as the health
# check) and close.
TIMED_OPERATIONS = frozenset({"get", "set_value", "reset", "get_user", "set_user_value", "reset_user",
                              "get_state", "set_state", "save_reply", "get_reply", "update_reply"})


class TimedStore:
    """A settings store whose calls are timed and whose database failures are counted, by
    operation; everything else passes through to the store it wraps."""

    def __init__(self, store: SettingsStore, metrics: OperationMetrics) -> None:
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str):
        attribute = getattr(self._store, name)
        if name not in TIMED_OPERATIONS:
            return attribute
        seconds = self._metrics.database_operation_seconds.labels(name)
        errors = self._metrics.database_operation_errors.labels(name)

        async def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            except (SettingsError, asyncio.CancelledError):  # the user's value, or nobody waiting
                raise
            except Exception:
                errors.inc()
                raise
            finally:
                seconds.observe(time.perf_counter() - started)

        setattr(self, name, timed)  # wrapped once: later lookups find it without __getattr__
        return timed
