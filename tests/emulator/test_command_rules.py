"""Localized command definitions against Discord's rules (interactions/application-commands.mdx:
names and Localization; reference.mdx: Locales): a bot syncing one that breaks them is refused
with 400 Invalid Form Body at the field, as a real client's PUT .../commands would be."""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from discord_emulator import Emulator
from discord_emulator.command_rules import MAX_COMMAND_SIZE, command_size


async def sync(emu: Emulator, definitions: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    url = f"{emu.api_base}/applications/{emu.world.application_id}/commands"
    headers = {"Authorization": f"Bot {emu.world.token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.put(url, json=definitions) as answer,
    ):
        return answer.status, await answer.json()


def command(**fields: Any) -> dict[str, Any]:
    return {"name": "greet", "description": "Say hello.", "type": 1, **fields}


def option(name: str, **fields: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": "Some text.", **fields}


def error_at(body: dict[str, Any], *path: str) -> str:
    node = body["errors"]
    for key in path:
        node = node[key]
    return node["_errors"][0]["code"]


@pytest.mark.parametrize("localizations, code", [
    ({"xx": "salut"}, "LOCALE_INVALID"),
    ({"en": "hello"}, "LOCALE_INVALID"),             # en-US and en-GB only
    ({"ar": "مرحبا"}, "LOCALE_INVALID"),             # in the OpenAPI enum, not in the docs' list
    ({"fr": "Salut"}, "APPLICATION_COMMAND_INVALID_NAME"),   # a letter with a lowercase form
    ({"fr": "dis bonjour"}, "APPLICATION_COMMAND_INVALID_NAME"),
    ({"fr": "x" * 33}, "APPLICATION_COMMAND_INVALID_NAME"),
    ({"fr": ""}, "APPLICATION_COMMAND_INVALID_NAME"),
    ({"de": "grüß!"}, "APPLICATION_COMMAND_INVALID_NAME"),
], ids=["unknown", "bare-en", "ar", "uppercase", "space", "too-long", "empty", "punctuation"])
async def test_localized_names_outside_discords_rules_are_refused(
    emu: Emulator, localizations: dict[str, str], code: str
) -> None:
    status, body = await sync(emu, [command(name_localizations=localizations)])
    locale = next(iter(localizations))
    assert status == 400 and body["code"] == 50035
    assert error_at(body, "0", "name_localizations", locale) == code
    # The same rules hold for an option's localized name.
    status, body = await sync(emu, [command(options=[option("who", name_localizations=localizations)])])
    assert status == 400 and error_at(body, "0", "options", "0", "name_localizations", locale) == code


async def test_names_in_every_script_discord_allows_are_accepted(emu: Emulator) -> None:
    names = {"hi": "नमस्ते", "th": "สวัสดี", "ja": "挨拶", "ko": "인사", "de": "grüße", "ru": "привет",
             "el": "γειά", "zh-TW": "問候", "es-419": "saludo-a_l'amigo", "en-GB": "greet"}
    status, body = await sync(emu, [command(name_localizations=names,
                                            description_localizations={"fr": "Dire bonjour."})])
    assert status == 200 and body[0]["name_localizations"] == names


async def test_localized_descriptions_keep_the_description_limits(emu: Emulator) -> None:
    status, body = await sync(emu, [command(description_localizations={"fr": "x" * 101})])
    assert status == 400 and error_at(body, "0", "description_localizations", "fr") == "BASE_TYPE_BAD_LENGTH"
    status, body = await sync(emu, [command(description_localizations={"fr-FR": "Bonjour."})])
    assert status == 400 and error_at(body, "0", "description_localizations", "fr-FR") == "LOCALE_INVALID"


async def test_localized_option_names_are_distinct_within_their_command(emu: Emulator) -> None:
    # The same as another option's default name.
    clash = [option("who"), option("what", name_localizations={"fr": "who"})]
    status, body = await sync(emu, [command(options=clash)])
    assert status == 400
    not_unique = "APPLICATION_COMMAND_OPTION_NAME_NOT_UNIQUE"
    assert error_at(body, "0", "options", "1", "name_localizations", "fr") == not_unique
    # The same as another option's name in that locale.
    twins = [option("who", name_localizations={"fr": "qui"}),
             option("what", name_localizations={"fr": "qui"})]
    status, body = await sync(emu, [command(options=twins)])
    assert status == 400 and "1" in body["errors"]["0"]["options"]
    # In different locales, or equal to its own default name, it is fine.
    fine = [option("who", name_localizations={"fr": "qui", "de": "who"}),
            option("what", name_localizations={"de": "qui"})]
    assert (await sync(emu, [command(options=fine)]))[0] == 200


def choices(count: int, localized: bool) -> list[dict[str, Any]]:
    made = []
    for number in range(count):
        choice: dict[str, Any] = {"name": f"c{number}", "value": f"v{number}"}
        if localized:
            choice["name_localizations"] = {"fr": f"{number:03d}" + "é" * 97}
        made.append(choice)
    return made


async def test_a_command_over_8000_characters_counting_its_longest_localizations_is_refused(
    emu: Emulator,
) -> None:
    """Name, description and value characters of the command, its options and choices; with
    localizations, each field counts at its longest (application-commands.mdx, 8000 limit)."""
    plain = command(options=[option(f"pick{n}", choices=choices(25, False)) for n in range(4)])
    localized = command(options=[option(f"pick{n}", choices=choices(25, True)) for n in range(4)])
    assert command_size(plain) < 1000 < MAX_COMMAND_SIZE < command_size(localized)
    assert (await sync(emu, [plain]))[0] == 200
    status, body = await sync(emu, [localized])
    assert status == 400 and error_at(body, "0") == "APPLICATION_COMMAND_TOO_LARGE"


async def test_a_discord_py_bot_syncing_a_bad_localization_is_refused(emu: Emulator) -> None:
    """The same refusal reaches a real client: discord.py's tree.sync raises it."""
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)

    class Names(app_commands.Translator):
        async def translate(self, string: app_commands.locale_str, locale: discord.Locale,
                            context: app_commands.TranslationContextTypes) -> str | None:
            return "Bonjour" if locale is discord.Locale.french and string.message == "greet" else None

    @tree.command(name="greet", description="Say hello.")
    async def greet(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("hello")

    saved = discord.http.Route.BASE
    discord.http.Route.BASE = emu.api_base
    try:
        await tree.set_translator(Names())
        await client.login(emu.world.token)
        with pytest.raises(discord.HTTPException) as refused:
            await tree.sync()
        assert refused.value.code == 50035
        assert "name_localizations.fr: Command name is invalid" in str(refused.value)
    finally:
        await client.close()
        discord.http.Route.BASE = saved
