"""The Why? button through the real discord.py client and the emulator: a private picture of the
reply, each character on the colour of the probability the same model gives it when it reads the
text again; every refusal one private sentence."""

from __future__ import annotations

import io
import logging
import sqlite3
from typing import Any

import torch
from PIL import Image

from bot.commands.replies import GONE, NOT_OURS
from bot.commands.why import HOW_TO_READ, NOT_DRAWN, WHY_FILE
from bot.names import button_id
from bot.storage.replies import MAX_REPLY_BODY
from charlm.checkpoint import load_checkpoint
from charlm.explain import explain_png
from charlm.explain.style import bits_colour
from discord_emulator import Reply
from tests.bot.harness import buttons, poem, refusal, running_bot
from tests.helpers import TINY_TEXT


async def reply_to(run, **options: object) -> dict[str, Any]:
    reply = await run.ask("/shakespeare", user="member", **options)
    poem(reply)
    return reply.message


def key_of(message: dict[str, Any]) -> str:
    return buttons(message)["Why?"].split(":")[2]


async def why(run, message: dict[str, Any], *, user: str = "member") -> Reply:
    run.emu.clock.advance(6)  # past the per-user cooldown
    sent = await run.emu.press(message["id"], buttons(message)["Why?"], user=user)
    return await sent.wait_reply(30)


def picture(run, reply: Reply) -> tuple[bytes, Image.Image]:
    assert reply.ephemeral
    [attachment] = reply.message["attachments"]
    assert attachment["filename"] == WHY_FILE
    data = run.emu.attachment_data(attachment)
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return data, image.convert("RGB")


def background(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The colour most of a character's box has: its background (not the glyph, nor the frame and
    badge of a numbered place, which sit on its edge and above it)."""
    left, top, right, bottom = box
    return max(image.crop((left + 2, (top + bottom) // 2, right - 3, bottom - 3)).getcolors())[1]


async def test_why_shows_privately_how_likely_the_same_model_found_each_character(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await reply_to(run, seed="ROMEO:", length=200, temp=0.9)
        assert list(buttons(message)) == ["Again", "Continue", "Delete", "Why?"]
        reply = await why(run, message, user="admin")  # anyone may ask; only they see it
        # (A random model may write a carriage return, which reading turns into a newline: said.)
        assert reply.content.split("\n")[0] == HOW_TO_READ
        data, image = picture(run, reply)
        assert image.width == 1000 and 150 < image.height < 3000
        assert len(data) < 1_000_000
        assert run.emu.message(message["id"])["content"] == message["content"]  # untouched
        # The same model, the same settings, read again here: the bot drew exactly this reading.
        record = await run.store.get_reply(key_of(message))
        loaded = load_checkpoint(tmp_path / "checkpoints" / "lstm.safetensors")
        expected_png, info = explain_png(loaded, record.body, 0.9, context="ROMEO:")
        alphabet = loaded.alphabet
        text = alphabet.normalise(record.body)
        assert data == expected_png and info.reading.text == text and not info.truncated
        # The model's own probabilities, from its logits: each character's colour, and its top three.
        ids = alphabet.encode_tensor("ROMEO:" + text)
        with torch.inference_mode():
            logits, _ = loaded.model.eval()(ids[None, :-1], None)
        probabilities = torch.softmax(logits[0, len("ROMEO:") - 1:] / 0.9, dim=-1)
        chosen = probabilities.gather(1, ids[len("ROMEO:"):, None])[:, 0]
        likely, unlikely = int(chosen.argmax()), int(chosen.argmin())
        for index in (likely, unlikely):
            colour = background(image, info.boxes[index])
            bits = -torch.log2(chosen[index]).item()
            assert all(abs(a - b) <= 2 for a, b in zip(colour, bits_colour(bits), strict=True)), colour
        assert sum(background(image, info.boxes[likely])) > sum(background(image, info.boxes[unlikely]))
        assert info.surprising and unlikely in info.surprising
        for place in info.surprising:
            top = torch.topk(probabilities[place], 3)
            model_top = [alphabet.characters[int(i)] for i in top.indices]
            assert [character for character, _ in info.reading.expected[place]] == model_top


async def test_why_in_korean_keeps_words_out_of_the_picture(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await reply_to(run, seed="JULIET:", length=60)
        run.emu.world.user("member").locale = "ko"
        reply = await why(run, message)
        assert reply.content.startswith("모델이 왜 이렇게 썼는지")
        data, _ = picture(run, reply)
        record = await run.store.get_reply(key_of(message))
        loaded = load_checkpoint(tmp_path / "checkpoints" / "lstm.safetensors")
        assert data == explain_png(loaded, record.body, 0.8, context="JULIET:", unit="")[0]


async def test_a_long_reply_is_drawn_up_to_where_the_picture_ends_and_says_so(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await reply_to(run, seed="ROMEO:", length=300)
        # As a 10,000-character reply is stored (writing one takes too long for a unit test): its
        # first 2,000 characters, and the length asked for.
        body = (TINY_TEXT * 40)[:MAX_REPLY_BODY]
        with sqlite3.connect(tmp_path / "bot.sqlite3") as db:
            db.execute("UPDATE replies SET body = ?, prompt = ?, length = 10000 WHERE key = ?",
                       (body, body[-100:] + "the end of the whole text", key_of(message)))
        reply = await why(run, message)
        said = reply.content.split("\n")[1]
        shown = said.removeprefix("Only the first ").split(" of ")[0]
        assert said == f"Only the first {shown} of 10,000 characters are drawn."
        assert 500 < int(shown.replace(",", "")) <= 1600
        picture(run, reply)


async def test_why_after_a_continue_reads_the_text_after_what_came_before(tmp_path):
    async with running_bot(tmp_path) as run:
        message = await reply_to(run, seed="ROMEO:", length=50)
        run.emu.clock.advance(6)
        sent = await run.emu.press(message["id"], buttons(message)["Continue"])
        edited = await sent.wait_update(30)
        data, _ = picture(run, await why(run, edited))
        record = await run.store.get_reply(key_of(edited))
        loaded = load_checkpoint(tmp_path / "checkpoints" / "lstm.safetensors")
        assert data == explain_png(loaded, record.body, 0.8, context="ROMEO:")[0]


async def test_refusals_are_one_private_sentence(tmp_path, caplog):
    async with running_bot(tmp_path, refused_calls=1) as run:  # @original of the deleted message
        message = await reply_to(run, seed="ROMEO:", length=20)
        # Pressed again at once: the cooldown covers Why? too.
        await why(run, message)
        sent = await run.emu.press(message["id"], buttons(message)["Why?"])
        assert refusal(await sent.wait_reply(30)).startswith("You're writing too fast")
        # A forged press (a key that is not on the message): one sentence.
        run.emu.clock.advance(6)
        owner = run.emu.world.user("member").id
        forged = await run.emu.press(message["id"], button_id("why", "0123456789abcdef", owner), forge=True)
        assert refusal(await forged.wait_reply(30)) == NOT_OURS
        # Drawing that fails: one sentence, logged once.
        run.bot.engine._loaded["lstm"].model.forward = None  # the model reads nothing now
        with caplog.at_level(logging.ERROR, logger="bot.ops.pictures"):
            for _ in range(2):
                assert refusal(await why(run, message)) == NOT_DRAWN
        assert len([r for r in caplog.records if r.name == "bot.ops.pictures"]) == 1
        # The message deleted since (a press only a forged client can send): one sentence.
        run.emu.clock.advance(6)
        deleted = await run.emu.press(message["id"], buttons(message)["Delete"])
        await deleted.wait_deleted(30)
        run.emu.clock.advance(6)
        late = await run.emu.press(message["id"], buttons(message)["Why?"], forge=True)
        assert refusal(await late.wait_reply(30)) == GONE
