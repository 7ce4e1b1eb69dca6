"""The commands a bot has synced, and the slash-command line a person types in Discord's client.

Discord's client only sends what the synced definitions allow (types, ranges, choices, required
options); `forge=True` skips those checks to send what only a hand-made payload would carry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cdn import guess_content_type
from .command_rules import SUB_COMMAND, SUB_COMMAND_GROUP, check_definition
from .errors import CommandInputError, invalid_form_body
from .kinds import CHAT_INPUT, MAX_SAFE_INTEGER
from .messages import attachment_objects
from .models import Guild, World

STRING, INTEGER, BOOLEAN, USER, CHANNEL, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 10, 11
TYPE_NAMES = {STRING: "text", INTEGER: "a whole number", BOOLEAN: "true or false",
              USER: "a user", CHANNEL: "a channel", NUMBER: "a number", ATTACHMENT: "a file"}


class CommandRegistry:
    """Global and per-guild commands, as bulk-overwritten by PUT .../commands. A name is unique
    per command type: a slash command and a message command may share one."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._scopes: dict[int | None, dict[tuple[int, str], dict[str, Any]]] = {}
        self._ids: dict[tuple[int | None, int, str], int] = {}
        self.syncs = 0

    def replace(self, guild_id: int | None, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[tuple[int, str]] = set()
        for index, definition in enumerate(definitions):
            check_definition(index, definition)
            key = (definition.get("type") or CHAT_INPUT, definition["name"])
            if key in seen:
                raise invalid_form_body(
                    [str(index), "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
        scope = {
            (definition.get("type") or CHAT_INPUT, definition["name"]): self._stored(guild_id, definition)
            for definition in definitions
        }
        self._scopes[guild_id] = scope
        self.syncs += 1
        return list(scope.values())

    def _stored(self, guild_id: int | None, definition: dict[str, Any]) -> dict[str, Any]:
        kind = definition.get("type") or CHAT_INPUT
        # Discord keeps a command's id across overwrites as long as its name stays the same.
        command_id = self._ids.setdefault((guild_id, kind, definition["name"]), self._world.snowflakes.next())
        permissions = definition.get("default_member_permissions")
        stored: dict[str, Any] = {
            "id": str(command_id),
            "application_id": str(self._world.application_id),
            "version": str(self._world.snowflakes.next()),
            "type": kind,
            "name": definition["name"],
            "name_localizations": definition.get("name_localizations"),
            "description": definition.get("description") or "",
            "description_localizations": definition.get("description_localizations"),
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": definition.get("dm_permission") is not False,
            "contexts": definition.get("contexts"),
            "integration_types": definition.get("integration_types") or [0],
            "nsfw": bool(definition.get("nsfw")),
        }
        if kind == CHAT_INPUT:
            stored["options"] = [_stored_option(option) for option in definition.get("options") or []]
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        return stored

    def listed(self, guild_id: int | None) -> list[dict[str, Any]]:
        return list(self._scopes.get(guild_id, {}).values())

    def find(self, name: str, guild_id: int | None, kind: int = CHAT_INPUT) -> dict[str, Any] | None:
        """The definition Discord's client would run: the guild's own first, then the global one."""
        key = (kind, name)
        if guild_id is not None and key in self._scopes.get(guild_id, {}):
            return self._scopes[guild_id][key]
        return self._scopes.get(None, {}).get(key)

    def names(self, guild_id: int | None, kind: int = CHAT_INPUT) -> list[str]:
        """The names of the commands of one type (slash commands by default) usable there."""
        scopes = [self._scopes.get(None, {})]
        if guild_id is not None:
            scopes.append(self._scopes.get(guild_id, {}))
        return sorted({name for scope in scopes for (each, name) in scope if each == kind})


def _stored_option(option: dict[str, Any]) -> dict[str, Any]:
    stored = {key: value for key, value in option.items() if value is not None}
    if "options" in stored:
        stored["options"] = [_stored_option(child) for child in stored["options"]]
    return stored


@dataclass(frozen=True)
class Upload:
    """A file a person attaches to a command option (type 11), before Discord's client sends it."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class ParsedCommand:
    definition: dict[str, Any]
    data: dict[str, Any]
    uploads: dict[str, Upload] = field(default_factory=dict)
    """The files the command carries, by the attachment id its option's value names; the
    attachment objects are in data["resolved"]["attachments"]. Stored on the CDN once sent."""


def _split_words(text: str) -> tuple[str, str]:
    word, _, rest = text.strip().partition(" ")
    return word, rest


def _pairs(text: str, options: list[dict[str, Any]]) -> dict[str, str]:
    """`seed:To be or not temp:0.8` -> {"seed": "To be or not", "temp": "0.8"}."""
    text = text.strip()
    if not text:
        return {}
    names = sorted((option["name"] for option in options), key=len, reverse=True)
    if not names:
        raise CommandInputError(f"This command takes no options, but got {text!r}.")
    marker = re.compile(r"(?:^|\s)(" + "|".join(map(re.escape, names)) + r"):")
    matches = list(marker.finditer(text))
    if not matches or matches[0].start() != 0:
        raise CommandInputError(
            f"Unexpected {text[: matches[0].start() if matches else None].strip()!r}: "
            f"options are written name:value, one of {', '.join(sorted(names))}."
        )
    pairs: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = match.group(1)
        if name in pairs:
            raise CommandInputError(f"Option {name} is given twice.")
        pairs[name] = text[match.end() : end].strip()
    return pairs


class OptionReader:
    """Turns typed text into option values the way Discord's client does, and checks them."""

    def __init__(self, world: World, guild: Guild, *, forge: bool, size_limit: int = 0) -> None:
        self._world = world
        self._guild = guild
        self._forge = forge
        self._size_limit = size_limit
        self.resolved: dict[str, dict[str, Any]] = {}

    def from_text(self, option: dict[str, Any], raw: str) -> Any:
        kind = option["type"]
        for choice in option.get("choices") or []:
            if raw.lower() == choice["name"].lower():
                return choice["value"]
        if kind == ATTACHMENT:
            return self._read_file(option["name"], raw)
        try:
            if kind == INTEGER:
                # A float here is refused by check() unless forged (NaN, inf, 1e9 as an "integer").
                return int(raw) if re.fullmatch(r"[-+]?\d+", raw) else float(raw)
            if kind == NUMBER:
                return float(raw)
            if kind == BOOLEAN:
                return {"true": True, "false": False}[raw.lower()]
            if kind == USER:
                return self._resolve_user(raw)
            if kind == CHANNEL:
                return self._resolve_channel(raw)
        except (ValueError, KeyError, OverflowError):
            if not self._forge:
                raise CommandInputError(
                    f"{option['name']} must be {TYPE_NAMES.get(kind, 'valid')}, not {raw!r}."
                ) from None
        return raw

    def check(self, option: dict[str, Any], value: Any) -> None:
        """Discord's client refuses values outside the synced type, range, length or choices."""
        if self._forge:
            return
        name, kind = option["name"], option["type"]
        if kind == ATTACHMENT:
            self._check_upload(name, value)
            return
        expected = {STRING: str, INTEGER: int, NUMBER: (int, float), BOOLEAN: bool}.get(kind, str)
        if not isinstance(value, expected) or (isinstance(value, bool) and kind != BOOLEAN):
            raise CommandInputError(f"{name} must be {TYPE_NAMES.get(kind, 'valid')}.")
        if kind in (INTEGER, NUMBER):
            if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
                raise CommandInputError(f"{name} must be a finite number.")
            low, high = option.get("min_value"), option.get("max_value")
            if (low is not None and value < low) or (high is not None and value > high):
                raise CommandInputError(f"{name} must be between {low} and {high}.")
        if kind == STRING:
            low, high = option.get("min_length", 0), option.get("max_length", 6000)
            if not low <= len(value) <= high:
                raise CommandInputError(f"{name} must be {low} to {high} characters long.")
        choices = option.get("choices")
        if choices and value not in [choice["value"] for choice in choices]:
            listed = ", ".join(str(choice["name"]) for choice in choices)
            raise CommandInputError(f"{name} must be one of: {listed}.")

    def _read_file(self, name: str, raw: str) -> Upload | str:
        """`file:path/to/lore.txt`: the local file, as the person picks it in the client. Forged,
        a name that is no file is sent as the value itself (an attachment id, say)."""
        path = Path(raw).expanduser()
        if not path.is_file():
            if self._forge:
                return raw
            raise CommandInputError(f"{name}: there is no file {raw!r} to attach.")
        size = path.stat().st_size
        if self._size_limit and size > self._size_limit and not self._forge:
            raise CommandInputError(self._too_large(path.name, size))
        return Upload(path.name, path.read_bytes())

    def _too_large(self, filename: str, size: int) -> str:
        return (f"{filename} is too large to attach: {size} bytes, and files may be at most "
                f"{self._size_limit / 1024 / 1024:g} MiB ({self._size_limit} bytes) here "
                "(the interaction's attachment_size_limit).")

    def _check_upload(self, name: str, value: Any) -> None:
        if not isinstance(value, Upload):
            raise CommandInputError(
                f"{name} must be a file: give it with files={{{name!r}: (filename, bytes)}} or type "
                f"{name}:path/to/file (forge=True sends any value)."
            )
        if self._size_limit and len(value.data) > self._size_limit:
            raise CommandInputError(self._too_large(value.filename, len(value.data)))

    def attach(self, upload: Upload, channel_id: int) -> str:
        """The attachment a file becomes once the client has uploaded it: a new id, its object in
        resolved.attachments (ephemeral, served at .../ephemeral-attachments/...)."""
        attachment_id = str(self._world.snowflakes.next())
        given = {"id": attachment_id, "filename": upload.filename, "size": len(upload.data),
                 "ephemeral": True}
        content_type = upload.content_type or guess_content_type(upload.filename, upload.data)
        if content_type:
            given["content_type"] = content_type
        self.resolved.setdefault("attachments", {})[attachment_id] = attachment_objects(
            self._world, [given], str(channel_id))[0]
        return attachment_id

    def _resolve_user(self, raw: str) -> str:
        match = re.fullmatch(r"<@!?(\d+)>|(\d{15,20})", raw)
        user = (
            self._world.user_by_id(int(match.group(1) or match.group(2)))
            if match
            else self._world.users.get(raw.removeprefix("@"))
        )
        if user is None:
            raise KeyError(raw)
        self.resolved.setdefault("users", {})[str(user.id)] = user.to_dict()
        member = self._guild.members.get(user.id)
        if member is not None:
            data = member.to_dict(self._guild.permissions_of(user.id))
            del data["user"]
            self.resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)

    def _resolve_channel(self, raw: str) -> str:
        name = raw.removeprefix("#")
        for channel in self._guild.channels.values():
            if name in (channel.name, str(channel.id)):
                self.resolved.setdefault("channels", {})[str(channel.id)] = {
                    "id": str(channel.id), "name": channel.name, "type": channel.type,
                    "permissions": str(self._guild.permissions_of(self._world.bot.id)),
                }
                return str(channel.id)
        raise KeyError(raw)


@dataclass(frozen=True)
class _Typed:
    definition: dict[str, Any]
    chain: list[dict[str, Any]]
    """The subcommand (group) levels chosen, outermost first."""
    node: dict[str, Any]
    """The (sub)command whose options are being typed."""
    rest: str
    guild: Guild


def _typed(world: World, registry: CommandRegistry, text: str, guild_id: int | None) -> _Typed:
    text = text.strip()
    if not text.startswith("/"):
        raise CommandInputError("A command starts with '/', e.g. /about.")
    name, rest = _split_words(text[1:])
    definition = registry.find(name, guild_id)
    if definition is None:
        known = ", ".join(f"/{known}" for known in registry.names(guild_id)) or "none synced yet"
        raise CommandInputError(f"/{name} is not a command here. Commands: {known}.")

    chain: list[dict[str, Any]] = []
    node = definition
    while any(child["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for child in node["options"]):
        word, rest = _split_words(rest)
        children = {child["name"]: child for child in node["options"]}
        if word not in children:
            typed = " ".join([name, *(level["name"] for level in chain)])
            raise CommandInputError(f"/{typed} needs one of: {', '.join(children)}.")
        node = {**children[word], "options": children[word].get("options") or []}
        chain.append(node)
    # Users and channels resolve in the guild the command is typed in (a DM: the first guild).
    guild = world.guild if guild_id is None else world.guild_by_id(guild_id)
    return _Typed(definition, chain, node, rest, guild)


def _command_data(typed: _Typed, leaf: list[dict[str, Any]], reader: OptionReader) -> dict[str, Any]:
    for level in reversed(typed.chain):
        leaf = [{"name": level["name"], "type": level["type"], "options": leaf}]
    definition = typed.definition
    data: dict[str, Any] = {
        "id": definition["id"], "name": definition["name"], "type": definition["type"], "options": leaf,
    }
    if "guild_id" in definition:
        data["guild_id"] = definition["guild_id"]
    if reader.resolved:
        data["resolved"] = reader.resolved
    return data


def parse_command(
    world: World,
    registry: CommandRegistry,
    text: str,
    *,
    guild_id: int | None,
    options: dict[str, Any] | None = None,
    forge: bool = False,
    files: dict[str, Upload] | None = None,
    channel_id: int | None = None,
    size_limit: int = 0,
    resolved: dict[str, dict[str, Any]] | None = None,
) -> ParsedCommand:
    """The `data` of an APPLICATION_COMMAND interaction for a typed line like `/settings reset`.

    `options` adds values as exact JSON (seeds with newlines, NaN, strings where numbers belong).
    `files` attaches files to attachment options (type 11), as does typing `name:path/to/file`;
    each becomes an attachment in channel `channel_id` (refused above `size_limit` bytes), its
    id the option's value. `resolved` (forged commands) is merged into data["resolved"].
    """
    typed = _typed(world, registry, text, guild_id)
    node = typed.node
    reader = OptionReader(world, typed.guild, forge=forge, size_limit=size_limit)
    by_name = {option["name"]: option for option in node["options"]}
    values = {
        key: reader.from_text(by_name[key], raw) for key, raw in _pairs(typed.rest, node["options"]).items()
    }
    for key, value in (options or {}).items():
        if key not in by_name and not forge:
            raise CommandInputError(f"{key} is not an option of this command.")
        values[key] = value
    for key, upload in (files or {}).items():
        if not forge and by_name.get(key, {}).get("type") != ATTACHMENT:
            what = "an option of this command" if key not in by_name else "a file option (type 11)"
            raise CommandInputError(f"{key} is not {what}.")
        if key in values and not forge:
            raise CommandInputError(f"Option {key} is given twice.")
        values[key] = upload
    for option in node["options"]:
        if option["name"] in values:
            reader.check(option, values[option["name"]])
        elif option.get("required") and not forge:
            raise CommandInputError(f"{option['name']} is required.")

    uploads: dict[str, Upload] = {}
    leaf = []
    for key, value in values.items():
        kind = by_name[key]["type"] if key in by_name else STRING
        if isinstance(value, Upload):
            value = reader.attach(value, world.channel.id if channel_id is None else channel_id)
            uploads[value] = values[key]
            kind = ATTACHMENT if key not in by_name else kind
        leaf.append({"name": key, "type": kind, "value": value})
    data = _command_data(typed, leaf, reader)
    for key, entries in (resolved or {}).items():
        data.setdefault("resolved", {}).setdefault(key, {}).update(entries)
    return ParsedCommand(typed.definition, data, uploads)


def parse_autocomplete(
    world: World, registry: CommandRegistry, text: str, *, guild_id: int | None
) -> ParsedCommand:
    """The `data` of an APPLICATION_COMMAND_AUTOCOMPLETE interaction while a person is typing
    `text`, e.g. `/generate temp:0.8 model:l`: the LAST option is the one being typed
    (`focused`), its partial text sent as a string whatever the option's type; the options before
    it are sent as Discord's client sends them, checked and typed (the client sends nothing while
    one of them is invalid). Required options not typed yet are simply absent."""
    typed = _typed(world, registry, text, guild_id)
    node = typed.node
    by_name = {option["name"]: option for option in node["options"]}
    pairs = _pairs(typed.rest, node["options"])
    completable = [option["name"] for option in node["options"] if option.get("autocomplete")]
    if not pairs:
        hint = f" e.g. {completable[0]}:" if completable else ""
        raise CommandInputError(f"Type an option to autocomplete,{hint} after the command.")
    focused = list(pairs)[-1]
    if not by_name[focused].get("autocomplete"):
        offered = ", ".join(completable) or "none"
        raise CommandInputError(f"{focused} has no autocomplete (options with it: {offered}).")
    reader = OptionReader(world, typed.guild, forge=False)
    leaf: list[dict[str, Any]] = []
    for key, raw in pairs.items():
        option = by_name[key]
        if option["type"] == ATTACHMENT and key != focused:
            continue  # what the client sends for a file while autocompleting is unconfirmed: nothing here
        if key == focused:
            leaf.append({"name": key, "type": option["type"], "value": raw, "focused": True})
            continue
        value = reader.from_text(option, raw)
        reader.check(option, value)
        leaf.append({"name": key, "type": option["type"], "value": value})
    return ParsedCommand(typed.definition, _command_data(typed, leaf, reader))
