"""Discord's three seconds, kept whatever the bot waits on (bot/commands/acknowledge.py), through the
real discord.py client and the emulator: members pressing one reply's buttons at once, every
command, press and autocomplete while the database stalls (PostgreSQL paused, not stopped; SQLite's
write lock held by another process), and autocomplete while the bot stops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot import errors
from bot.commands.replies import TEXT_FILE
from bot.voices.cache import unreachable
from discord_emulator import Reply
from tests.bot.harness import buttons, poem, refusal, running_bot
from tests.helpers import held_write_lock

WINDOW = 3.0  # Discord's: an interaction not acknowledged by then has failed
PRESSERS = ("admin", "owner", "third", "fourth")  # four members; "member" asked for the reply


def whole_text(run, message: dict[str, Any]) -> str:
    """The text a reply holds: its attached file, else its code block."""
    for attachment in message.get("attachments") or []:
        if attachment["filename"] == TEXT_FILE:
            return run.emu.attachment_data(attachment).decode("utf-8")
    return poem(Reply([message]))[3]


async def long_reply(run) -> dict[str, Any]:
    for name in PRESSERS[2:]:
        run.emu.world.add_member(name)
    sent = await run.emu.send_command("/shakespeare", user="member",
                                      options={"seed": "ROMEO:", "length": 10_000})
    reply = await sent.wait_reply(240)  # 10,000 characters take a while on a loaded machine
    assert reply.message["attachments"], reply.content  # a 10,000-character text comes as a file
    return reply.message


def acknowledged_in_time(sent) -> None:
    latency = sent.record.ack_latency
    assert latency is not None and latency < WINDOW, (sent.record.id, latency, sent.record.refused)


async def test_four_members_pressing_continue_at_once_on_a_long_reply_all_get_their_text_in_order(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await long_reply(run)
        start = whole_text(run, message)
        presses = await asyncio.gather(*(run.emu.press(message["id"], buttons(message)["Continue"], user=user)
                                         for user in PRESSERS))
        for sent in presses:
            assert await sent.wait_ack(WINDOW + 1) == 6  # a deferred update: nothing shown yet
            acknowledged_in_time(sent)
        replies = [(await sent.wait_reply(240)).messages[-1] for sent in presses]
        # Each press's continuation is a follow-up of its own, 10,000 characters, each written from
        # the end of the one before (nothing lost, nothing twice).
        pieces = [whole_text(run, reply) for reply in sorted(replies, key=lambda reply: int(reply["id"]))]
        assert [len(piece) for piece in pieces] == [10_000] * 4
        key = buttons(message)["Continue"].split(":")[2]
        # The last press stores its text just after its follow-up is sent, still holding the
        # message's lock: read the store once no press holds it.
        for _ in range(100):
            if not len(run.bot.reply_locks):
                break
            await asyncio.sleep(0.05)
        stored = await run.store.get_reply(key)
        assert stored is not None
        # The store keeps the end of the text so far (what primes the model): the four pieces' end.
        assert (start + "".join(pieces)).endswith(stored.prompt) and len(set(pieces)) == 4
        assert all(reply["message_reference"]["message_id"] == message["id"] for reply in replies)
        assert len(run.bot.reply_locks) == 0


async def test_four_members_pressing_again_at_once_on_a_long_reply_all_get_a_new_text(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await long_reply(run)
        presses = await asyncio.gather(*(run.emu.press(message["id"], buttons(message)["Again"], user=user)
                                         for user in PRESSERS))
        for sent in presses:
            await sent.wait_ack(WINDOW + 1)
            acknowledged_in_time(sent)
        for sent in presses:
            again = (await sent.wait_reply(240)).message
            text = whole_text(run, again)
            assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 10_000
            assert again["id"] != message["id"]
            assert list(buttons(again)) == ["Again", "Continue", "Delete", "Why?"]


async def test_while_the_bot_stops_autocomplete_gets_no_suggestions_and_commands_one_sentence(tmp_path):
    async with running_bot(tmp_path) as run:
        message = (await run.ask("/shakespeare", seed="ROMEO:", length=5)).message
        await run.bot.in_flight.drain(1)  # what shutdown does first: new interactions are refused
        for typing in ("/shakespeare model:", "/shakespeare seed:RO", "/settings model name:"):
            sent = await run.emu.autocomplete_interaction(typing, user="admin")
            assert await sent.wait_ack(WINDOW) == 8, typing  # not a message: Discord refuses those
            assert sent.record.autocomplete_choices == []
        assert refusal(await run.ask("/shakespeare", seed="a", length=3)) == errors.RESTARTING
        sent = await run.emu.press(message["id"], buttons(message)["Again"], user="admin")
        assert refusal(await sent.wait_reply(10)) == errors.RESTARTING


@contextlib.contextmanager
def stalled(run, server) -> Any:
    """The database stops answering: PostgreSQL paused (`server`), or SQLite's write lock held."""
    if server is None:
        with held_write_lock(run.store.path):
            yield
        return
    server.pause()
    try:
        yield
    finally:
        server.resume()


# What the bot may answer while its database stalls: the work done without it, or one sentence.
DATABASE_SENTENCES = {str(errors.UNREACHABLE), str(errors.STORE_BUSY)}


async def test_every_command_press_and_autocomplete_is_acknowledged_in_time_while_the_database_stalls(
        tmp_path, database, request):
    server = None if database is None else request.getfixturevalue("pg_server")
    # Settings writes give up on another's lock after 2 s (tests wait less; the rule is the same).
    async with running_bot(tmp_path, database_url=database, busy_timeout_ms=2000,
                           config_options={"voice_trainer": "off"}) as run:
        for name in ("third", "fourth", "fifth", "sixth"):
            run.emu.world.add_member(name, manage_guild=True)
        message = (await run.ask("/shakespeare", user="member", seed="ROMEO:", length=20)).message
        ids = buttons(message)
        await run.ask("/voice list", user="admin")  # the voice book's connection is open
        run.emu.clock.advance(6)  # past member's cooldown
        with stalled(run, server):
            commands = [("/shakespeare", "member", {"seed": "a", "length": 5}),
                        ("/shakespeare", "third", {"seed": "a", "length": 5, "model": "lore"}),
                        ("/settings show", "admin", {}), ("/settings temperature", "admin", {"value": 1.5}),
                        ("/settings voice", "fourth", {"name": "lore"}), ("/preferences show", "admin", {}),
                        ("/voice list", "admin", {}), ("/voice status", "fifth", {}),
                        ("/voice cancel", "sixth", {}), ("/voice delete", "owner", {"name": "lore"}),
                        ("/about", "admin", {})]
            sent = [await run.emu.send_command(command, user=user, options=options or None)
                    for command, user, options in commands]
            pressed = [await run.emu.press(message["id"], ids[label], user=user)
                       for label, user in (("Again", "fifth"), ("Continue", "sixth"))]
            typed = [await run.emu.autocomplete_interaction(typing, user="admin")
                     for typing in ("/shakespeare model:", "/settings voice name:", "/settings model name:")]
            for each in [*sent, *pressed, *typed]:
                await each.wait_ack(WINDOW + 1)
                acknowledged_in_time(each)
            # The autocompletes answered with what they had: the models, no voices.
            assert [choice["value"] for choice in typed[0].record.autocomplete_choices] == ["lstm"]
            assert typed[1].record.autocomplete_choices == []
            answers = [(await each.wait_reply(60)).messages[-1]["content"] for each in sent]
            for each in pressed:  # a new message, a follow-up, or (Continue) the message edited
                await each._wait(lambda each=each: each.record.answered or each.record.updates > 0, 60)
        # Each is one sentence, or the work done without the database: never our fault, never silence.
        names = [command + str(options.get("model", "")) for command, _, options in commands]
        said = dict(zip(names, answers, strict=True))
        assert str(errors.INTERNAL) not in answers
        assert poem(Reply([{"content": said["/shakespeare"], "flags": 0}]))  # with the settings last read
        for command in ("/settings temperature", "/voice cancel", "/voice delete"):  # writes: refused
            assert said[command] in DATABASE_SENTENCES, (command, said[command])
        if database is not None:  # reads wait on PostgreSQL too (SQLite's readers pass a writer's lock)
            for command in ("/voice list", "/voice status", "/settings voice"):
                assert said[command] in DATABASE_SENTENCES, (command, said[command])
            assert said["/shakespearelore"] == str(unreachable("lore"))
        # And once it answers again, so does the bot.
        assert refusal(await run.ask("/voice list", user="admin")).startswith("This server has no voices")
