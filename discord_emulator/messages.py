"""Discord's rules for message bodies, and the message objects it returns.

Limits and mention rules follow https://discord.com/developers/docs/resources/message; an answer that
breaks one gets the same 400 Discord would send, so a test catches what Discord would reject.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import empty_message, invalid_form_body
from .models import World, iso

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_FIELDS = 25

EPHEMERAL = 1 << 6
LOADING = 1 << 7
# Flags a bot may set when sending: SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, COMPONENTS_V2.
SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)
CHAT_INPUT_COMMAND = 20

USER_MENTION = re.compile(r"<@!?(\d{15,20})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,20})>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")


def _too_long(path: list[str], limit: int) -> Exception:
    return invalid_form_body(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _embed_text_length(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for embed_field in embed.get("fields") or []:
        total += len(embed_field.get("name") or "") + len(embed_field.get("value") or "")
    return total


def check_embeds(embeds: list[dict[str, Any]]) -> None:
    if len(embeds) > MAX_EMBEDS:
        raise _too_long(["embeds"], MAX_EMBEDS)
    for index, embed in enumerate(embeds):
        where = ["embeds", str(index)]
        for key, limit in EMBED_LIMITS.items():
            if len(embed.get(key) or "") > limit:
                raise _too_long([*where, key], limit)
        fields = embed.get("fields") or []
        if len(fields) > MAX_FIELDS:
            raise _too_long([*where, "fields"], MAX_FIELDS)
        for field_index, embed_field in enumerate(fields):
            for key, limit in FIELD_LIMITS.items():
                value = embed_field.get(key)
                if not value:
                    raise invalid_form_body(
                        [*where, "fields", str(field_index), key],
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                if len(value) > limit:
                    raise _too_long([*where, "fields", str(field_index), key], limit)
    if sum(_embed_text_length(embed) for embed in embeds) > MAX_EMBED_TOTAL:
        raise invalid_form_body(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def check_body(body: dict[str, Any]) -> None:
    """The limits Discord enforces on every message it creates or edits."""
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        raise _too_long(["content"], MAX_CONTENT)
    check_embeds(body.get("embeds") or [])
    allowed = body.get("allowed_mentions")
    for kind in ("users", "roles"):
        if allowed and kind in (allowed.get("parse") or []) and allowed.get(kind):
            raise invalid_form_body(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def is_empty(message: dict[str, Any]) -> bool:
    return not (message.get("content") or message.get("embeds") or message.get("components"))


def mentions(
    world: World, content: str, allowed: dict[str, Any] | None, in_guild: bool
) -> tuple[list[dict[str, Any]], list[str], bool]:
    """Users, roles and @everyone that the content mentions and allowed_mentions lets through.

    Without allowed_mentions Discord parses everything, which is how a bot that echoes user text
    ends up pinging @everyone. The author's Mention Everyone permission is deliberately not
    consulted: a bot that forgets allowed_mentions should be caught whatever its role is.
    """
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    allowed_users = {int(user_id) for user_id in (allowed or {}).get("users") or []}
    allowed_roles = {int(role_id) for role_id in (allowed or {}).get("roles") or []}

    users: list[dict[str, Any]] = []
    for match in USER_MENTION.finditer(content):
        user_id = int(match.group(1))
        user = world.user_by_id(user_id)
        wanted = "users" in parse or user_id in allowed_users
        if user and wanted and all(existing["id"] != str(user_id) for existing in users):
            users.append(user.to_dict())
    roles: list[str] = []
    if in_guild:
        for match in ROLE_MENTION.finditer(content):
            role_id = int(match.group(1))
            known = any(role_id in guild.roles for guild in world.guilds.values())
            if known and ("roles" in parse or role_id in allowed_roles) and str(role_id) not in roles:
                roles.append(str(role_id))
    everyone = "everyone" in parse and EVERYONE_MENTION.search(content) is not None
    return users, roles, everyone


def build_message(
    world: World,
    *,
    message_id: int,
    channel_id: int,
    body: dict[str, Any],
    flags: int,
    interaction_metadata: dict[str, Any],
    in_guild: bool,
) -> dict[str, Any]:
    """A message object as Discord returns it for an interaction response or follow-up."""
    message: dict[str, Any] = {
        "id": str(message_id),
        "type": CHAT_INPUT_COMMAND,
        "channel_id": str(channel_id),
        "author": world.bot.to_dict(),
        "webhook_id": str(world.application_id),
        "application_id": str(world.application_id),
        "content": "",
        "embeds": [],
        "attachments": [],
        "components": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": iso(world.clock.utcnow()),
        "edited_timestamp": None,
        "flags": flags,
        "interaction_metadata": interaction_metadata,
    }
    apply_body(world, message, body, in_guild)
    return message


def apply_body(
    world: World, message: dict[str, Any], body: dict[str, Any], in_guild: bool
) -> None:
    """Set what a create or edit request carries; mentions are re-parsed from the new content."""
    for key in ("content", "embeds", "components"):
        if body.get(key) is not None:
            message[key] = body[key]
    message["tts"] = body.get("tts") is True
    users, roles, everyone = mentions(
        world, message["content"], body.get("allowed_mentions"), in_guild
    )
    message.update(mentions=users, mention_roles=roles, mention_everyone=everyone)


def require_not_empty(message: dict[str, Any]) -> None:
    if is_empty(message):
        raise empty_message()
