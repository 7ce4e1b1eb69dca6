"""Messages as a terminal can show what Discord's client would: author, markdown, embeds, pings."""

from __future__ import annotations

import re
from typing import Any

from .components import ACTION_ROW, BUTTON, LINK
from .messages import EPHEMERAL, LOADING, USER_MENTION
from .models import World

BAR = "\u2502 "
CODE_BAR = "\u2503 "
ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
FENCE = re.compile(r"```(?:[\w+-]*\n)?(.*?)```", re.DOTALL)
EMPHASIS = re.compile(r"(\*\*\*|\*\*|__|~~|\|\|)(.+?)\1", re.DOTALL)
# Single * or _ italics, which Discord (like Markdown) only reads hugging non-space text.
ITALIC = re.compile(r"(?<![\\\w])([*_])(?=\S)(.+?)(?<=\S)\1(?!\w)", re.DOTALL)
ESCAPED = re.compile(r"\\([*_~`|>\\#-])")
CHANNEL_MENTION = re.compile(r"<#(\d{15,20})>")
CUSTOM_EMOJI = re.compile(r"<a?:(\w+):\d{15,20}>")


def _markdown(text: str, world: World) -> list[str]:
    """Discord's markdown, the parts that change what a reader sees: code blocks lose their fences
    and keep their text verbatim; outside them emphasis markers and escapes disappear. Zero-width
    characters are invisible but still break up markers (a backtick, a zero-width space and a
    backtick do not make a fence), so they go only once the markdown has been read."""
    lines: list[str] = []
    position = 0
    for match in FENCE.finditer(text):
        lines += _plain(text[position : match.start()], world)
        code = ZERO_WIDTH.sub("", match.group(1))
        lines += [CODE_BAR + line for line in code.rstrip("\n").split("\n")]
        position = match.end()
    lines += _plain(text[position:], world)
    return lines


def _plain(text: str, world: World) -> list[str]:
    text = ITALIC.sub(r"\2", EMPHASIS.sub(r"\2", text))
    text = ZERO_WIDTH.sub("", ESCAPED.sub(r"\1", text))

    def name(match: re.Match[str]) -> str:
        user = world.user_by_id(int(match.group(1)))
        return f"@{user.display_name}" if user else "@unknown-user"

    text = USER_MENTION.sub(name, text)
    return [line.rstrip() for line in text.strip("\n").split("\n")] if text.strip() else []


def render_message(
    message: dict[str, Any], world: World, invoker: str | None = None, command: str | None = None
) -> str:
    """The message as Discord's client shows it: who used which command (when `command` is
    given), what it replies to, the author, the text, embeds, attachments and buttons."""
    author = message["author"].get("global_name") or message["author"]["username"]
    lines = [] if command is None else [f"\u256d {invoker} used /{command}"]
    lines += _reference(message, world)
    lines.append(f"{author} [APP]" if _is_app(message, world) else author)
    if message["flags"] & LOADING:
        return "\n".join([*lines, f"{BAR}{author} is thinking\u2026"])
    lines += [BAR + line for line in _markdown(message["content"], world)]
    for embed in message["embeds"]:
        lines += _embed(embed, world)
    for attachment in message.get("attachments") or []:
        lines.append(f"{BAR}\U0001f4ce {attachment.get('filename', 'attachment')}")
    lines += [BAR + row for row in _button_rows(message)]
    pinged = [f"@{user.get('global_name') or user['username']}" for user in message["mentions"]]
    if message["mention_everyone"]:
        pinged.insert(0, "@everyone")
    if pinged:
        lines.append(f"{BAR}(this message pings {', '.join(pinged)})")
    if message["flags"] & EPHEMERAL:
        lines.append(f"{BAR}Only you can see this \u2022 Dismiss message")
    return "\n".join(lines)


def _is_app(message: dict[str, Any], world: World) -> bool:
    """Apps carry the APP tag; a person known to the world does not."""
    user = world.user_by_id(int(message["author"].get("id") or 0))
    return user is None or user.bot or bool(message["author"].get("bot"))


def _reference(message: dict[str, Any], world: World) -> list[str]:
    """The line Discord shows above a reply: whom it answers, and how that message begins."""
    if "message_reference" not in message or "referenced_message" not in message:
        return []
    quoted = message["referenced_message"]
    if quoted is None:
        return ["\u21aa replying to a deleted message"]
    who = quoted["author"].get("global_name") or quoted["author"]["username"]
    text = CUSTOM_EMOJI.sub(r":\1:", " ".join(_plain(quoted.get("content") or "", world)))
    text = " ".join(CHANNEL_MENTION.sub(lambda match: _channel_name(match, world), text).split())
    if not text:
        text = "(attachment)" if quoted.get("attachments") else "(no text)"
    elif len(text) > 40:
        text = text[:40].rstrip() + "\u2026"
    return [f"\u21aa replying to {who}: {text}"]


def _channel_name(match: re.Match[str], world: World) -> str:
    channel = world.channel_by_id(int(match.group(1)))
    return f"#{channel.name}" if channel is not None and channel.name else "#unknown"


def _button_rows(message: dict[str, Any]) -> list[str]:
    """One line per action row: [Again] [Continue] [Delete]; a link button has an arrow, a
    disabled one parentheses inside its brackets."""
    rows = []
    for row in message.get("components") or []:
        if row.get("type") != ACTION_ROW:
            continue
        shown = []
        for component in row.get("components") or []:
            label = component.get("label") or (component.get("emoji") or {}).get("name") or ""
            if component.get("type") != BUTTON:
                label = f"\u25be {component.get('placeholder') or 'Select'}"
            elif component.get("style") == LINK:
                label = f"{label} \u2197"
            shown.append(f"[({label})]" if component.get("disabled") else f"[{label}]")
        if shown:
            rows.append(" ".join(shown))
    return rows


def _embed(embed: dict[str, Any], world: World) -> list[str]:
    inner: list[str] = []
    if embed.get("title"):
        inner.append(embed["title"])
    inner += _markdown(embed.get("description") or "", world)
    for embed_field in embed.get("fields") or []:
        inner.append(f"{embed_field['name']}: {ZERO_WIDTH.sub('', embed_field['value'])}")
    if (embed.get("footer") or {}).get("text"):
        inner.append(embed["footer"]["text"])
    return [f"{BAR}\u2590 {line}" for line in inner]
