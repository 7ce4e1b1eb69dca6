"""Helpers for the tests that read the status server over HTTP: scrape /metrics with
prometheus_client's own parser, wait for /readyz."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

METRICS = {"metrics_port": 0, "metrics_host": "127.0.0.1"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def get(run, path: str) -> tuple[int, str]:
    host, port = run.bot.metrics.http_address
    async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}{path}") as response:
        return response.status, await response.text()


async def scrape(run) -> Samples:
    status, text = await get(run, "/metrics")
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20) -> Any:
    """Until check() gives something true; what it gave. The counts of a command move in a task
    of discord.py's own just after its reply, so a test asks again instead of sleeping."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return result


async def ready(run) -> None:
    """Until /readyz says ready: discord.py calls itself ready once the servers have stopped
    arriving for 2 s after connecting (its guild_ready_timeout)."""
    async def answer() -> bool:
        return await get(run, "/readyz") == (200, "ready\n")

    await until(answer)
