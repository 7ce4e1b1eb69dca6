"""Interactions in flight, and stopping cleanly on SIGTERM or SIGINT (what `docker stop` sends).

discord.py's `Client.run` handles only KeyboardInterrupt, and `close()` drops whatever commands are
running. Stopping here goes: refuse new interactions politely, wait a bounded time for the ones
in flight to send their replies, cancel what is left, then close the gateway, engine and database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


class InFlight:
    """The tasks running commands right now, and whether new ones are accepted."""

    def __init__(self) -> None:
        self.accepting = True
        self._tasks: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> int:
        """Stop accepting, wait up to `timeout` s for running commands; returns how many were cut."""
        self.accepting = False
        pending = {task for task in self._tasks if not task.done()}
        if pending:
            log.info("Waiting up to %.0f s for %d command(s) in flight.", timeout, len(pending))
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("Cancelled %d command(s) still running after %.0f s.", len(pending), timeout)
            await asyncio.wait(pending)
        return len(pending)


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Set `stop` on SIGTERM or SIGINT; returns the function that restores the old handlers."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def on_signal(received: signal.Signals) -> None:
        if stop.is_set():
            log.info("Received %s; already stopping.", received.name)
        else:
            log.info("Received %s; stopping.", received.name)
            stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(number, on_signal, number)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            continue
        installed.append(number)

    def restore() -> None:
        for number in installed:
            loop.remove_signal_handler(number)

    return restore
