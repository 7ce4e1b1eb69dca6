"""One interaction's life as Discord runs it: the 3 s acknowledgement, the 15 min token, follow-ups.

https://discord.com/developers/docs/interactions/receiving-and-responding
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import messages
from .errors import (
    NoResponse,
    already_acknowledged,
    invalid_form_body,
    invalid_webhook_token,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from .models import CONTEXT_BOT_DM, CONTEXT_GUILD, DM_PERMISSIONS, Guild, User, World

APPLICATION_COMMAND = 2
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
MODAL = 9
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class Rules:
    """Discord's deadlines, in seconds; tests keep the real ones and move the clock instead."""

    ack_window: float = 3.0
    token_lifetime: float = 15 * 60.0


@dataclass
class InteractionRecord:
    id: int
    token: str
    payload: dict[str, Any]
    user: User
    in_guild: bool
    channel_id: int
    created_at: float
    acked_at: float | None = None
    callback_type: int | None = None
    original: dict[str, Any] | None = None
    followups: list[dict[str, Any]] = field(default_factory=list)
    # Each time a final answer became visible to the user; more than one means answered twice.
    answers: int = 0
    rejected_late: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.created_at

    @property
    def loading(self) -> bool:
        return self.original is not None and bool(self.original["flags"] & messages.LOADING)

    @property
    def answered(self) -> bool:
        return self.original is not None and not self.loading

    def visible_messages(self) -> list[dict[str, Any]]:
        head = [self.original] if self.original is not None else []
        return head + self.followups

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _metadata(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": APPLICATION_COMMAND,
            "user": self.user.to_dict(),
            "authorizing_integration_owners": self.payload.get("authorizing_integration_owners", {}),
            "name": (self.payload.get("data") or {}).get("name", ""),
            "command_type": 1,
        }

    def _new_message(self, world: World, body: dict[str, Any], flags: int) -> dict[str, Any]:
        return messages.build_message(
            world,
            message_id=world.snowflakes.next(),
            channel_id=self.channel_id,
            body=body,
            flags=flags,
            interaction_metadata=self._metadata(),
            in_guild=self.in_guild,
        )

    def callback(
        self, world: World, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any] | None:
        """POST /interactions/{id}/{token}/callback; returns the message it created, if any."""
        if now - self.created_at > rules.ack_window:
            self.rejected_late += 1
            self._notify()
            raise unknown_interaction()
        if self.acked_at is not None:
            raise already_acknowledged()
        kind = body.get("type")
        data = body.get("data") or {}
        flags = (data.get("flags") or 0) & messages.SETTABLE_FLAGS
        if kind == CHANNEL_MESSAGE_WITH_SOURCE:
            messages.check_body(data)
            message = self._new_message(world, data, flags)
            messages.require_not_empty(message)
            self.answers += 1
        elif kind == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            message = self._new_message(world, {}, (flags & messages.EPHEMERAL) | messages.LOADING)
        elif kind == MODAL:
            message = None
        else:
            raise invalid_form_body(
                ["type"], "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {kind} is not valid for an application command",
            )
        self.acked_at, self.callback_type, self.original = now, kind, message
        self._notify()
        return message

    def _check_token(self, now: float, rules: Rules) -> None:
        if now - self.created_at > rules.token_lifetime:
            raise invalid_webhook_token()
        if self.acked_at is None:
            raise unknown_webhook()

    def followup(
        self, world: World, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any]:
        """POST /webhooks/{app}/{token}. After a defer, the first follow-up replaces the
        'thinking' message and keeps the defer's ephemerality; later ones are new messages."""
        self._check_token(now, rules)
        messages.check_body(body)
        if self.loading:
            assert self.original is not None
            flags = self.original["flags"] & ~messages.LOADING
            message = self._new_message(world, body, flags)
            message["id"] = self.original["id"]
            messages.require_not_empty(message)
            self.original = message
        else:
            flags = (body.get("flags") or 0) & messages.SETTABLE_FLAGS
            message = self._new_message(world, body, flags)
            messages.require_not_empty(message)
            self.followups.append(message)
        self.answers += 1
        self._notify()
        return message

    def find(self, message_id: str, now: float, rules: Rules) -> dict[str, Any]:
        """A message of this interaction by id, or "@original" for the first response."""
        self._check_token(now, rules)
        if message_id == "@original" and self.original is not None:
            return self.original
        for message in self.visible_messages():
            if message["id"] == message_id:
                return message
        raise unknown_message()

    def edit(
        self, world: World, message_id: str, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any]:
        message = self.find(message_id, now, rules)
        messages.check_body(body)
        was_loading = bool(message["flags"] & messages.LOADING)
        edited = dict(message)
        messages.apply_body(world, edited, body, self.in_guild)
        edited["flags"] = message["flags"] & ~messages.LOADING
        messages.require_not_empty(edited)
        if was_loading:
            self.answers += 1
        else:
            edited["edited_timestamp"] = world.clock.utcnow().isoformat()
        message.clear()
        message.update(edited)
        self._notify()
        return message

    def delete(self, message_id: str, now: float, rules: Rules) -> None:
        message = self.find(message_id, now, rules)
        if message is self.original:
            self.original = None
        else:
            self.followups.remove(message)
        self._notify()


def interaction_payload(
    world: World,
    *,
    interaction_id: int,
    data: dict[str, Any],
    user: User,
    guild: Guild | None,
) -> dict[str, Any]:
    """The INTERACTION_CREATE body Discord sends for a slash command typed by `user` in `guild`'s
    first channel, or in their DM with the bot when `guild` is None."""
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": APPLICATION_COMMAND,
        "data": data,
        "token": f"aW50ZXJhY3Rpb246{interaction_id}:{secrets.token_urlsafe(96)}",
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is not None:
        channel = guild.default_channel
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            channel=channel.to_dict(),
            channel_id=str(channel.id),
            member=guild.members[user.id].to_dict(guild.permissions_of(user.id)),
            app_permissions=str(guild.permissions_of(world.bot.id)),
            authorizing_integration_owners={"0": str(guild.id)},
            context=CONTEXT_GUILD,
        )
    else:
        channel = world.dm_channel(user)
        payload.update(
            channel=channel.to_dict(),
            channel_id=str(channel.id),
            user=user.to_dict(),
            app_permissions=str(DM_PERMISSIONS),
            authorizing_integration_owners={"0": "0"},
            context=CONTEXT_BOT_DM,
        )
    return payload


@dataclass(frozen=True)
class Reply:
    """What the user sees once the bot has answered: the original response and any follow-ups."""

    messages: list[dict[str, Any]]

    @property
    def message(self) -> dict[str, Any]:
        return self.messages[0]

    @property
    def content(self) -> str:
        return self.message["content"]

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.message["embeds"]

    @property
    def ephemeral(self) -> bool:
        return bool(self.message["flags"] & messages.EPHEMERAL)


class SentInteraction:
    """A handle on an interaction the emulator sent, to wait for what the bot answered."""

    def __init__(
        self, record: InteractionRecord, rules: Rules, clock_now: Callable[[], float]
    ) -> None:
        self.record = record
        self._rules = rules
        self._now = clock_now

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def payload(self) -> dict[str, Any]:
        return self.record.payload

    async def _wait(self, done: Callable[[], bool], timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            record = self.record
            if record.acked_at is None:
                ack_left = record.created_at + self._rules.ack_window - self._now()
                if ack_left < 0:
                    raise NoResponse(
                        f"interaction {record.id}: the application did not respond within "
                        f"{self._rules.ack_window:g} s"
                    )
            else:
                ack_left = timeout
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"interaction {record.id}: no final reply within {timeout:g} s "
                    f"(acknowledged: {record.callback_type}, messages: {record.visible_messages()})"
                )
            try:
                await asyncio.wait_for(record._changed.wait(), min(left, ack_left + 0.01))
            except asyncio.TimeoutError:
                continue

    async def wait_ack(self, timeout: float = 10.0) -> int:
        """The callback type the bot acknowledged with (4 reply, 5 defer)."""
        await self._wait(lambda: self.record.acked_at is not None, timeout)
        assert self.record.callback_type is not None
        return self.record.callback_type

    async def wait_reply(self, timeout: float = 30.0) -> Reply:
        """The visible messages once the bot has answered (not merely deferred)."""
        await self._wait(lambda: self.record.answered, timeout)
        return Reply(list(self.record.visible_messages()))
