"""A burst of 300 interactions from many users: each acknowledged within Discord's 3 s, each given
exactly one final reply (the text, or the busy or cooldown sentence), none lost."""

from __future__ import annotations

import asyncio
import time

import pytest

from discord_emulator import Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import HEADER, fresh_user

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

INTERACTIONS = 300
USERS = 150  # two interactions each: the second usually meets the per-user cooldown
BUSY = "The bot is busy writing for others; try again in a moment."
COOLDOWN = "You're writing too fast; try again in "
BURST_TIMEOUT = 180.0


async def test_burst_of_300_interactions_is_answered_once_each_in_time(
    emulator: Emulator, bot: BotProcess
) -> None:
    users = [fresh_user(emulator) for _ in range(USERS)]
    started = time.monotonic()
    sent = [
        await emulator.send_command(f"/shakespeare seed:{index % 10} length:20", user=users[index % USERS])
        for index in range(INTERACTIONS)
    ]
    replies = await asyncio.wait_for(
        asyncio.gather(*(interaction.wait_reply(BURST_TIMEOUT) for interaction in sent)), BURST_TIMEOUT
    )
    elapsed = time.monotonic() - started
    await asyncio.sleep(1.0)  # room for a second, wrong answer to any of them to arrive

    latencies = [interaction.record.ack_latency for interaction in sent]
    assert all(latency is not None for latency in latencies)
    slowest = max(latency for latency in latencies if latency is not None)
    assert slowest < emulator.rules.ack_window, f"slowest acknowledgement {slowest:.2f} s"
    assert [interaction.record.answers for interaction in sent] == [1] * INTERACTIONS
    assert len({interaction.id for interaction in sent}) == INTERACTIONS

    kinds = {"text": 0, "busy": 0, "cooldown": 0}
    for reply in replies:
        if HEADER.match(reply.content):
            kinds["text"] += 1
        elif reply.content == BUSY:
            kinds["busy"] += 1
        else:
            assert reply.content.startswith(COOLDOWN), reply.content
            kinds["cooldown"] += 1
    assert kinds["text"] >= USERS // 2, kinds
    print(f"burst: {kinds} in {elapsed:.1f} s, slowest acknowledgement {slowest:.2f} s")
    assert emulator.rejected_calls() == []
