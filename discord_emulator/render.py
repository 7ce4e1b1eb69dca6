"""Messages as a terminal can show what Discord's client would: author, markdown, embeds, pings."""

from __future__ import annotations

import re
from typing import Any

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


def render_message(message: dict[str, Any], world: World, invoker: str, command: str) -> str:
    author = message["author"].get("global_name") or message["author"]["username"]
    lines = [f"\u256d {invoker} used /{command}", f"{author} [APP]"]
    if message["flags"] & LOADING:
        return "\n".join([*lines, f"{BAR}{author} is thinking\u2026"])
    lines += [BAR + line for line in _markdown(message["content"], world)]
    for embed in message["embeds"]:
        lines += _embed(embed, world)
    pinged = [f"@{user.get('global_name') or user['username']}" for user in message["mentions"]]
    if message["mention_everyone"]:
        pinged.insert(0, "@everyone")
    if pinged:
        lines.append(f"{BAR}(this message pings {', '.join(pinged)})")
    if message["flags"] & EPHEMERAL:
        lines.append(f"{BAR}Only you can see this \u2022 Dismiss message")
    return "\n".join(lines)


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
