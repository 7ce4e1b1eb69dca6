"""Interactions in flight, and stopping cleanly on SIGTERM or SIGINT (what `docker stop` sends).

discord.py's `Client.run` handles only KeyboardInterrupt, and `close()` drops whatever commands are
running. Stopping here goes: refuse new interactions politely, wait a bounded time for the ones
in flight to send their replies, cancel what is left and tell those users the bot is restarting
(a public "thinking..." would otherwise stay on screen until Discord gives up on it), then close
the gateway, engine and database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# How long telling the users of cancelled commands may take: with the 8 s drain it stays inside
# Docker's default 10 s between SIGTERM and SIGKILL (one follow-up is a single HTTP request).
TELL_SECONDS = 1.5


class InFlight:
    """The tasks running commands right now, and whether new ones are accepted."""

    def __init__(self) -> None:
        self.accepting = True
        # Each task with what tells its user, should the task be cut.
        self._tasks: dict[asyncio.Task, Callable[[], Awaitable[None]] | None] = {}

    def __len__(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def track(self, task: asyncio.Task, tell_cut: Callable[[], Awaitable[None]] | None = None) -> None:
        self._tasks[task] = tell_cut
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def drain(self, timeout: float) -> int:
        """Stop accepting, wait up to `timeout` s for running commands; returns how many were cut."""
        self.accepting = False
        tell = dict(self._tasks)  # finished tasks leave self._tasks, and with them what tells
        pending = {task for task in tell if not task.done()}
        if pending:
            log.info("Waiting up to %.0f s for %d command(s) in flight.", timeout, len(pending))
            _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("Cancelled %d command(s) still running after %.0f s.", len(pending), timeout)
            await asyncio.wait(pending)
            tellers = [teller() for task in pending if (teller := tell[task]) is not None]
            if tellers:
                await self._tell(tellers)
        return len(pending)

    @staticmethod
    async def _tell(tellers: list[Awaitable[None]]) -> None:
        tasks = [asyncio.ensure_future(teller) for teller in tellers]
        done, late = await asyncio.wait(tasks, timeout=TELL_SECONDS)
        for task in late:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.warning("Could not tell a user their command was cut: %r", task.exception())
        if late:
            log.warning("Gave up telling %d user(s) their command was cut after %.0f s.",
                        len(late), TELL_SECONDS)


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
