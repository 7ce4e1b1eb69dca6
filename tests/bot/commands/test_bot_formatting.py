"""The /shakespeare reply: nothing escapes its code block, and it always fits Discord's 2000 limit."""

from __future__ import annotations

import pytest

from bot.commands.formatting import MESSAGE_LIMIT, discord_length, generation_reply


def body(reply: str) -> str:
    """The code block's content, after checking the reply has exactly one block."""
    header, opening, rest = reply.partition("\n```\n")
    assert opening and rest.endswith("\n```")
    inner = rest[: -len("\n```")]
    assert "``" not in inner.replace("\u200b", "x")  # no two backticks ever meet
    return inner


def test_a_short_reply_is_header_then_seed_and_text_in_a_code_block():
    reply = generation_reply("ROMEO:", "\nO, she doth teach the torches to burn bright!", model="lstm",
                             temperature=0.8)
    assert reply == "*lstm, temperature 0.8*\n```\nROMEO:\nO, she doth teach the torches to burn bright!\n```"


@pytest.mark.parametrize("seed", ["```", "a```b", "`", "``````", "```\n@everyone\n```**bold**", "end `"])
def test_backticks_in_the_seed_or_text_cannot_close_the_code_block(seed):
    reply = generation_reply(seed, "and then ``` more `", model="gru", temperature=1.0)
    shown = body(reply)
    assert shown.replace("\u200b", "") == seed + "and then ``` more `"
    assert reply.count("```") == 2


def test_markdown_and_mentions_are_shown_as_typed_inside_the_block():
    seed = "**bold** _it_ ~~s~~ ||spoiler|| # Heading\n> quote [link](https://x.y) <@123> <@&456> @everyone"
    reply = generation_reply(seed, "", model="lstm", temperature=0.5)
    assert body(reply) == seed


def test_a_model_name_cannot_inject_markdown_into_the_header():
    reply = generation_reply("a", "b", model="big*_model", temperature=0.8)
    assert reply.startswith("*big\\*\\_model, temperature 0.8*\n")


@pytest.mark.parametrize("seed_length, text_length", [(500, 1500), (10_000, 2000), (10, 5000), (1990, 5)])
def test_the_reply_never_exceeds_2000_characters_and_says_what_was_cut(seed_length, text_length):
    seed, text = "S" * (seed_length - 1) + "!", "T" * text_length
    reply = generation_reply(seed, text, model="lstm", temperature=0.8)
    assert discord_length(reply) <= MESSAGE_LIMIT
    shown = body(reply)
    if seed_length + text_length > 1900:
        assert "shortened" in reply or "cut" in reply
    if "seed shortened" in reply:
        assert shown.startswith("\u2026S") and "S!" in shown  # the seed's end, which the model continued
    if "text cut" in reply:
        assert shown.endswith("T\u2026")
    assert "T" in shown  # some generated text is always shown


def test_backticks_count_twice_after_neutralising_and_still_fit():
    reply = generation_reply("`" * 500, "`" * 1500, model="lstm", temperature=0.8)
    assert discord_length(reply) <= MESSAGE_LIMIT
    body(reply)


def test_characters_outside_the_basic_plane_count_as_two():
    assert discord_length("a\U0001f3ad") == 3
    reply = generation_reply("\U0001f3ad" * 500, "x" * 1500, model="lstm", temperature=0.8)
    assert discord_length(reply) <= MESSAGE_LIMIT
    assert len(reply.encode("utf-16-le")) // 2 <= MESSAGE_LIMIT
