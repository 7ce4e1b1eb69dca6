"""Faults Discord produces in real life: a dropped gateway mid-generation, a 429 on a deferred answer."""

from __future__ import annotations

import asyncio

import pytest

from discord_emulator import Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import REPLY_TIMEOUT, fresh_user, generation

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_gateway_dropped_while_generating_the_followup_still_arrives(
    emulator: Emulator, bot: BotProcess
) -> None:
    resumes, identifies = emulator.gateway.resumes, emulator.gateway.identifies
    sent = await emulator.send_command("/shakespeare seed:ROMEO: length:1500", user=fresh_user(emulator))
    assert await sent.wait_ack(REPLY_TIMEOUT) == 5
    assert not sent.record.answered, "the generation ended before the drop; make it longer"
    assert await emulator.drop_gateway() == 1

    reply = await sent.wait_reply(REPLY_TIMEOUT)
    generation(reply)
    assert sent.record.answers == 1
    await emulator.gateway.wait_connected(REPLY_TIMEOUT)
    # Resumed (twice, once, under load), never identified afresh.
    assert emulator.gateway.resumes >= resumes + 1 and emulator.gateway.identifies == identifies
    # And the resumed connection carries new interactions.
    about = await emulator.send_command("/about")
    assert (await about.wait_reply(REPLY_TIMEOUT)).ephemeral


async def test_a_429_on_the_deferred_answer_is_waited_out_and_delivered_once(
    emulator: Emulator, bot: BotProcess
) -> None:
    retry_after = 1.0
    emulator.inject_429("PATCH /webhooks/*/messages/@original", retry_after=retry_after)
    sent = await emulator.send_command("/shakespeare seed:JULIET: length:200", user=fresh_user(emulator))
    reply = await sent.wait_reply(REPLY_TIMEOUT)
    generation(reply)
    await asyncio.sleep(retry_after)  # room for a second, wrong delivery to show up
    edits = emulator.recorder.find(f"PATCH /webhooks/*/{sent.record.token}/messages/@original")
    assert [call.status for call in edits] == [429, 200]
    assert edits[1].at - edits[0].at >= retry_after
    assert sent.record.answers == 1 and len(sent.record.visible_messages()) == 1
