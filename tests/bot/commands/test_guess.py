"""/guess through the real client against the emulator, on both databases: a round from the post to
the reveal (votes, a change of vote, the split, scores), one round per channel and the pace, a
solo round in a DM, and the refusals (a vote after the reveal, a forged button, a voice as model)."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Callable
from typing import Any

import pytest

from bot.commands import guess
from charlm.guess import shipped_openings
from charlm.guess.passages import KINDS
from tests.bot.harness import buttons, refusal, running_bot

OPENINGS = shipped_openings()


def rng_for(kind: str) -> random.Random:
    """A generator whose first round is of `kind` ("real": no model text needed): the coin is
    tossed first (bot/commands/guess.py `draw`)."""
    for seed in range(100):
        if KINDS[random.Random(seed).randrange(len(KINDS))] == kind:
            return random.Random(seed)
    raise AssertionError("no seed")


async def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


@pytest.fixture
def short_rounds(monkeypatch):
    monkeypatch.setattr(guess, "ROUND_SECONDS", 4.0)


async def start_round(run, kind: str = "real", **options: object) -> dict[str, Any]:
    run.bot.guess.rng = rng_for(kind)
    reply = await run.ask("/guess play", **options)
    assert not reply.ephemeral, reply.content
    assert "**Shakespeare or the bot?**" in reply.content and "```" in reply.content
    return reply.message


async def vote(run, message: dict[str, Any], label: str, user: str) -> str:
    sent = await run.emu.press(message["id"], buttons(message)[label], user=user)
    return refusal(await sent.wait_reply(30))


async def test_a_round_from_the_post_to_the_reveal_and_the_scores(tmp_path, database, short_rounds):
    async with running_bot(tmp_path, database_url=database) as run:
        message = await start_round(run)
        assert set(buttons(message)) == {"Shakespeare", "The bot"}
        assert "Votes so far: 0" in message["content"]
        assert (await vote(run, message, "Shakespeare", "member")).startswith("Your vote: Shakespeare.")
        assert (await vote(run, message, "The bot", "admin")).startswith("Your vote: The bot.")
        assert await vote(run, message, "Shakespeare", "admin") == "Vote changed to Shakespeare."
        assert (await vote(run, message, "The bot", "owner")).startswith("Your vote: The bot.")
        await eventually(lambda: "Votes so far: 3" in run.emu.message(message["id"])["content"])
        shown = await eventually(lambda: (m := run.emu.message(message["id"]))["content"].startswith(
            "**It was Shakespeare.**") and m)
        assert "Shakespeare: 2, the bot: 1; 2 of 3 right." in shown["content"]
        assert all(button.get("disabled") for row in shown["components"] for button in row["components"])
        # A press after the reveal (a client that had not redrawn the buttons yet).
        sent = await run.emu.press(message["id"], buttons(message)["The bot"], user="member", forge=True)
        assert refusal(await sent.wait_reply(30)) == "This round is over. **It was Shakespeare.**"
        scores = await run.ask("/guess scores", user="owner")
        assert scores.content.startswith("**Best guessers here**")
        lines = scores.content.splitlines()
        assert lines[1].endswith(": 1 points (streak 1, best 1)") and lines[3].endswith(
            ": 0 points (streak 0, best 0)")
        assert lines[-1] == "You: number 3, 0 points, streak 0."
        assert "<@" in lines[1] and scores.message.get("allowed_mentions", {}).get("parse", []) == []


async def test_one_round_per_channel_and_a_pace_between_rounds(tmp_path, short_rounds):
    async with running_bot(tmp_path) as run:
        message = await start_round(run)
        second = refusal(await run.ask("/guess play", user="admin"))
        assert second.startswith("This channel already has a round going: https://discord.com/channels/")
        assert f"/{message['channel_id']}/{message['id']}. Vote there" in second
        await eventually(lambda: run.emu.message(message["id"])["content"].startswith("**It was"))
        assert refusal(await run.ask("/guess play")).startswith("A new round can start in this channel <t:")


async def test_a_round_in_a_dm_is_guessed_alone_and_revealed_by_the_vote(tmp_path, short_rounds):
    async with running_bot(tmp_path) as run:
        message = await start_round(run, guild=False)
        assert "You guess alone here" in message["content"]
        await run.emu.press(message["id"], buttons(message)["The bot"], user="member")
        shown = await eventually(lambda: (m := run.emu.message(message["id"]))["content"].startswith(
            "**It was Shakespeare.**") and m)  # the press itself edited the message
        assert "Shakespeare: 0, the bot: 1; 0 of 1 right." in shown["content"]
        refused = refusal(await run.ask("/guess scores", guild=False))
        assert refused == "Scores belong to a server that added the bot; play /guess there."


async def test_forged_buttons_voices_and_failed_draws_get_one_sentence(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await start_round(run)
        # A button that is not on the message, or not of any shape of ours: the bot's general sentence.
        for forged in ("gss:bot:0123456789abcdef", "gss:maybe:0123456789abcdef"):
            sent = await run.emu.press(message["id"], forged, forge=True)
            assert refusal(await sent.wait_reply(30)) == (
                "This button no longer works; use /shakespeare for a new reply.")
        # A message made up to carry a round that never was.
        sent = await run.emu.press("12345", "gss:bot:0123456789abcdef", forge=True)
        assert refusal(await sent.wait_reply(30)) == (
            "This round is unknown or too old; start one with /guess play.")
        refused = refusal(await run.ask("/guess play", model="voice:lore", user="admin"))
        assert refused == "Only the shipped models play /guess: choose lstm."


async def test_fifty_members_voting_at_once_and_the_fooled_figure(tmp_path, database, short_rounds,
                                                                  monkeypatch, capsys):
    async def writes_shakespeare(request):  # the tiny test model writes no passage; this one does
        return OPENINGS[0].continuation + "\n"

    async with running_bot(tmp_path, database_url=database) as run:
        monkeypatch.setattr(run.engine, "generate", writes_shakespeare)
        monkeypatch.setattr(guess, "ROUND_SECONDS", 8.0)
        members = [f"player{number}" for number in range(50)]
        for name in members:
            run.emu.world.add_member(name)
        message = await start_round(run, kind="model")
        presses = await asyncio.gather(*(run.emu.press(message["id"], buttons(message)[
            "Shakespeare" if number < 30 else "The bot"], user=name) for number, name in enumerate(members)))
        answers = [refusal(await sent.wait_reply(30)) for sent in presses]
        assert all(answer.startswith("Your vote: ") for answer in answers), answers
        await eventually(lambda: "Votes so far: 50" in run.emu.message(message["id"])["content"])
        shown = await eventually(lambda: (m := run.emu.message(message["id"]))["content"].startswith(
            "**It was the bot: lstm.**") and m)
        assert "Shakespeare: 30, the bot: 20; 20 of 50 right." in shown["content"]
        about = await run.ask("/about")
        assert "- **lstm**: 60% of 50 votes" in about.content
    monkeypatch.setenv("BOT_DB_PATH", str(tmp_path / "bot.sqlite3"))
    monkeypatch.setenv("CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    if database is not None:
        monkeypatch.setenv("DATABASE_URL", database)
    from bot.__main__ import main

    assert await asyncio.to_thread(main, ["stats"]) == 0
    assert "- **lstm**: 60% of 50 votes" in capsys.readouterr().out


async def test_a_failed_draw_frees_the_channel_and_a_deleted_message_still_scores(tmp_path, short_rounds,
                                                                                  monkeypatch):
    async def writes_nothing(request):
        return ""

    async with running_bot(tmp_path, refused_calls=1) as run:  # the answer, to a message deleted
        with monkeypatch.context() as patched:
            patched.setattr(run.engine, "generate", writes_nothing)
            run.bot.guess.rng = rng_for("model")
            refused = await run.ask("/guess play")
            assert refused.content == (
                "The model wrote nothing that makes a passage this time; try /guess play again.")
        message = await start_round(run)  # at once: the failed round left no mark on the pace
        assert (await vote(run, message, "Shakespeare", "member")).startswith("Your vote")
        await eventually(lambda: "Votes so far: 1" in run.emu.message(message["id"])["content"])
        await run.bot.http.delete_message(int(message["channel_id"]), int(message["id"]))
        for _ in range(200):  # the reveal finds the message gone, and scores the round all the same
            best, own, rank = await run.bot.store.games.scores(run.emu.world.guild.id,
                                                               run.emu.world.user("member").id)
            if own is not None:
                break
            await asyncio.sleep(0.1)
        assert own is not None and own.points == 1 and rank == 1


async def test_the_playground_plays_a_round_with_several_members(tmp_path, short_rounds):
    from bot.devtools.playground import Playground

    async with running_bot(tmp_path) as run:
        out = io.StringIO()
        playground = Playground(run.emu, out, reply_timeout=30)
        run.bot.guess.rng = rng_for("real")
        for line in ["/guess play", "/as member /press 1 shakespeare", "/as owner /press 1 the bot",
                     "/as member /press 1 the bot"]:
            assert await playground.handle(line)
        shown = out.getvalue()
        assert "Shakespeare or the bot?" in shown
        assert "Your vote: Shakespeare." in shown and "Your vote: The bot." in shown
        assert "Vote changed to The bot." in shown
        assert "Discord refused" not in shown


async def test_a_model_removed_during_a_round_still_gets_its_answer(tmp_path, short_rounds, monkeypatch):
    async def writes_shakespeare(request):
        return OPENINGS[1].continuation + "\n"

    async with running_bot(tmp_path, kinds=("lstm", "gru")) as run:
        monkeypatch.setattr(run.engine, "generate", writes_shakespeare)
        message = await start_round(run, kind="model", model="gru")
        # The operator removed gru's checkpoint and restarted: the bot no longer loads it (the start's
        # models cannot be unloaded while running, so the engine is told so directly). The round
        # needs nothing more of it.
        monkeypatch.setattr(run.engine, "_static", ("lstm",))
        assert (await vote(run, message, "The bot", "member")).startswith("Your vote: The bot.")
        shown = await eventually(lambda: (m := run.emu.message(message["id"]))["content"].startswith(
            "**It was the bot: gru.**") and m)
        assert "1 of 1 right." in shown["content"]
        refused = refusal(await run.ask("/guess play", model="gru", user="admin"))
        assert refused == "Only the shipped models play /guess: choose lstm."


async def test_a_korean_player_reads_the_round_and_the_buttons_in_korean(tmp_path, short_rounds):
    async with running_bot(tmp_path) as run:
        run.emu.world.user("member").locale = "ko"
        run.bot.guess.rng = rng_for("real")
        message = (await run.ask("/guess play", user="member")).message
        assert message["content"].startswith("**셰익스피어일까, 봇일까?**")
        assert set(buttons(message)) == {"셰익스피어", "봇"}
        sent = await run.emu.press(message["id"], buttons(message)["봇"], user="member")
        assert refusal(await sent.wait_reply(30)).startswith("내 투표: 봇.")
