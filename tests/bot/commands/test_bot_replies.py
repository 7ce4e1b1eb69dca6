"""Replies people play with, through the real discord.py client and the emulator: the Again /
Continue / Delete buttons, "Continue as Shakespeare" on any message, and autocomplete."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from bot import errors
from bot.commands.menu import MENU_NAME, NOTHING_TO_CONTINUE
from bot.commands.options import MAX_CHOICES
from bot.commands.replies import GONE, NOT_OURS, NOT_YOURS, TOO_OLD
from charlm.engine import EngineBusyError
from discord_emulator import Reply, UnknownMessage
from tests.bot.harness import buttons, poem, refusal, running_bot

BUTTON = re.compile(r"shk:(again|more|delete|why):([0-9a-f]{16}):(\d+)")


async def eventually(check: Callable[[], Any], timeout: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return result


async def first_reply(run, *, user: str = "member", **options: object) -> dict[str, Any]:
    reply = await run.ask("/shakespeare", user=user, **options)
    poem(reply)
    return reply.message


def past_cooldown(run) -> None:
    run.emu.clock.advance(6)  # the per-user cooldown is 5 s; interactions carry the emulator's time


async def test_every_reply_has_again_continue_and_delete_naming_who_asked(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="ROMEO:", length=20)
        ids = buttons(message)
        assert list(ids) == ["Again", "Continue", "Delete", "Why?"]
        matches = [BUTTON.fullmatch(custom_id) for custom_id in ids.values()]
        assert all(matches) and len({match[2] for match in matches}) == 1
        assert {int(match[3]) for match in matches} == {run.emu.world.user("member").id}
        stored = await run.store.get_reply(matches[0][2])
        assert stored is not None and (stored.seed, stored.length) == ("ROMEO:", 20)


async def test_again_writes_a_new_text_from_the_same_seed_model_temperature_and_length(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="JULIET:", length=30, temp=1.3)
        past_cooldown(run)
        sent = await run.emu.press(message["id"], buttons(message)["Again"])
        again = (await sent.wait_reply(30)).message
        assert again["id"] != message["id"]
        model, temperature, _, block = poem(Reply([again]))
        assert (model, temperature, block[:7], len(block)) == ("lstm", 1.3, "JULIET:", 7 + 30)
        assert buttons(again)["Again"] != buttons(message)["Again"]  # a reply of its own
        assert run.emu.message(message["id"])["content"] == message["content"]  # untouched


async def test_continue_extends_the_message_while_it_fits_then_replies_to_it(tmp_path):
    async with running_bot(tmp_path) as run:
        await run.store.set_value(run.emu.world.guild.id, "length", 900)
        message = await first_reply(run, seed="ROMEO:")
        block = poem(Reply([message]))[3]
        past_cooldown(run)
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        edited = await sent.wait_update(30)
        longer = poem(Reply([edited]))[3]
        assert longer.startswith(block) and len(longer) == len(block) + 900
        assert buttons(edited) == buttons(message)
        # Full now: the next 900 characters go in a new message that replies to this one.
        past_cooldown(run)
        before = len(run.emu.channel_messages())
        await run.emu.press(message["id"], buttons(message)["Continue"])
        follow = await eventually(lambda: run.emu.channel_messages()[before:])
        [reply] = follow
        assert reply["message_reference"]["message_id"] == message["id"]
        assert reply["content"].startswith("*lstm, temperature 0.8, continued*")
        assert len(poem(Reply([reply]))[3]) == 900
        assert reply["mentions"] == [] and list(buttons(reply)) == ["Again", "Continue", "Delete", "Why?"]
        assert run.emu.message(message["id"])["content"] == edited["content"]
        # The stored text so far is the whole thread, so Continue on either keeps going from its end.
        key = BUTTON.fullmatch(buttons(reply)["Continue"])[2]
        stored = await run.store.get_reply(key)
        assert stored is not None and stored.prompt.endswith(poem(Reply([reply]))[3][-50:])


async def test_two_members_pressing_continue_at_once_both_get_text_in_order(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="KING RICHARD III:", length=40)
        start = poem(Reply([message]))[3]
        past_cooldown(run)
        first, second = await asyncio.gather(
            run.emu.press(message["id"], buttons(message)["Continue"], user="member"),
            run.emu.press(message["id"], buttons(message)["Continue"], user="admin"))
        await first.wait_update(30)
        await second.wait_update(30)
        await eventually(lambda: first.record.acked_at and second.record.acked_at)
        final = poem(Reply([await eventually(lambda: (m := run.emu.message(message["id"]))
                                             and len(poem(Reply([m]))[3]) == len(start) + 80 and m)]))[3]
        assert final.startswith(start) and len(final) == len(start) + 80  # nothing lost, nothing twice
        # The per-message lock goes with the presses (the second stores its text after its edit).
        await eventually(lambda: len(run.bot.reply_locks) == 0)


async def test_delete_is_for_who_asked_or_those_who_manage_messages(tmp_path):
    async with running_bot(tmp_path, refused_calls=1) as run:  # deleting the deleted message
        message = await first_reply(run, seed="ROMEO:", length=10)
        other = await first_reply(run, user="admin", seed="JULIET:", length=10)
        # Another plain member: one private sentence, and the message stays.
        run.emu.world.add_member("stranger", "Stranger")
        sent = await run.emu.press(message["id"], buttons(message)["Delete"], user="stranger")
        assert refusal(await sent.wait_reply(30)) == NOT_YOURS
        assert run.emu.message(message["id"])["id"] == message["id"]
        # Who asked may delete it.
        sent = await run.emu.press(message["id"], buttons(message)["Delete"], user="member")
        await sent.wait_deleted(30)
        with pytest.raises(UnknownMessage):
            run.emu.message(message["id"])
        # A moderator (Manage Messages) may delete someone else's.
        sent = await run.emu.press(other["id"], buttons(other)["Delete"], user="admin")
        await sent.wait_deleted(30)
        # A press that arrives after the message went (a forged one; Discord's client cannot).
        sent = await run.emu.press(message["id"], buttons(message)["Delete"], forge=True)
        assert refusal(await sent.wait_reply(30)) == GONE


@pytest.mark.parametrize("custom_id", [
    "shk:again:nothex!!:1",                       # malformed
    "shk:explode:0123456789abcdef:1",             # an unknown kind of button
    "poll:vote:7",                                # another bot's
    "x" * 100,
])
async def test_forged_and_stale_buttons_get_one_private_sentence(tmp_path, custom_id):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="ROMEO:", length=10)
        sent = await run.emu.press(message["id"], custom_id, forge=True)
        assert refusal(await sent.wait_reply(30)) == NOT_OURS
        assert run.emu.message(message["id"])["content"] == message["content"]


async def test_a_reply_whose_stored_state_expired_says_so(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="ROMEO:", length=10)
        with sqlite3.connect(run.store.path) as connection:
            connection.execute("DELETE FROM replies")
        for label in ("Again", "Continue"):
            past_cooldown(run)  # a refusal for what was pressed keeps the cooldown (only busy gives it back)
            sent = await run.emu.press(message["id"], buttons(message)[label])
            assert refusal(await sent.wait_reply(30)) == TOO_OLD


async def test_presses_count_against_the_cooldown_and_a_busy_engine_refuses_politely(tmp_path, monkeypatch):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="ROMEO:", length=10)
        sent = await run.emu.press(message["id"], buttons(message)["Again"])
        assert refusal(await sent.wait_reply(30)).startswith("You're writing too fast")
        past_cooldown(run)

        async def busy(request):
            raise EngineBusyError("full")

        monkeypatch.setattr(run.engine, "generate", busy)
        for label in ("Again", "Continue"):
            sent = await run.emu.press(message["id"], buttons(message)[label])
            assert refusal(await sent.wait_reply(30)) == errors.BUSY
        monkeypatch.undo()
        poem(await run.ask("/shakespeare", seed="ROMEO:", length=5))  # refused presses cost nothing


async def test_continue_works_long_after_the_original_replys_token_expired(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await first_reply(run, seed="ROMEO:", length=10)
        run.emu.clock.advance(3600)  # the first reply's interaction token is long dead
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        edited = await sent.wait_update(30)
        assert len(poem(Reply([edited]))[3]) == len("ROMEO:") + 20


async def test_continue_on_a_message_deleted_meanwhile_is_one_sentence(tmp_path, monkeypatch):
    async with running_bot(tmp_path, refused_calls=1) as run:  # the edit of the vanished message
        message = await first_reply(run, seed="ROMEO:", length=10)
        past_cooldown(run)
        generate = run.engine.generate

        async def then_delete(request):
            text = await generate(request)
            await run.bot.http.delete_message(int(message["channel_id"]), int(message["id"]))
            return text

        monkeypatch.setattr(run.engine, "generate", then_delete)
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        assert refusal(await sent.wait_reply(30)) == GONE


async def test_continue_as_shakespeare_starts_from_any_messages_words_and_pings_nobody(tmp_path):
    async with running_bot(tmp_path) as run:
        admin = run.emu.world.user("admin")
        posted = run.emu.post_message(
            f"<@{admin.id}> **Friends**, see https://example.com/x <:wink:123456789012345678> @everyone",
            user="member")
        sent = await run.emu.send_message_command(MENU_NAME, posted["id"], user="admin")
        reply = await sent.wait_reply(30)
        model, _, notes, block = poem(reply)
        assert block.startswith(f"@{admin.display_name} Friends, see example.com wink everyone")
        assert reply.message["mentions"] == [] and not reply.message["mention_everyone"]
        assert list(buttons(reply.message)) == ["Again", "Continue", "Delete", "Why?"]
        [call] = (run.emu.recorder.find("PATCH /webhooks/*/messages/@original")
                  or run.emu.recorder.find("POST /interactions/*"))
        assert call.body.get("allowed_mentions", {"parse": []}) == {"parse": []} or "data" in call.body


@pytest.mark.parametrize("content, attachments", [
    ("", [{"filename": "picture.png", "size": 1000, "content_type": "image/png"}]),
    ("** ** __ __", None),
])
async def test_continue_as_shakespeare_on_a_message_without_words_says_so(tmp_path, content, attachments):
    async with running_bot(tmp_path) as run:
        posted = run.emu.post_message(content, user="member", attachments=attachments)
        sent = await run.emu.send_message_command(MENU_NAME, posted["id"])
        assert refusal(await sent.wait_reply(30)) == NOTHING_TO_CONTINUE
        # Cleaning the message was work done on it: the cooldown holds (only busy gives it back).
        too_fast = refusal(await run.ask("/shakespeare", seed="x", length=3))
        assert too_fast.startswith("You're writing too fast")


async def test_a_forged_message_command_target_is_refused_in_one_sentence(tmp_path):
    async with running_bot(tmp_path) as run:
        posted = run.emu.post_message("Hello there", user="member")
        sent = await run.emu.send_message_command(MENU_NAME, posted["id"])
        payload = dict(sent.payload)
        for data in (
            {**payload["data"], "target_id": "1"},                                   # not in resolved
            {**payload["data"], "resolved": {"messages": {posted["id"]: {"id": posted["id"]}}}},
            {**payload["data"], "resolved": {}},
        ):
            forged = run.emu.interaction_payload(data, user="member")
            again = await run.emu.send_raw_interaction(forged)
            assert refusal(await again.wait_reply(30)) == errors.BAD_OPTION


async def test_autocomplete_suggests_seeds_and_the_loaded_models(tmp_path):
    async with running_bot(tmp_path, kinds=("lstm", "gru")) as run:
        seeds = [choice["value"] for choice in await run.emu.autocomplete("/shakespeare seed:rom")]
        assert seeds[0] == "rom" and "ROMEO:" in seeds
        models = await run.emu.autocomplete("/shakespeare length:5 model:g")
        assert [choice["value"] for choice in models] == ["gru"]
        everything = await run.emu.autocomplete("/settings model name:", user="admin")
        assert sorted(choice["value"] for choice in everything) == ["gru", "lstm"]
        # Typed without picking a suggestion: a model name in any case works, an unknown one is named.
        model, *_ = poem(await run.ask("/shakespeare", seed="a", length=3, model="GRU"))
        assert model == "gru"


async def test_autocomplete_with_a_huge_forged_value_still_answers_within_discords_limits(tmp_path):
    async with running_bot(tmp_path) as run:
        sent = await run.emu.autocomplete_interaction("/shakespeare seed:ab")
        await sent.wait_ack(10)
        payload = sent.payload
        option = payload["data"]["options"][0]
        forged = run.emu.interaction_payload(
            {**payload["data"], "options": [{**option, "value": "w" * 10_000}]}, user="member", kind=4)
        huge = await run.emu.send_raw_interaction(forged)
        assert await huge.wait_ack(10) == 8
        choices = huge.record.autocomplete_choices
        assert choices is not None and len(choices) <= MAX_CHOICES  # nothing known matches: none
        assert all(len(choice["value"]) <= 100 for choice in choices)
        long = run.emu.interaction_payload(
            {**payload["data"], "options": [{**option, "value": "ROMEO: " + "w" * 200}]},
            user="member", kind=4)
        answered = await run.emu.send_raw_interaction(long)
        assert await answered.wait_ack(10) == 8  # too long to offer as typed, and still answered
        # A focused number sent as a number (not text, as Discord always sends) gets no suggestions.
        bad = run.emu.interaction_payload(
            {**payload["data"], "options": [{**option, "value": 12}]}, user="member", kind=4)
        none = await run.emu.send_raw_interaction(bad)
        assert await none.wait_ack(10) == 8 and none.record.autocomplete_choices == []


async def test_a_text_longer_than_a_message_comes_whole_as_a_file(tmp_path):
    async with running_bot(tmp_path) as run:
        reply = (await run.ask("/shakespeare", seed="ROMEO:", length=5000)).message
        assert len(reply["content"]) <= 2000
        assert reply["content"].startswith("*lstm, temperature 0.8, the whole text is in shakespeare.txt*")
        [attachment] = reply["attachments"]
        assert attachment["filename"] == "shakespeare.txt"
        whole = run.emu.attachment_data(attachment).decode("utf-8")
        assert whole.startswith("ROMEO:") and len(whole) == len("ROMEO:") + 5000
        shown = poem(Reply([reply]))[3]
        assert whole.startswith(shown.rstrip("\u2026"))  # what fits is the start of the file
        assert list(buttons(reply)) == ["Again", "Continue", "Delete", "Why?"]


async def test_the_cooldown_grows_with_the_length_asked_for(tmp_path):
    async with running_bot(tmp_path) as run:
        poem(await run.ask("/shakespeare", seed="a", length=4500))  # 3 x 1500: a 15 s wait
        run.emu.clock.advance(6)  # past the flat 5 s, still within 15 s (less the real time generating)
        refused = refusal(await run.ask("/shakespeare", seed="a", length=5))
        assert refused.startswith("You're writing too fast; try again in ")
        assert 1 <= int(refused.rsplit(" ", 2)[1]) <= 9
        run.emu.clock.advance(10)
        poem(await run.ask("/shakespeare", seed="a", length=5))


async def test_a_length_past_what_one_request_may_ask_is_one_sentence(tmp_path):
    async with running_bot(tmp_path) as run:
        for value in (10_001, 0, 2.5, True):
            past_cooldown(run)  # a refused option keeps the cooldown (only busy gives it back)
            sentence = refusal(await run.ask("/shakespeare", forge=True, seed="a", length=value))
            assert sentence in ("Length must be a whole number from 1 to 10000.", errors.BAD_OPTION), value
        past_cooldown(run)
        poem(await run.ask("/shakespeare", seed="a", length=10_000 // 100))
