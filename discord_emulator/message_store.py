"""Every message of the emulated world by id, with its edit history count and its watchers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _StoredMessage:
    message: dict[str, Any]
    version: int = 0
    deleted: bool = False
    watchers: list[Callable[[], None]] = field(default_factory=list)


class MessageStore:
    """Every message of the world by id: the bot's (interaction responses, follow-ups, channel
    messages) and people's. Edits change the stored dict in place, so every holder of it sees them;
    a deleted message is kept aside, so a late lookup can tell "deleted" from "never existed"."""

    def __init__(self) -> None:
        self._entries: dict[int, _StoredMessage] = {}

    def add(self, message: dict[str, Any]) -> dict[str, Any]:
        self._entries[int(message["id"])] = _StoredMessage(message)
        return message

    def get(self, message_id: int | str) -> dict[str, Any] | None:
        """The message as it is now; None if it never existed or was deleted."""
        entry = self._entries.get(int(message_id))
        return None if entry is None or entry.deleted else entry.message

    def was_deleted(self, message_id: int | str) -> bool:
        entry = self._entries.get(int(message_id))
        return entry is not None and entry.deleted

    def version(self, message_id: int | str) -> int:
        """How often it changed since it was stored (edits, and its deletion)."""
        entry = self._entries.get(int(message_id))
        return 0 if entry is None else entry.version

    def changed(self, message_id: int | str) -> None:
        """Record an edit made to the stored dict; replies show the new state of what they quote."""
        entry = self._entries.get(int(message_id))
        if entry is not None:
            entry.version += 1
            self._refresh_replies(str(message_id), _basic(entry.message))
            self._notify(entry)

    def delete(self, message_id: int | str) -> None:
        entry = self._entries.get(int(message_id))
        if entry is not None and not entry.deleted:
            entry.deleted = True
            entry.version += 1
            # Discord shows a reply to a deleted message with `referenced_message: null`.
            self._refresh_replies(str(message_id), None)
            self._notify(entry)

    def watch(self, message_id: int | str, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the message changes or is deleted."""
        entry = self._entries.get(int(message_id))
        if entry is not None:
            entry.watchers.append(callback)

    def in_channel(self, channel_id: int) -> list[dict[str, Any]]:
        """The channel's messages, oldest first (snowflakes sort by time), deleted ones left out."""
        found = [
            entry.message for entry in self._entries.values()
            if not entry.deleted and entry.message["channel_id"] == str(channel_id)
        ]
        return sorted(found, key=lambda message: int(message["id"]))

    def all(self) -> list[dict[str, Any]]:
        return sorted(
            (entry.message for entry in self._entries.values() if not entry.deleted),
            key=lambda message: int(message["id"]),
        )

    def _refresh_replies(self, message_id: str, basic: dict[str, Any] | None) -> None:
        for entry in self._entries.values():
            reference = entry.message.get("message_reference") or {}
            if reference.get("message_id") == message_id and "referenced_message" in entry.message:
                entry.message["referenced_message"] = basic

    @staticmethod
    def _notify(entry: _StoredMessage) -> None:
        for callback in list(entry.watchers):
            callback()


def _basic(message: dict[str, Any]) -> dict[str, Any]:
    """A message as quoted in `referenced_message`: itself, without what it quotes in turn."""
    return {key: value for key, value in message.items() if key != "referenced_message"}
