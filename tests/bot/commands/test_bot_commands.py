"""Every command and refusal, through the real discord.py client, engine and SQLite store.

The bot runs in this process against the local Discord emulator (discord_emulator), so each
interaction takes the path a real one takes: gateway INTERACTION_CREATE, discord.py's CommandTree
with its checks, transformers and cooldowns, our tree's error handler, and the REST callback and
follow-up the emulator judges by Discord's rules (3 s to acknowledge, 2000 characters...).
Models are tiny random checkpoints: these tests are about plumbing, not prose.
"""

from __future__ import annotations

import asyncio
import logging
import math

import pytest

from bot import __version__, errors
from bot.commands.options import serving_model
from bot.commands.settings import SLOW_WRITE_SECONDS
from bot.commands.shakespeare import COOLDOWN_SECONDS, MAX_SEED_CHARACTERS, SPEAKERS
from bot.errors import SettingsBusyError
from bot.storage.settings import DEFAULT_SETTINGS
from charlm.engine import EngineBusyError, GenerationRequest
from discord_emulator import CommandHiddenError, CommandInputError
from tests.bot.harness import poem, refusal, running_bot
from tests.helpers import held_write_lock


async def test_shakespeare_defers_then_replies_publicly_with_the_seed_and_the_text(tmp_path):
    async with running_bot(tmp_path) as run:
        sent = await run.emu.send_command("/shakespeare", options={"seed": "ROMEO:", "length": 60})
        reply = await sent.wait_reply(30)
        assert sent.record.callback_type == 5  # deferred: "thinking..." within Discord's 3 s
        model, temperature, notes, block = poem(reply)
        assert (model, temperature, notes) == ("lstm", DEFAULT_SETTINGS.temperature, "")
        assert block.startswith("ROMEO:") and len(block) == len("ROMEO:") + 60
        [answer] = run.emu.recorder.find("PATCH /webhooks/*/messages/@original")  # completes the deferral
        assert answer.body["allowed_mentions"] == {"parse": []}  # never pings anyone


async def test_without_a_seed_a_speaker_begins_and_the_server_settings_fill_in(tmp_path):
    async with running_bot(tmp_path) as run:
        await run.store.set_value(run.emu.world.guild.id, "length", 25)
        await run.store.set_value(run.emu.world.guild.id, "temperature", 0.3)
        model, temperature, _, block = poem(await run.ask("/shakespeare"))
        speaker = next(speaker for speaker in SPEAKERS if block.startswith(speaker))
        assert (model, temperature, len(block)) == ("lstm", 0.3, len(speaker) + 25)
        # An option given overrides the server's setting; the others still come from it.
        _, temperature, _, block = poem(await run.ask("/shakespeare", user="admin", seed="x", temp=1.7))
        assert (temperature, len(block)) == (1.7, 1 + 25)


async def test_a_mention_and_markdown_in_the_seed_stay_inert_text(tmp_path):
    seed = "@everyone <@&1> **loud** ```\n# not a heading"
    async with running_bot(tmp_path) as run:
        _, _, _, block = poem(await run.ask("/shakespeare", seed=seed, length=5))
        assert block.startswith(seed)
        message = run.emu.recorder.find("PATCH /webhooks/*/messages/@original")[0].response
        assert message["mention_everyone"] is False and message["mention_roles"] == []


async def test_the_longest_seed_and_length_still_fit_one_message_and_say_so(tmp_path):
    async with running_bot(tmp_path) as run:
        reply = await run.ask("/shakespeare", seed="`" * MAX_SEED_CHARACTERS, length=1500)
        _, _, notes, block = poem(reply)
        # 500 backticks and their zero-width spaces take 1000 characters: the seed gives way.
        assert len(reply.content) <= 2000 and notes == ", seed shortened"
        assert block.startswith("\u2026`")  # the end of the seed, which the model continued from


async def test_in_a_dm_shakespeare_uses_the_users_own_defaults_and_settings_need_a_server(tmp_path):
    async with running_bot(tmp_path) as run:
        await run.store.set_value(run.emu.world.guild.id, "length", 5)  # a server's, not the DM's
        _, temperature, _, block = poem(await run.ask("/shakespeare", guild=False, seed="A"))
        assert (temperature, len(block)) == (DEFAULT_SETTINGS.temperature, 1 + DEFAULT_SETTINGS.length)
        changed = await run.ask("/preferences length", guild=False, value=7)
        assert refusal(changed) == "You now get 7 characters."
        run.emu.clock.advance(COOLDOWN_SECONDS)
        _, _, _, block = poem(await run.ask("/shakespeare", guild=False, seed="A"))
        assert len(block) == 1 + 7
        # Discord's client does not offer /settings in a DM (its contexts say servers only); a
        # forged one is refused with one sentence.
        with pytest.raises(CommandInputError, match="not available in direct messages"):
            await run.ask("/settings show", user="admin", guild=False)
        for command in ("/settings show", "/settings reset"):
            forged = await run.ask(command, user="admin", guild=False, forge=True)
            assert refusal(forged) == errors.NEEDS_SERVER


async def test_admins_show_change_and_reset_the_settings(tmp_path):
    async with running_bot(tmp_path, kinds=("lstm", "gru")) as run:
        guild = run.emu.world.guild.id
        shown = refusal(await run.ask("/settings show", user="admin"))
        assert "- temperature: **0.8** (default)" in shown and "- model: **lstm** (default)" in shown
        assert refusal(await run.ask("/settings temperature", user="admin", value=1.25)) == \
            "Temperature is now 1.25 on this server."
        assert refusal(await run.ask("/settings length", user="admin", value=42)) == \
            "Length is now 42 characters on this server."
        assert refusal(await run.ask("/settings model", user="admin", name="gru")) == \
            "The model is now gru on this server."
        assert (await run.store.get(guild)).changed == {"temperature", "length", "model"}
        shown = refusal(await run.ask("/settings show", user="owner"))
        assert "- length: **42** (set by an admin)" in shown
        model, temperature, _, block = poem(await run.ask("/shakespeare", seed="Q"))
        assert (model, temperature, len(block)) == ("gru", 1.25, 1 + 42)
        reset = refusal(await run.ask("/settings reset", user="admin"))
        assert reset.startswith("Settings are back to their defaults:") and "(set by an admin)" not in reset
        assert await run.store.get(guild) == DEFAULT_SETTINGS


async def test_a_change_waiting_for_a_database_lock_is_answered_late_and_holds_up_nothing(tmp_path):
    """Another process's long write transaction (an operator's sqlite3 shell) makes a settings change
    wait: the admin gets a private "thinking..." within Discord's 3 s and the answer once it lands,
    and /shakespeare goes on serving meanwhile with the settings last committed."""
    async with running_bot(tmp_path) as run:
        with held_write_lock(run.store.path):
            change = await run.emu.send_command("/settings temperature", user="admin", options={"value": 1.5})
            _, temperature, _, _ = poem(await run.ask("/shakespeare", seed="A", length=5))
            assert temperature == DEFAULT_SETTINGS.temperature
            await asyncio.sleep(SLOW_WRITE_SECONDS + 0.5)
            assert change.record.callback_type == 5 and change.record.answers == 0
        assert refusal(await change.wait_reply(15)) == "Temperature is now 1.5 on this server."
        _, temperature, _, _ = poem(await run.ask("/shakespeare", user="owner", seed="A", length=5))
        assert temperature == 1.5


async def test_a_change_that_cannot_get_the_database_lock_says_so_and_changes_nothing(tmp_path):
    async with running_bot(tmp_path, busy_timeout_ms=int(1000 * (SLOW_WRITE_SECONDS + 0.5))) as run:
        with held_write_lock(run.store.path):
            reply = await run.ask("/settings length", user="admin", value=42)
        assert refusal(reply) == str(SettingsBusyError())
        assert await run.store.get(run.emu.world.guild.id) == DEFAULT_SETTINGS
        assert refusal(await run.ask("/settings length", user="admin", value=42)) == \
            "Length is now 42 characters on this server."


async def test_a_change_that_fails_after_discord_gave_up_on_its_answer_is_logged(tmp_path, caplog):
    """The lock outlasts both Discord's 3 s (the deferral is refused: Unknown interaction) and the
    busy timeout (the change fails): with nobody left to tell, the failure is logged."""
    async with running_bot(tmp_path, busy_timeout_ms=int(1000 * (SLOW_WRITE_SECONDS + 1)),
                           refused_calls=1) as run:  # the late deferral; no second try after it
        with held_write_lock(run.store.path), caplog.at_level(logging.WARNING):
            change = await run.emu.send_command("/settings length", user="admin", options={"value": 42})
            run.emu.clock.advance(run.emu.rules.ack_window + 0.5)  # Discord stops waiting
            for _ in range(100):
                await asyncio.sleep(0.05)
                if "whose sender could not be answered failed" in caplog.text:
                    break
        assert "whose sender could not be answered failed: The settings database is busy" in caplog.text
        assert change.record.rejected_late >= 1 and not change.record.answers
        assert await run.store.get(run.emu.world.guild.id) == DEFAULT_SETTINGS


async def test_settings_are_hidden_from_members_and_refused_when_forged(tmp_path):
    async with running_bot(tmp_path) as run:
        with pytest.raises(CommandHiddenError):  # default_permissions reached Discord
            await run.emu.send_command("/settings show", user="member")
        for command, options in [("/settings show", {}), ("/settings temperature", {"value": 1.0}),
                                 ("/settings reset", {})]:
            reply = await run.ask(command, forge=True, **options)
            assert refusal(reply) == errors.NEEDS_MANAGE_SERVER
        assert await run.store.get(run.emu.world.guild.id) == DEFAULT_SETTINGS


@pytest.mark.parametrize("command, options, sentence", [
    ("/settings temperature", {"value": 5.0}, "Temperature must be a number from 0.1 to 2.0."),
    ("/settings temperature", {"value": "warm"}, errors.BAD_OPTION),
    ("/settings temperature", {"value": None}, errors.BAD_OPTION),
    ("/settings temperature", {"value": True}, errors.BAD_OPTION),
    ("/settings temperature", {"value": "1.5"}, errors.BAD_OPTION),
    ("/settings length", {"value": True}, "Length must be a whole number from 1 to 1500."),
    ("/settings temperature", {"value": 1e9}, "Temperature must be a number from 0.1 to 2.0."),
    ("/settings length", {"value": 0}, "Length must be a whole number from 1 to 1500."),
    ("/settings length", {"value": 10**9}, "Length must be a whole number from 1 to 1500."),
    ("/settings length", {"value": 2.5}, "Length must be a whole number from 1 to 1500."),
    # A model typed without picking a suggestion (autocomplete, no fixed choices): named, refused.
    ("/settings model", {"name": "gpt"}, "The gpt model is not loaded on this bot; choose lstm."),
])
async def test_forged_settings_outside_their_ranges_are_refused_with_one_sentence(tmp_path, command, options,
                                                                                  sentence):
    async with running_bot(tmp_path) as run:
        assert refusal(await run.ask(command, user="admin", forge=True, **options)) == sentence
        assert await run.store.get(run.emu.world.guild.id) == DEFAULT_SETTINGS


@pytest.mark.parametrize("options, sentence", [
    ({"temp": 0.01}, "Temperature must be a number from 0.1 to 2.0."),
    ({"temp": math.inf}, "Temperature must be a number from 0.1 to 2.0."),
    ({"temp": math.nan}, "Temperature must be a number from 0.1 to 2.0."),
    ({"temp": "hot"}, errors.BAD_OPTION),
    ({"temp": [1]}, errors.BAD_OPTION),
    ({"temp": True}, errors.BAD_OPTION),
    # One request may ask for up to 10,000 characters (a server's default stays within 1,500).
    ({"length": 10**9}, "Length must be a whole number from 1 to 10000."),
    ({"length": "300"}, "Length must be a whole number from 1 to 10000."),
    ({"seed": "x" * (MAX_SEED_CHARACTERS + 1)}, "The seed must be text of 1 to 500 characters."),
    ({"seed": 12}, "The seed must be text of 1 to 500 characters."),
    ({"seed": "\u2603\u2603"}, "The seed has no characters the model knows, even after normalising."),
    ({"model": "rnn"}, "The rnn model is not loaded on this bot; choose lstm."),
    ({"model": "x" * 5000}, f"The {'x' * 29}... model is not loaded on this bot; choose lstm."),
])
async def test_forged_shakespeare_options_are_refused_with_one_sentence(tmp_path, options, sentence):
    async with running_bot(tmp_path) as run:
        reply = await run.ask("/shakespeare", forge=True, **options)
        assert refusal(reply) == sentence
        assert run.emu.recorder.find("POST /webhooks/*") == []  # refused before any deferral


async def test_a_model_that_is_not_loaded_is_refused_and_a_stale_setting_falls_back(tmp_path):
    async with running_bot(tmp_path, kinds=("lstm",)) as run:
        sentence = "The gru model is not loaded on this bot; choose lstm."
        assert refusal(await run.ask("/shakespeare", model="gru")) == sentence
        assert refusal(await run.ask("/settings model", user="admin", name="gru")) == sentence
        # A server that chose gru on a host that still had it keeps getting text from lstm.
        await run.store.set_value(run.emu.world.guild.id, "model", "gru")
        model, _, _, _ = poem(await run.ask("/shakespeare", user="admin", seed="a", length=3))
        assert model == "lstm"
        shown = refusal(await run.ask("/settings show", user="admin"))
        assert "- model: **gru** (set by an admin; not loaded on this bot, so lstm writes instead)" in shown


def test_a_model_not_loaded_is_replaced_by_the_default_model_before_any_other():
    assert serving_model("gru", ["gru", "lstm"]) == "gru"
    assert serving_model("gru", ["char-rnn", "lstm"]) == "lstm"  # not merely the first loaded
    assert serving_model("lstm", ["gru", "rnn"]) == "gru"


async def test_about_names_the_models_their_size_and_loss_and_the_version(tmp_path):
    async with running_bot(tmp_path, kinds=("gru", "lstm")) as run:
        text = refusal(await run.ask("/about"))
        assert text.startswith(f"**Shakespeare bot {__version__}**")
        assert "- **gru**: GRU, 1 x 32, " in text and "- **lstm**: LSTM, 1 x 32, " in text
        assert f"{1.5 / math.log(2):.3f} bits/char (1.500 nats), trained 12 min" in text


async def test_one_user_writing_too_fast_is_told_when_to_try_again(tmp_path):
    async with running_bot(tmp_path) as run:
        poem(await run.ask("/shakespeare", seed="a", length=3))
        too_fast = refusal(await run.ask("/shakespeare", seed="a", length=3))
        assert too_fast == f"You're writing too fast; try again in {COOLDOWN_SECONDS:.0f} s."
        poem(await run.ask("/shakespeare", user="admin", seed="a", length=3))  # others are not held up
        run.emu.clock.advance(COOLDOWN_SECONDS)
        poem(await run.ask("/shakespeare", seed="a", length=3))


async def test_a_full_engine_queue_is_a_polite_busy_reply(tmp_path):
    # One batch row and one waiting place: two long requests fill the engine.
    async with running_bot(tmp_path, hidden_size=256, max_batch=1, max_waiting=1) as run:
        long = GenerationRequest(seed="a", model="lstm", length=2000)
        hogs: list[asyncio.Task] = []
        # Submit until the engine refuses one: then its row runs and its waiting place is taken.
        while not any(hog.done() for hog in hogs):
            hogs.append(asyncio.create_task(run.engine.generate(long)))
            await asyncio.sleep(0.01)
        assert isinstance(hogs[-1].exception(), EngineBusyError)
        try:
            assert refusal(await run.ask("/shakespeare", seed="a", length=3)) == errors.BUSY
        finally:
            for hog in hogs:
                hog.cancel()
            await asyncio.gather(*hogs, return_exceptions=True)
        # The refusal did not use up the user's cooldown: trying again at once is served.
        poem(await run.ask("/shakespeare", seed="a", length=3))


async def test_a_refused_seed_or_model_keeps_the_cooldown(tmp_path):
    async with running_bot(tmp_path) as run:
        unknown = "The seed has no characters the model knows, even after normalising."
        assert refusal(await run.ask("/shakespeare", seed="\u2603")) == unknown
        run.emu.clock.advance(COOLDOWN_SECONDS + 1)  # only the bot's own refusals (busy) give it back
        assert refusal(await run.ask("/shakespeare", model="gru")).startswith("The gru model is not loaded")
        run.emu.clock.advance(COOLDOWN_SECONDS + 1)
        poem(await run.ask("/shakespeare", seed="a", length=3))
        # Text was written, so now the cooldown holds.
        too_fast = refusal(await run.ask("/shakespeare", seed="a", length=3))
        assert too_fast.startswith("You're writing too fast")


async def test_stopping_finishes_the_reply_in_flight_and_turns_new_interactions_away(tmp_path):
    async with running_bot(tmp_path, hidden_size=256) as run:
        in_flight = await run.emu.send_command("/shakespeare", options={"seed": "a", "length": 1500})
        await in_flight.wait_ack(10)
        assert not in_flight.record.answered  # still generating when the stop comes
        run.stop.set()
        # Until the bot is draining (a fixed 50 ms was too short on a loaded machine: the /about
        # below then came before the stop and was answered).
        deadline = asyncio.get_running_loop().time() + 10
        while run.bot.in_flight.accepting:
            assert asyncio.get_running_loop().time() < deadline, "the bot never started draining"
            await asyncio.sleep(0.01)
        late = await run.emu.send_command("/about", user="admin")
        assert refusal(await late.wait_reply(10)) == errors.RESTARTING
        _, _, _, block = poem(await in_flight.wait_reply(30))
        assert len(block) == 1 + 1500
        await run.task
        assert run.bot.is_closed()


async def test_a_reply_cut_by_the_stop_bound_says_the_bot_is_restarting(tmp_path):
    async with running_bot(tmp_path, hidden_size=256, drain_seconds=0) as run:
        in_flight = await run.emu.send_command("/shakespeare", options={"seed": "a", "length": 1500})
        await in_flight.wait_ack(10)
        assert not in_flight.record.answered
        run.stop.set()
        # The public "thinking..." is replaced by the sentence rather than left on screen.
        assert (await in_flight.wait_reply(10)).content == errors.RESTARTING
        await run.task
        assert run.bot.is_closed()


async def test_an_unknown_command_or_malformed_options_get_a_sentence_not_silence(tmp_path):
    async with running_bot(tmp_path) as run:
        for name, options, sentence in [
            ("sonnet", [], errors.OUTDATED_COMMAND),
            ("shakespeare", "seed", errors.BAD_OPTION),
            ("shakespeare", [{"name": "temp", "type": 10}], errors.BAD_OPTION),
            ("settings", [{"name": "length", "type": 1, "options": [{"type": 4}]}], errors.BAD_OPTION),
        ]:
            data = {"id": str(run.emu.world.snowflakes.next()), "name": name, "type": 1, "options": options}
            sent = await run.emu.send_interaction_data(data, user="admin")
            assert refusal(await sent.wait_reply(10)) == sentence


async def test_a_fault_of_ours_logs_its_traceback_and_tells_the_user_one_sentence(tmp_path, caplog):
    async with running_bot(tmp_path) as run:
        await run.store.close()  # the database went away under the bot
        with caplog.at_level(logging.ERROR, logger="bot.runtime.client"):
            assert refusal(await run.ask("/settings show", user="admin")) == errors.INTERNAL
        [record] = [record for record in caplog.records if record.name == "bot.runtime.client"]
        assert record.getMessage().startswith("Command /settings show failed") and record.exc_info
