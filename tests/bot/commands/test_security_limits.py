"""What one user or one server admin can make the bot do at everyone else's cost (issue: security).

Through the real discord.py client against the emulator: a cooldown is given back only when the
bot refused for its own reasons; the context menu's cleaning is linear; a seed is checked before
any model or voice; settings writes are paced per user; /voice train checks what it can before
fetching the file, fetches one file per server at a time, and is paced per server.
"""

from __future__ import annotations

import time

from bot.commands.menu import MENU_NAME, NOTHING_TO_CONTINUE, plain_text
from bot.commands.pace import SETTINGS_RATE, UPLOAD_RATE, Pace
from bot.commands.shakespeare import UNUSABLE_SEED
from bot.commands.voice import ONE_UPLOAD
from tests.bot.harness import NO_TRAINER, TEXT, poem, refusal, running_bot, train

TOO_FAST = "You're writing too fast; try again in "


def test_cleaning_a_message_of_newlines_takes_milliseconds():
    for content in ("\n" * 2000, " \n" * 2000, "\n>" * 2000, "\t\n" * 2000):
        started = time.process_time()
        assert plain_text(content, users={}, roles={}, channels={}) == ("" if ">" not in content else "")
        # CPU time, so a busy machine does not count: the quadratic pattern took 0.5 s for this.
        assert time.process_time() - started < 0.05, repr(content[:4])


def test_cleaning_still_takes_headings_and_quotes_off_lines_only():
    def plain(text: str) -> str:
        return plain_text(text, users={}, roles={}, channels={})

    assert plain("# Act I\n> quoted line\n>>> all quoted\nplain") == "Act I\nquoted line\nall quoted\nplain"
    assert plain("  ## Scene 2\n-# small print\nend") == "Scene 2\nsmall print\nend"
    assert plain(">\nRomeo") == "Romeo"


async def test_a_message_that_cleans_to_nothing_uses_up_the_cooldown(tmp_path):
    async with running_bot(tmp_path) as run:
        posted = run.emu.post_message("** **" + "\n" * 1990 + "> ", user="member")
        sent = await run.emu.send_message_command(MENU_NAME, posted["id"], user="member")
        assert refusal(await sent.wait_reply(30)) == NOTHING_TO_CONTINUE
        # The bot did the cleaning: asking again at once meets the cooldown, not the cleaning.
        again = await run.emu.send_message_command(MENU_NAME, posted["id"], user="member")
        assert refusal(await again.wait_reply(30)).startswith(TOO_FAST)
        poem(await run.ask("/shakespeare", user="admin", seed="a", length=3))  # others are unaffected


async def test_an_unusable_seed_is_refused_before_any_model_or_voice_and_keeps_the_cooldown(tmp_path):
    async with running_bot(tmp_path) as run:
        # The seed is checked first: a voice name (loaded only after the seed) is never looked at.
        assert refusal(await run.ask("/shakespeare", seed="\u2603", model="somevoice")) == UNUSABLE_SEED
        assert refusal(await run.ask("/shakespeare", seed="a", length=3)).startswith(TOO_FAST)
        run.emu.clock.advance(6)
        poem(await run.ask("/shakespeare", seed="a", length=3))


async def test_a_seed_from_the_menu_is_checked_before_any_model(tmp_path):
    async with running_bot(tmp_path) as run:
        posted = run.emu.post_message("\u2603\u2603\u2603", user="admin")
        sent = await run.emu.send_message_command(MENU_NAME, posted["id"], user="member")
        assert refusal(await sent.wait_reply(30)) == UNUSABLE_SEED


async def test_settings_and_preferences_writes_are_paced_per_user(tmp_path):
    async with running_bot(tmp_path) as run:
        run.emu.world.add_member("other-admin", manage_guild=True)
        for index in range(SETTINGS_RATE):
            command = "/settings length" if index % 2 else "/preferences length"
            assert refusal(await run.ask(command, user="admin", value=100 + index)).endswith(
                f"{100 + index} characters on this server." if index % 2 else f"{100 + index} characters.")
        refused = refusal(await run.ask("/settings temperature", user="admin", value=1.0))
        assert refused.startswith(TOO_FAST)
        shown = (await run.ask("/settings show", user="admin")).content  # reads are not paced
        assert f"length: **{100 + SETTINGS_RATE - 1}**" in shown
        # Another admin of the same server writes on.
        assert refusal(await run.ask("/settings temperature", user="other-admin", value=1.0)) == (
            "Temperature is now 1 on this server.")


def test_a_pace_lets_its_rate_through_then_says_how_long_to_wait():
    pace = Pace(2, 60.0)
    pace.take(1)
    pace.take(1)
    pace.take(2)  # another key has its own
    try:
        pace.take(1)
    except Exception as error:
        assert 0 < error.retry_after <= 60  # type: ignore[attr-defined]
    else:
        raise AssertionError("the third action in a minute was let through")


async def test_voice_train_checks_the_server_before_fetching_the_file(tmp_path, database):
    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        assert refusal(await train(run)) == "Voice lore is queued: number 1 in line."
        fetched = len(run.emu.world.cdn.requests)
        assert refusal(await train(run, name="other")).startswith("A voice is already training")
        assert len(run.emu.world.cdn.requests) == fetched  # neither file was fetched


async def test_a_server_past_its_daily_voices_is_refused_before_the_file_is_fetched(tmp_path, database):

    from bot.storage.voices import MAX_DAILY_JOBS_PER_SERVER

    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        guild = run.emu.world.guild.id
        for number in range(MAX_DAILY_JOBS_PER_SERVER):  # queued and cancelled by other admins today
            await run.bot.voices.enqueue(guild, f"v{number}", "lstm", 100 + number, TEXT.decode())
            await run.bot.voices.cancel(guild)
        fetched = len(run.emu.world.cdn.requests)
        assert refusal(await train(run)).startswith("This server has queued 5 voices in the last day")
        assert len(run.emu.world.cdn.requests) == fetched  # refused before the file was fetched


async def test_one_upload_per_server_at_a_time_and_a_pace_per_server(tmp_path):
    async with running_bot(tmp_path, config_options=NO_TRAINER) as run:
        files = {"file": ("lore.txt", TEXT, "text/plain")}
        first = await run.emu.send_command("/voice train name:lore", user="admin", files=files)
        second = await run.emu.send_command("/voice train name:other", user="admin", files=files)
        replies = sorted([refusal(await first.wait_reply(60)), refusal(await second.wait_reply(60))])
        assert replies == [ONE_UPLOAD, "Voice lore is queued: number 1 in line."]
        # The refused one was not counted against the pace; the queued one was.
        assert refusal(await run.ask("/voice cancel", user="admin")) == "Voice lore was cancelled."
        for _ in range(UPLOAD_RATE - 1):
            assert refusal(await train(run, b"too short", name="tiny")).startswith("The text is too short")
        paced = refusal(await train(run, b"too short", name="tiny"))
        assert paced.startswith("This server has uploaded texts too often; try again in "), paced
