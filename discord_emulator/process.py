"""A bot as a child process pointed at the emulator: start, wait until ready, stop or kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from .server import Emulator


class BotExited(RuntimeError):
    """The bot process ended while it was expected to serve; the message ends with its log."""


class BotProcess:
    """Any bot's command line, run with the emulator's address and token added to `env` (the
    variables of `Emulator.bot_env`, which the bot must read); its output goes to `log_path`."""

    def __init__(self, emulator: Emulator, command: Sequence[str], env: Mapping[str, str],
                 log_path: Path) -> None:
        self.emulator = emulator
        self.command = list(command)
        self.env = {**env, **emulator.bot_env()}
        self.log_path = log_path
        self._process: asyncio.subprocess.Process | None = None
        self._identifies_before = 0

    async def start(self) -> None:
        self._identifies_before = self.emulator.gateway.identifies
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Its own session: a Ctrl+C at the playground's prompt reaches the playground, which
            # then stops the bot in order, instead of interrupting both at once.
            self._process = await asyncio.create_subprocess_exec(
                *self.command, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def wait_ready(self, timeout: float) -> None:
        """Until this process has connected (and commands exist), or fail early if it exits."""
        assert self._process is not None
        ready = asyncio.ensure_future(
            self.emulator.wait_until_ready(timeout, identifies=self._identifies_before + 1)
        )
        exited = asyncio.ensure_future(self._process.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise BotExited(f"the bot exited with status {self.returncode}:\n{self.log_tail()}")
        exited.cancel()
        ready.result()

    async def wait_identified(self, timeout: float) -> None:
        """Until the gateway accepted this process's IDENTIFY (one more than before it started).

        Start the shard processes of one bot this way, one after another: Discord takes one
        IDENTIFY per max_concurrency bucket per 5 s, and a process refused with INVALID_SESSION
        waits 5 s more before it tries again."""
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.emulator.gateway.identifies <= self._identifies_before:
            if self._process.returncode is not None:
                raise BotExited(f"the bot exited with status {self.returncode}:\n{self.log_tail()}")
            if loop.time() > deadline:
                raise TimeoutError(f"the bot did not IDENTIFY within {timeout:g} s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def stop(self, grace: float = 15.0) -> int:
        """SIGTERM, as `docker stop` sends; SIGKILL if it has not finished after `grace` s."""
        process = self._process
        if process is None or process.returncode is not None:
            return self.returncode or 0
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except asyncio.TimeoutError:
            await self.kill()
            return process.returncode or -signal.SIGKILL

    async def kill(self) -> None:
        """kill -9: no handler runs, nothing is flushed."""
        process = self._process
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
