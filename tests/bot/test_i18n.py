"""Korean and English: every sentence and command string exists in both, and a Korean Discord client
gets Korean from the real bot while the models still write English."""

from __future__ import annotations

import string

import discord
from discord import app_commands

from bot import errors
from bot.commands import add_commands
from bot.i18n import COMMAND_KOREAN, KOREAN, Phrase, localize
from tests.bot.harness import refusal, running_bot


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_sentence_has_korean_with_the_same_placeholders() -> None:
    for english, korean in KOREAN.items():
        assert korean.strip(), english
        assert placeholders(korean) == placeholders(english), english
        if english.strip() and any(letter.isalpha() for letter in english) and english != korean:
            assert any("\uac00" <= letter <= "\ud7a3" for letter in korean), f"not Korean: {korean!r}"


def test_every_command_name_description_and_option_has_korean() -> None:
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))
    add_commands(tree)
    strings = []
    for command in tree.walk_commands():
        strings += [command.name]
        if isinstance(command, (app_commands.Command, app_commands.Group)):
            strings.append(command.description)
        if isinstance(command, app_commands.Command):
            for parameter in command.parameters:
                strings += [parameter.name, parameter.description]
    for menu in tree.get_commands(type=discord.AppCommandType.message):
        strings.append(menu.name)
    missing = sorted({text for text in strings if text not in COMMAND_KOREAN})
    assert not missing, f"no Korean in bot/i18n.py's COMMAND_KOREAN for: {missing}"
    for text in strings:
        korean = COMMAND_KOREAN[text]
        if text == text.lower() and " " not in text:  # a slash command or option name
            assert korean == korean.lower() and " " not in korean and len(korean) <= 32


def test_a_phrase_is_its_english_text_and_says_itself_in_korean() -> None:
    phrase = Phrase("The {model} model is not loaded on this bot; choose {choices}.", model="rnn",
                    choices=("gru", "lstm"))
    assert phrase == "The rnn model is not loaded on this bot; choose gru or lstm."
    assert localize(phrase, "ko") == "rnn 모델은 이 봇에 없어요. gru 또는 lstm 중에서 골라 주세요."
    assert localize(phrase, discord.Locale.american_english) == str(phrase)
    assert localize(errors.BUSY, discord.Locale.korean) == KOREAN[str(errors.BUSY)]


async def test_a_korean_client_reads_korean_from_the_bot_and_the_commands(tmp_path) -> None:
    async with running_bot(tmp_path) as run:
        run.emu.world.user("member").locale = "ko"
        run.emu.world.user("admin").locale = "ko"
        synced = run.emu.commands.find("shakespeare", None)
        assert synced is not None and synced["name_localizations"]["ko"] == "셰익스피어"
        assert synced["description_localizations"]["ko"] == COMMAND_KOREAN[synced["description"]]

        reply = await run.ask("/shakespeare", seed="ROMEO:", length=10)
        assert not reply.ephemeral and reply.content.startswith("*lstm, 온도 0.8*\n```\nROMEO:")
        block = reply.content.split("```\n", 1)[1].rsplit("\n```", 1)[0].replace("\u200b", "")
        assert len(block) == len("ROMEO:") + 10  # the model's text, untranslated
        again = await run.ask("/shakespeare", seed="again", length=5)
        assert refusal(again).startswith("너무 빨리 쓰고 있어요.")
        assert refusal(await run.ask("/settings show", forge=True)) == KOREAN[str(errors.NEEDS_MANAGE_SERVER)]
        changed = await run.ask("/settings length", user="admin", value=42)
        assert refusal(changed) == "이제 이 서버에서는 42자를 써요."
        shown = refusal(await run.ask("/settings show", user="admin"))
        assert shown.startswith("이 서버의 설정:\n- 온도: **0.8** (기본값)\n- 길이: **42** (관리자가 정함)")
        about = refusal(await run.ask("/about", user="admin"))
        assert about.startswith("**셰익스피어 봇 ") and "매개변수" in about
        # Another member's client is English: the same bot answers them in English.
        korean = await run.ask("/settings show", user="member", guild=False, forge=True)
        assert refusal(korean).startswith("서버 설정은 서버 안에서만")  # member is still Korean here
        run.emu.world.user("member").locale = "en-US"
        assert refusal(await run.ask("/settings show", guild=False, forge=True)) == str(errors.NEEDS_SERVER)


async def test_a_changed_translation_changes_the_synced_command_set(monkeypatch) -> None:
    # The stored hash decides whether a start syncs: it must cover the Korean too, or a corrected
    # translation would never reach Discord.
    from bot.commands.translator import BotTranslator
    from bot.runtime.sync import command_set_hash

    client = discord.Client(intents=discord.Intents.none())
    client._connection.application_id = 1  # what a logged-in client knows
    tree = app_commands.CommandTree(client)
    add_commands(tree)
    plain = await command_set_hash(tree, None)
    await tree.set_translator(BotTranslator())
    translated = await command_set_hash(tree, None)
    monkeypatch.setitem(COMMAND_KOREAN, "about", "봇소개")
    retranslated = await command_set_hash(tree, None)
    assert len({plain, translated, retranslated}) == 3
