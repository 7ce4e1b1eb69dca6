"""Stopping: in-flight commands finish within the bound, signals set the stop event, heartbeats age."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

from bot.ops.health import check_heartbeat, remove_heartbeat, write_heartbeat
from bot.runtime.lifecycle import InFlight, install_stop_signals


async def test_drain_waits_for_commands_in_flight_and_refuses_new_ones():
    in_flight = InFlight()
    finished = []

    async def command():
        await asyncio.sleep(0.2)
        finished.append(True)

    in_flight.track(asyncio.create_task(command()))
    assert len(in_flight) == 1
    started = time.monotonic()
    assert await in_flight.drain(timeout=5) == 0
    assert finished == [True] and not in_flight.accepting
    assert time.monotonic() - started < 2
    assert len(in_flight) == 0


async def test_drain_cancels_what_outlives_the_bound_and_tells_only_those_users():
    in_flight = InFlight()
    told: list[str] = []

    async def tell(who: str) -> None:
        told.append(who)

    async def quick() -> None:
        await asyncio.sleep(0.01)

    stuck = asyncio.create_task(asyncio.sleep(60))
    in_flight.track(stuck, lambda: tell("stuck"))
    in_flight.track(asyncio.create_task(quick()), lambda: tell("quick"))
    in_flight.track(asyncio.create_task(asyncio.sleep(60)))  # nobody to tell
    started = time.monotonic()
    assert await in_flight.drain(timeout=0.2) == 2
    assert stuck.cancelled() and told == ["stuck"]
    assert time.monotonic() - started < 2


async def test_telling_a_cut_user_is_bounded_and_its_failure_only_logged(monkeypatch, caplog):
    monkeypatch.setattr("bot.runtime.lifecycle.TELL_SECONDS", 0.2)
    in_flight = InFlight()

    async def hangs() -> None:
        await asyncio.sleep(60)

    async def fails() -> None:
        raise OSError("Discord unreachable")

    in_flight.track(asyncio.create_task(asyncio.sleep(60)), hangs)
    in_flight.track(asyncio.create_task(asyncio.sleep(60)), fails)
    started = time.monotonic()
    assert await in_flight.drain(timeout=0.1) == 2
    assert time.monotonic() - started < 2
    assert "Discord unreachable" in caplog.text and "Gave up telling 1 user(s)" in caplog.text


async def test_sigterm_and_sigint_set_the_stop_event_and_the_old_handlers_come_back():
    for number in (signal.SIGTERM, signal.SIGINT):
        stop = asyncio.Event()
        restore = install_stop_signals(stop)
        try:
            os.kill(os.getpid(), number)
            await asyncio.wait_for(stop.wait(), 5)
        finally:
            restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_fresh_heartbeat_is_healthy_and_an_old_or_missing_one_is_not(tmp_path):
    path = tmp_path / "data" / "bot.sqlite3.heartbeat"
    assert "No heartbeat" in check_heartbeat(path)
    write_heartbeat(path, {"shards": [0]})
    assert check_heartbeat(path) is None
    assert json.loads(path.read_text())["shards"] == [0]
    assert "old" in check_heartbeat(path, now=time.time() + 61)
    path.write_text("{half a file")
    assert "cannot be read" in check_heartbeat(path)
    remove_heartbeat(path)
    assert not path.exists()
    assert list(tmp_path.joinpath("data").iterdir()) == []  # no temporary files left behind
