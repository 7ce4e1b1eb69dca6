"""Where the bot draws pictures (charlm.explain): one thread of their own, never the event loop.

Drawing is CPU work of tens to a few hundred milliseconds (reading a text through a model, then
Pillow or matplotlib). It runs on one worker thread with one torch intra-op thread, so a Why? press
or a voice's progress picture neither stalls the event loop nor takes the engine's cores from
generation (the engine's worker keeps its own thread count: torch's is per thread). Pictures queue
behind each other on that thread, which bounds what they can cost at once.

A picture that cannot be drawn is one sentence for the user; the first such failure of each kind is
logged with its traceback, later ones at debug level ("logged once"), so a broken font or a bad
checkpoint does not flood the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


class PictureWorker:
    """One thread that draws the bot's pictures; `draw` runs a function there and awaits it."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="pictures", initializer=_one_torch_thread)
        self._failures_logged: set[str] = set()

    async def draw(self, function: Callable[..., T], /, *args: object, **options: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args, **options))

    def failed(self, what: str, error: BaseException) -> None:
        """Log a picture that could not be drawn: the first failure of `what` with its traceback."""
        kind = f"{what}:{type(error).__name__}"
        if kind in self._failures_logged:
            log.debug("The %s picture failed again: %s", what, error)
            return
        self._failures_logged.add(kind)
        log.error("The %s picture could not be drawn (logged once per kind)", what, exc_info=error)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
