"""/guess through the real bot process: a round end to end with 50 members voting at once (one
changes their vote), the refusals (a second round, a forged button, a vote after the answer), the
scores; and a round that outlives the bot's restart, revealed on time by the next process. On each
backend. Rounds last the real 60 s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.playground import BOT_CAST
from discord_emulator import Emulator
from tests.e2e.helpers import REPLY_TIMEOUT, ask, button, fresh_user, refusal, start_bot

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

ROUND_TIMEOUT = 60 + 30  # the round, the reveal loop's tick, a busy machine



async def eventually(check: Callable[[], Any], timeout: float = ROUND_TIMEOUT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.2)
    return result


async def vote(emu: Emulator, message: dict, label: str, user: str) -> str:
    sent = await emu.press(message["id"], button(message, label), user=user)
    return refusal(await sent.wait_reply(REPLY_TIMEOUT))


def answered(emu: Emulator, message_id: str) -> dict | None:
    message = emu.message(message_id)
    return message if message["content"].startswith("**It was") else None


async def test_a_round_with_fifty_voters_the_refusals_and_the_scores(emulator: Emulator) -> None:
    _, posted = await ask(emulator, "/guess play", user="admin")
    assert not posted.ephemeral and "**Shakespeare or the bot?**" in posted.content, posted.content
    message = posted.message
    members = [fresh_user(emulator) for _ in range(50)]
    labels = ["Shakespeare" if number % 2 else "The bot" for number in range(len(members))]
    presses = await asyncio.gather(*(emulator.press(message["id"], button(message, label), user=name)
                                     for label, name in zip(labels, members, strict=True)))
    for sent in presses:
        assert refusal(await sent.wait_reply(REPLY_TIMEOUT)).startswith("Your vote: ")
    assert await vote(emulator, message, "Shakespeare", members[0]) == "Vote changed to Shakespeare."
    _, second = await ask(emulator, "/guess play", user=members[1])
    assert refusal(second).startswith("This channel already has a round going: ")
    forged = await emulator.press(message["id"], "gss:bot:0123456789abcdef", user=members[2], forge=True)
    assert refusal(await forged.wait_reply(REPLY_TIMEOUT)).startswith("This button no longer works")
    await eventually(lambda: "Votes so far: 50" in emulator.message(message["id"])["content"], 30)
    shown = await eventually(lambda: answered(emulator, message["id"]))
    assert "Shakespeare: 26, the bot: 24;" in shown["content"]
    right = 26 if shown["content"].startswith("**It was Shakespeare.**") else 24
    assert f"; {right} of 50 right." in shown["content"]
    late = await emulator.press(message["id"], button(message, "The bot"), user=members[3], forge=True)
    assert refusal(await late.wait_reply(REPLY_TIMEOUT)).startswith("This round is over. **It was")
    _, scores = await ask(emulator, "/guess scores", user=members[0])
    assert scores.content.startswith("**Best guessers here**") and scores.message["mentions"] == []
    assert len(scores.content.splitlines()) >= 12  # ten lines and the caller's own


async def test_a_round_is_revealed_on_time_after_a_restart(tmp_path: Path, database: str | None) -> None:
    async with Emulator(cast=BOT_CAST) as emu:
        first = await start_bot(emu, tmp_path, "first", database)
        try:
            _, posted = await ask(emu, "/guess play", user="admin")
            message = posted.message
            assert (await vote(emu, message, "Shakespeare", "member")).startswith("Your vote: ")
        finally:
            assert await first.stop() == 0, first.log_tail()
        second = await start_bot(emu, tmp_path, "second", database)
        try:
            assert (await vote(emu, message, "The bot", "owner")).startswith("Your vote: ")
            shown = await eventually(lambda: answered(emu, message["id"]))
            assert "Shakespeare: 1, the bot: 1; 1 of 2 right." in shown["content"]
        finally:
            assert await second.stop() == 0, second.log_tail()
