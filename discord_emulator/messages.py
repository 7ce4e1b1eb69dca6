"""Discord's rules for message bodies, and the message objects it returns.

Limits and mention rules follow https://discord.com/developers/docs/resources/message; an answer that
breaks one gets the same 400 Discord would send, so a test catches what Discord would reject.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .cdn import guess_content_type
from .clock import iso
from .components import IS_COMPONENTS_V2, check_components, with_component_ids
from .errors import empty_message, invalid_form_body, too_long
from .models import DM, MENTION_EVERYONE, Channel, User, World

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_FIELDS = 25

SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
# Flags a bot may set when answering an interaction: SUPPRESS_EMBEDS, EPHEMERAL,
# SUPPRESS_NOTIFICATIONS, COMPONENTS_V2; in a channel message, the same less EPHEMERAL.
SETTABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
CHANNEL_SETTABLE_FLAGS = SETTABLE_FLAGS & ~EPHEMERAL

# Message types.
DEFAULT, REPLY, CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND = 0, 19, 20, 23

USER_MENTION = re.compile(r"<@!?(\d{15,20})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,20})>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")


def _embed_text_length(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for embed_field in embed.get("fields") or []:
        total += len(embed_field.get("name") or "") + len(embed_field.get("value") or "")
    return total


def check_embeds(embeds: list[dict[str, Any]]) -> None:
    if len(embeds) > MAX_EMBEDS:
        raise too_long(["embeds"], MAX_EMBEDS)
    for index, embed in enumerate(embeds):
        where = ["embeds", str(index)]
        for key, limit in EMBED_LIMITS.items():
            if len(embed.get(key) or "") > limit:
                raise too_long([*where, key], limit)
        fields = embed.get("fields") or []
        if len(fields) > MAX_FIELDS:
            raise too_long([*where, "fields"], MAX_FIELDS)
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
                    raise too_long([*where, "fields", str(field_index), key], limit)
    if sum(_embed_text_length(embed) for embed in embeds) > MAX_EMBED_TOTAL:
        raise invalid_form_body(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


def check_body(body: dict[str, Any], *, flags: int | None = None) -> None:
    """The limits Discord enforces on every message it creates or edits. `flags`: those of the
    message being edited, if any (an edit's own `flags` are added)."""
    content = body.get("content")
    if content is not None and len(content) > MAX_CONTENT:
        raise too_long(["content"], MAX_CONTENT)
    check_embeds(body.get("embeds") or [])
    components = body.get("components")
    if components is not None:
        check_components(components, (flags or 0) | (body.get("flags") or 0))
    allowed = body.get("allowed_mentions")
    for kind in ("users", "roles"):
        if allowed and kind in (allowed.get("parse") or []) and allowed.get(kind):
            raise invalid_form_body(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )


def is_empty(message: dict[str, Any]) -> bool:
    return not (
        message.get("content") or message.get("embeds") or message.get("components")
        or message.get("attachments") or message.get("sticker_items")
    )


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


def message_reference(world: World, channel_id: int, message_id: int | str) -> dict[str, Any]:
    """A reply's `message_reference`: the message replied to, in the reply's own channel."""
    reference: dict[str, Any] = {"type": 0, "channel_id": str(channel_id), "message_id": str(message_id)}
    channel = world.channel_by_id(channel_id)
    if channel is not None and channel.guild_id is not None:
        reference["guild_id"] = str(channel.guild_id)
    return reference


def quoted(message: dict[str, Any] | None) -> dict[str, Any] | None:
    """A message as `referenced_message` shows it: without what it quotes in turn."""
    if message is None:
        return None
    return {key: value for key, value in message.items() if key != "referenced_message"}


def build_message(
    world: World,
    *,
    message_id: int,
    channel_id: int,
    body: dict[str, Any],
    flags: int,
    interaction_metadata: dict[str, Any] | None,
    in_guild: bool,
    message_type: int = CHAT_INPUT_COMMAND,
    reference_id: int | str | None = None,
    referenced: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message by the bot as Discord returns it: an interaction response or follow-up (with
    `interaction_metadata`, sent through the application's webhook) or, with
    `interaction_metadata=None`, a message the bot posted in a channel. `reference_id` makes it
    point at another message (a reply, or the target of a message command), `referenced` being
    that message's current state (None if it is gone)."""
    message: dict[str, Any] = {
        "id": str(message_id),
        "type": message_type,
        "channel_id": str(channel_id),
        "author": world.bot.to_dict(),
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
    }
    if interaction_metadata is not None:
        message.update(
            webhook_id=str(world.application_id),
            application_id=str(world.application_id),
            interaction_metadata=interaction_metadata,
        )
    if reference_id is not None:
        message["message_reference"] = message_reference(world, channel_id, reference_id)
        message["referenced_message"] = quoted(referenced)
    apply_body(world, message, body, in_guild)
    return message


def attachment_objects(
    world: World, attachments: list[dict[str, Any]], channel_id: str,
    kept: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Attachment objects for attachment metadata (at least a filename), with urls where the CDN
    serves them (world.cdn). An entry may carry the file's `data` (bytes: stored on the CDN) and
    `ephemeral: true` (a file attached to a command). `kept`: a message's current attachments by
    id; an edit naming one of them keeps it as it is (its description may change)."""
    objects = []
    for given in attachments:
        attachment_id = str(given.get("id") or world.snowflakes.next())
        if kept and attachment_id in kept:
            attachment = dict(kept[attachment_id])
            if given.get("description") is not None:
                attachment["description"] = given["description"]
            objects.append(attachment)
            continue
        if not attachment_id.isdigit() or len(attachment_id) < 15:  # a request's placeholder id, e.g. 0
            attachment_id = str(world.snowflakes.next())
        filename = str(given.get("filename") or "unknown")
        data = given.get("data")
        if isinstance(data, bytes):
            world.cdn.store(attachment_id, data, given.get("content_type"))
        else:
            data = world.cdn.files.get(attachment_id)
        content_type = (given.get("content_type") or world.cdn.content_types.get(attachment_id)
                        or guess_content_type(filename, data))
        if content_type:
            world.cdn.content_types.setdefault(attachment_id, content_type)
        ephemeral = bool(given.get("ephemeral"))
        url, proxy_url = world.cdn.urls(attachment_id, channel_id, filename, ephemeral=ephemeral)
        attachment: dict[str, Any] = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data) if isinstance(data, bytes) else int(given.get("size") or 0),
            "url": url,
            "proxy_url": proxy_url,
        }
        if content_type:
            attachment["content_type"] = content_type
        for key in ("width", "height", "description", "title"):
            if given.get(key) is not None:
                attachment[key] = given[key]
        if content_type and content_type.startswith("image/"):
            attachment.setdefault("width", 512)
            attachment.setdefault("height", 512)
        if ephemeral:
            attachment["ephemeral"] = True
        objects.append(attachment)
    return objects


def apply_body(
    world: World, message: dict[str, Any], body: dict[str, Any], in_guild: bool
) -> None:
    """Set what a create or edit request carries; mentions are re-parsed from the new content."""
    for key in ("content", "embeds"):
        if body.get(key) is not None:
            message[key] = body[key]
    if body.get("components") is not None:
        message["components"] = with_component_ids(body["components"])
    if body.get("attachments") is not None:
        kept = {each["id"]: each for each in message.get("attachments") or []}
        message["attachments"] = attachment_objects(world, body["attachments"], message["channel_id"], kept)
    message["tts"] = body.get("tts") is True
    users, roles, everyone = mentions(
        world, message["content"], body.get("allowed_mentions"), in_guild
    )
    message.update(mentions=users, mention_roles=roles, mention_everyone=everyone)


def ping_replied_user(world: World, message: dict[str, Any], allowed: dict[str, Any] | None) -> None:
    """A reply pings the author of the message it answers: by default, or with
    `allowed_mentions.replied_user`; never the bot itself."""
    referenced = message.get("referenced_message")
    if not referenced or referenced["author"]["id"] == str(world.bot.id):
        return
    if allowed is not None and allowed.get("replied_user") is not True:
        return
    if all(user["id"] != referenced["author"]["id"] for user in message["mentions"]):
        message["mentions"].append(referenced["author"])


def person_message(
    world: World,
    *,
    message_id: int,
    channel: Channel,
    author: User,
    content: str,
    attachments: list[dict[str, Any]] | None,
    permissions: int,
) -> dict[str, Any]:
    """A message a person typed into a channel, as Discord returns it: mentions resolved from
    <@id> and <@&id>; @everyone only counts for someone with Mention Everyone."""
    in_guild = channel.type != DM
    users, roles, everyone = mentions(world, content, None, in_guild)
    message: dict[str, Any] = {
        "id": str(message_id),
        "type": DEFAULT,
        "channel_id": str(channel.id),
        "author": author.to_dict(),
        "content": content,
        "embeds": [],
        "attachments": attachment_objects(world, attachments or [], str(channel.id)),
        "components": [],
        "mentions": users,
        "mention_roles": roles,
        "mention_everyone": everyone and bool(permissions & MENTION_EVERYONE),
        "pinned": False,
        "tts": False,
        "timestamp": iso(world.clock.utcnow()),
        "edited_timestamp": None,
        "flags": 0,
    }
    return message


def readable_by_bot(world: World, message: dict[str, Any]) -> bool:
    """Whether an application without the Message Content intent (this one: it is privileged and
    not enabled) sees the content: its own messages, DMs, and messages that mention it."""
    if message["author"]["id"] == str(world.bot.id):
        return True
    channel = world.channel_by_id(int(message["channel_id"]))
    if channel is None or channel.type == DM:
        return True
    return any(user["id"] == str(world.bot.id) for user in message.get("mentions") or [])


def seen_by_bot(world: World, message: dict[str, Any]) -> dict[str, Any]:
    """A message as Discord shows it to the bot over REST and in a component's `message`:
    content, embeds, attachments and components of other people's messages are empty."""
    seen = dict(message)
    if not readable_by_bot(world, message):
        seen.update(content="", embeds=[], attachments=[], components=[])
    referenced = message.get("referenced_message")
    if referenced:
        seen["referenced_message"] = seen_by_bot(world, referenced)
    return copy.deepcopy(seen)


def require_not_empty(message: dict[str, Any]) -> None:
    if is_empty(message):
        raise empty_message()
