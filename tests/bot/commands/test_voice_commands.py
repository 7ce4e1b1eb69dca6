"""/voice through the real discord.py client and the emulator: an admin uploads a text, the trainer
process (a real child process, tiny budget) learns it, the private reply follows, and members
write with the voice; every bad input is one private sentence with nothing kept. Each test runs on
both databases (`database`: SQLite, then PostgreSQL, where the trainer child reads the text from,
and writes the voice to, the database)."""

from __future__ import annotations

import asyncio
import codecs
import io

import pytest
from PIL import Image

from bot.errors import UNREACHABLE
from bot.storage.voices import MAX_VOICES_PER_SERVER
from charlm.training.finetune import MIN_CHARACTERS
from discord_emulator import CommandHiddenError, CommandInputError
from tests.bot.harness import FAST, NO_TRAINER, TEXT, buttons, poem, refusal, running_bot, train


async def until_done(run, timeout: float = 120) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        job = await run.bot.voices.latest_job(run.emu.world.guild.id)
        if job is not None and not job.live:
            return job.state
        await asyncio.sleep(0.2)
    raise TimeoutError("the voice job did not end")


async def test_an_admin_trains_a_voice_and_members_write_with_it(tmp_path, database):
    async with running_bot(tmp_path, database_url=database, config_options=FAST) as run:
        sent = await run.emu.send_command("/voice train name:lore", user="admin",
                                          files={"file": ("lore.txt", TEXT, "text/plain")})
        reply = await sent.wait_reply(60)
        assert refusal(reply) == "Voice lore is queued: number 1 in line."
        assert await until_done(run) == "done"
        # The private reply was edited as the job went, and ends with the figures.
        for _ in range(100):
            final = run.emu.message(reply.message["id"])["content"]
            if final.startswith("Voice lore is ready"):
                break
            await asyncio.sleep(0.1)
        assert final.startswith("Voice lore is ready: your text's validation loss went from ")
        # Its picture: the newest one only, the training's line and the held-out loss as circles;
        # and a short sample in the new voice.
        edited = run.emu.message(reply.message["id"])
        [picture] = edited["attachments"]
        assert picture["filename"] == "training.png"
        assert Image.open(io.BytesIO(run.emu.attachment_data(picture))).size == (1000, 550)
        sample = final.split("\nA sample in voice lore:\n```\n", 1)[1]
        assert sample.endswith("\n```") and len(sample.replace("\u200b", "")) == 200 + len("\n```")
        # /voice status shows the same sentence and picture.
        status = await run.ask("/voice status", user="admin")
        assert refusal(status) == final.split("\n")[0]
        [again] = status.message["attachments"]
        assert again["filename"] == "training.png"
        voice = await run.bot.voices.voice(run.emu.world.guild.id, "lore")
        assert voice is not None and voice.bits_after < voice.bits_before
        job = await run.bot.voices.latest_job(run.emu.world.guild.id)
        assert await run.bot.voices.job_text(job) is None  # the text is gone
        assert not list((tmp_path / "voices" / "uploads").glob("*"))
        # A member writes with it, by name in any case; the reply says which voice wrote.
        written = await run.ask("/shakespeare", user="member", seed="All:", length=20, model="Lore")
        model, _, _, block = poem(written)
        assert model == "voice lore" and block.startswith("All:") and len(block) == 4 + 20
        # Its buttons write with it too, and Why? reads the text through it.
        run.emu.clock.advance(6)
        again = await run.emu.press(written.message["id"], buttons(written.message)["Again"], user="member")
        assert poem(await again.wait_reply(30))[0] == "voice lore"
        why = await run.emu.press(written.message["id"], buttons(written.message)["Why?"], user="member")
        assert [each["filename"] for each in (await why.wait_reply(30)).message["attachments"]] == ["why.png"]
        # The server's default; other servers never see it.
        assert refusal(await run.ask("/settings voice", user="admin", name="lore")) == \
            "Voice lore now writes by default on this server."
        run.emu.clock.advance(6)
        assert poem(await run.ask("/shakespeare", user="admin", seed="A", length=5))[0] == "voice lore"
        choices = await run.emu.autocomplete("/shakespeare model:lo", user="member")
        assert {"name": "voice lore", "value": "lore"} in choices
        listed = refusal(await run.ask("/voice list", user="admin"))
        heading = f"This server's voices (1 of {MAX_VOICES_PER_SERVER}):"
        assert listed.startswith(f"{heading}\n- **lore** (from lstm)")
        # Deleted: the next request says so in one sentence; the default falls back to lstm.
        assert refusal(await run.ask("/voice delete", user="admin", name="lore")) == "Voice lore is deleted."
        run.emu.clock.advance(6)
        gone = await run.ask("/shakespeare", user="member", seed="A", length=5, model="lore")
        assert refusal(gone).startswith("The lore model is not loaded on this bot")
        run.emu.clock.advance(6)
        assert poem(await run.ask("/shakespeare", user="admin", seed="A", length=5))[0] == "lstm"
        run.emu.clock.advance(6)
        pressed = await run.emu.press(written.message["id"], buttons(written.message)["Again"], user="member")
        assert refusal(await pressed.wait_reply(30)) == \
            "This server has no voice named lore; /voice list shows its voices."
        why = await run.emu.press(written.message["id"], buttons(written.message)["Why?"], user="member")
        assert refusal(await why.wait_reply(30)) == \
            "This server has no voice named lore; /voice list shows its voices."


@pytest.mark.parametrize(("data", "filename", "sentence"), [
    (TEXT[:MIN_CHARACTERS // 2], "short.txt", "The text is too short to learn from"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 50, "cat.txt", "That file is not text"),
    # UTF-16 may spell a NUL, which no database's text column holds: refused before either sees it.
    (codecs.BOM_UTF16_LE + (TEXT.decode() + "\x00").encode("utf-16-le"), "nul.txt", "That file is not text"),
    ("caf\u00e9 ".encode("latin-1") * 4000, "latin.txt", "The file is not UTF-8"),
    ("\U0001f3ad\U0001f480 ".encode() * MIN_CHARACTERS, "emoji.txt", "Most of the text is in characters"),
    (b"x" * (2 * 1024 * 1024 + 1), "big.txt", "The file is larger than 2 MB"),
])
async def test_a_text_that_cannot_be_learned_from_is_one_sentence_and_nothing_is_kept(
        tmp_path, database, data, filename, sentence):
    async with running_bot(tmp_path, database_url=database, config_options=FAST) as run:
        assert refusal(await train(run, data, filename=filename)).startswith(sentence)
        assert await run.bot.voices.latest_job(run.emu.world.guild.id) is None
        uploads = tmp_path / "voices" / "uploads"
        assert not uploads.exists() or not list(uploads.iterdir())


async def test_utf16_with_a_bom_is_read(tmp_path, database):
    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        data = codecs.BOM_UTF16_LE + TEXT.decode().encode("utf-16-le")
        assert refusal(await train(run, data)) == "Voice lore is queued: number 1 in line."


async def test_names_permissions_places_and_one_job_at_a_time(tmp_path, database):
    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        with pytest.raises(CommandHiddenError):
            await train(run, user="member")
        assert refusal(await train(run, user="member", forge=True)) == \
            "Only members with the Manage Server permission can manage this server's voices."
        for name, sentence in [("lstm", "The name lstm is taken"),
                               ("bad%20name", "A voice's name must be 1 to 20 letters")]:
            assert refusal(await train(run, name=name)).startswith(sentence)
        # The refused train queued nothing: this one is first in line, not "already training".
        assert refusal(await train(run)) == "Voice lore is queued: number 1 in line."
        assert refusal(await train(run, name="other")).startswith("A voice is already training")
        status = await run.ask("/voice status", user="admin")
        assert refusal(status) == "Voice lore is queued: number 1 in line."
        assert refusal(await run.ask("/voice cancel", user="admin")) == "Voice lore was cancelled."
        assert refusal(await run.ask("/voice cancel", user="admin")) == "No voice is training on this server."
        with pytest.raises(CommandInputError, match="not available in direct messages"):
            await run.emu.send_command("/voice list", user="admin", guild=False)


async def test_a_url_that_is_not_discords_attachment_is_never_fetched(tmp_path, database):
    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        forged = {"id": "123456789012345678", "filename": "lore.txt", "size": 20000,
                  "url": "http://127.0.0.1:9/attachments/1/2/lore.txt",
                  "proxy_url": "http://127.0.0.1:9/attachments/1/2/lore.txt"}
        data = {"name": "voice", "type": 1, "options": [{"name": "train", "type": 1, "options": [
            {"name": "file", "type": 11, "value": forged["id"]},
            {"name": "name", "type": 3, "value": "lore"}]}],
            "resolved": {"attachments": {forged["id"]: forged}}}
        data["id"] = next(each["id"] for each in run.emu.commands.listed(None) if each["name"] == "voice")
        sent = await run.emu.send_interaction_data(data, user="admin")
        assert refusal(await sent.wait_reply(30)).startswith("That file is not an attachment Discord sent")


async def test_a_job_queued_before_a_restart_is_trained_after_it(tmp_path, database):
    from bot.storage import open_voice_book

    async with running_bot(tmp_path, database_url=database, config_options=FAST) as run:
        book = open_voice_book(run.bot.config)  # another process's: the one that queued before a restart
        try:
            job = await book.enqueue(run.emu.world.guild.id, "lore", "lstm", 7, TEXT.decode())
            # The emulator's guild id is new each run, so the job is queued once the bot runs; what a
            # restarted bot does at start (setup_hook) finds it and starts the trainer.
            assert run.bot.trainer.process is None
            await run.bot.resume_voice_jobs()
            assert await until_done(run) == "done"
            assert (await book.job(job.id)).state == "done"
        finally:
            await book.close()


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_with_the_database_away_voice_commands_are_one_sentence_and_work_after(
        tmp_path, database, pg_server):
    async with running_bot(tmp_path, database_url=database, config_options=NO_TRAINER) as run:
        pg_server.stop()
        try:
            for command, options in (("/voice list", {}), ("/voice status", {}), ("/voice cancel", {})):
                assert refusal(await run.ask(command, user="admin", **options)) == str(UNREACHABLE), command
            assert refusal(await train(run)) == str(UNREACHABLE)
            # Suggestions answer with what they have: the models, without the server's voices.
            models = await run.emu.autocomplete("/shakespeare model:", user="admin")
            assert [choice["value"] for choice in models] == ["lstm"]
            assert await run.emu.autocomplete("/settings voice name:", user="admin") == []
        finally:
            pg_server.start()
        assert refusal(await run.ask("/voice list", user="admin")).startswith("This server has no voices")
        # The refused train queued nothing: this one is first in line, not "already training".
        assert refusal(await train(run)) == "Voice lore is queued: number 1 in line."
