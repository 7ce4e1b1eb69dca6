"""Discord's rules for the commands of a PUT .../commands, beyond what its published schema says.

From https://discord.com/developers/docs/interactions/application-commands: names (and their
localizations) match `^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$`, lowercase where a letter has a
lowercase form; localization keys are Discord's locales (docs/reference, Locales); a command's
names, descriptions and choice values total at most 8000 characters, counting the longest
localization of each field; a localized option name differs from its sibling options' names,
default and in that locale. Every refusal is Discord's 400 Invalid Form Body, at the field's path.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import invalid_form_body
from .kinds import CHAT_INPUT, INTEGER_OPTION, NUMBER_OPTION, STRING_OPTION

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
AUTOCOMPLETE_TYPES = (STRING_OPTION, INTEGER_OPTION, NUMBER_OPTION)
MAX_NAME = 32
MAX_DESCRIPTION = 100  # a description's characters, and a choice name's
MAX_COMMAND_SIZE = 8000
# The locales of Discord's reference (developers/reference.mdx, Locales).
LOCALES = frozenset({
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl", "no",
    "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th", "zh-CN",
    "ja", "zh-TW", "ko",
})


def _name_character(character: str) -> bool:
    """One character of `[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]`: a letter, a number, a
    Devanagari or Thai character (their vowel signs are marks, not letters), or - _ '."""
    if character in "-_'" or unicodedata.category(character)[0] in "LN":
        return True
    code = ord(character)
    return 0x0900 <= code <= 0x097F or 0xA8E0 <= code <= 0xA8FF or 0x0E00 <= code <= 0x0E7F


def valid_name(name: Any) -> bool:
    """A slash command's or option's name (or a localization of it) as Discord accepts it."""
    return (isinstance(name, str) and 1 <= len(name) <= MAX_NAME and name == name.lower()
            and all(map(_name_character, name)))


def _invalid_name(path: list[str]) -> Exception:
    return invalid_form_body(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _check_localizations(node: dict[str, Any], path: list[str], *, choice: bool = False) -> None:
    """name_localizations and description_localizations: Discord's locale keys, each value under
    the rules of the field it translates (a choice's name: any text of 1-100 characters)."""
    for field in ("name_localizations", "description_localizations"):
        for locale, value in (node.get(field) or {}).items():
            where = [*path, field, locale]
            if locale not in LOCALES:
                raise invalid_form_body(where, "LOCALE_INVALID", f"{locale!r} is not a valid locale")
            if field == "name_localizations" and not choice:
                if not valid_name(value):
                    raise _invalid_name(where)
            elif not (isinstance(value, str) and 1 <= len(value) <= MAX_DESCRIPTION):
                raise invalid_form_body(where, "BASE_TYPE_BAD_LENGTH",
                                        f"Must be between 1 and {MAX_DESCRIPTION} in length.")


def _check_distinct_localized_names(options: list[dict[str, Any]], path: list[str]) -> None:
    """A localized option name differs from the other options' default names and from their
    names in the same locale (application-commands.mdx, Localization)."""
    defaults = [option.get("name") for option in options]
    by_locale: dict[str, set[str]] = {}
    for index, option in enumerate(options):
        for locale, value in (option.get("name_localizations") or {}).items():
            others = {name for other, name in enumerate(defaults) if other != index}
            if value in others or value in by_locale.setdefault(locale, set()):
                raise invalid_form_body(
                    [*path, "options", str(index), "name_localizations", locale],
                    "APPLICATION_COMMAND_OPTION_NAME_NOT_UNIQUE", "Option names must be unique per locale",
                )
            by_locale[locale].add(value)


def _field_size(node: dict[str, Any], field: str) -> int:
    """A field's characters as the 8000 limit counts them: its longest localization, or itself."""
    values = [node.get(field)] + list((node.get(f"{field}_localizations") or {}).values())
    return max((len(str(value)) for value in values if value is not None), default=0)


def command_size(node: dict[str, Any]) -> int:
    """Name, description and value characters of a command, its options (subcommands and groups
    too) and their choices, each field counted at its longest localization."""
    size = _field_size(node, "name") + _field_size(node, "description")
    if "value" in node:
        size += len(str(node["value"]))
    for child in (node.get("options") or []) + (node.get("choices") or []):
        size += command_size(child)
    return size


def _check_options(options: list[dict[str, Any]], path: list[str]) -> None:
    seen_optional = False
    _check_distinct_localized_names(options, path)
    for index, option in enumerate(options):
        where = [*path, "options", str(index)]
        if not valid_name(option.get("name", "")):
            raise _invalid_name([*where, "name"])
        _check_localizations(option, where)
        for choice_index, choice in enumerate(option.get("choices") or []):
            _check_localizations(choice, [*where, "choices", str(choice_index)], choice=True)
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _check_options(option.get("options") or [], where)
            continue
        if option.get("autocomplete"):
            if option.get("type") not in AUTOCOMPLETE_TYPES:
                raise invalid_form_body(
                    [*where, "autocomplete"], "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be configured for this type of option",
                )
            if option.get("choices"):
                raise invalid_form_body(
                    [*where, "autocomplete"], "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
                    "Autocomplete cannot be used with choices",
                )
        if option.get("required"):
            if seen_optional:
                raise invalid_form_body(
                    where, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def check_definition(index: int, definition: dict[str, Any]) -> None:
    """Discord's rules for one command of a PUT .../commands: a slash command has a lowercase
    name and a description, localizations under the same rules, and 8000 characters at most; a
    context menu (USER or MESSAGE) has a name of up to 32 characters, which may be mixed case and
    hold spaces, and neither description nor options."""
    kind = definition.get("type") or CHAT_INPUT
    if kind == CHAT_INPUT:
        if not valid_name(definition.get("name") or ""):
            raise _invalid_name([str(index), "name"])
        _check_localizations(definition, [str(index)])
        _check_options(definition.get("options") or [], [str(index)])
        if not definition.get("description"):
            raise invalid_form_body(
                [str(index), "description"], "BASE_TYPE_REQUIRED", "This field is required"
            )
        if command_size(definition) > MAX_COMMAND_SIZE:
            raise invalid_form_body(
                [str(index)], "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({MAX_COMMAND_SIZE})",
            )
        return
    name = definition.get("name") or ""
    if not 1 <= len(name) <= MAX_NAME or name != name.strip():
        raise _invalid_name([str(index), "name"])
    if definition.get("description"):
        raise invalid_form_body(
            [str(index), "description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
            "Context menu commands cannot have description",
        )
    if definition.get("options"):
        raise invalid_form_body(
            [str(index), "options"], "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS_INVALID",
            "Context menu commands cannot have options",
        )
