"""What a test holds after sending an interaction: a handle to wait on the bot's answer."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import messages
from .errors import NoResponse, UnknownMessage
from .interactions import InteractionRecord, Rules


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
                    refused = f"; Discord refused its answer: {record.refused[-1]}" if record.refused else ""
                    raise NoResponse(
                        f"interaction {record.id}: the application did not respond within "
                        f"{self._rules.ack_window:g} s{refused}"
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
        """The callback type the bot acknowledged with (4 reply, 5 defer; for a component also 6
        deferred update, 7 update; 8 for autocomplete results; 9 modal)."""
        await self._wait(lambda: self.record.acked_at is not None, timeout)
        assert self.record.callback_type is not None
        return self.record.callback_type

    async def wait_reply(self, timeout: float = 30.0) -> Reply:
        """The visible messages once the bot has answered with a message (not merely deferred):
        for a component, a NEW message (callback 4, or 5 and a follow-up; a follow-up after 6)."""
        await self._wait(lambda: self.record.answered, timeout)
        return Reply(list(self.record.visible_messages()))

    def _target_changed(self) -> bool:
        record = self.record
        assert record.target_message_id is not None
        return record.store.version(record.target_message_id) > record.target_version

    async def wait_update(self, timeout: float = 30.0) -> dict[str, Any]:
        """The message the component is on, once the bot has changed it (callback 7, or an edit of
        @original after callback 6, or an edit through the channel). Raises UnknownMessage if
        the bot deleted it instead, NoResponse if it did not acknowledge within 3 s."""
        record = self.record
        if record.target_message_id is None:
            raise ValueError(f"interaction {record.id} is not on a message (not a component)")
        await self._wait(self._target_changed, timeout)
        target = record.target
        if target is None:
            raise UnknownMessage(f"message {record.target_message_id} was deleted")
        return copy.deepcopy(target)

    async def wait_deleted(self, timeout: float = 30.0) -> None:
        """Until the message the component is on is deleted (DELETE of @original after callback
        6/7, or through the channel)."""
        record = self.record
        if record.target_message_id is None:
            raise ValueError(f"interaction {record.id} is not on a message (not a component)")
        await self._wait(lambda: record.store.was_deleted(record.target_message_id or 0), timeout)
