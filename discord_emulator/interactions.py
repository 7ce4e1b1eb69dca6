"""One interaction's life as Discord runs it: the 3 s acknowledgement, the 15 min token, follow-ups.

https://discord.com/developers/docs/interactions/receiving-and-responding
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Any

from . import messages
from .errors import (
    already_acknowledged,
    followup_while_deferred,
    invalid_form_body,
    invalid_webhook_token,
    missing_permissions,
    too_many_followups,
    unknown_interaction,
    unknown_message,
    unknown_webhook,
)
from .installs import forced_ephemeral, user_install_only
from .kinds import (
    ALLOWED_CALLBACKS,
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE_WITH_SOURCE,
    CHAT_INPUT,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    INTEGER_OPTION,
    INTERACTION_NAMES,
    MAX_AUTOCOMPLETE_CHOICES,
    MAX_CHOICE_NAME,
    MAX_CHOICE_STRING,
    MAX_SAFE_INTEGER,
    MESSAGE_COMMAND,
    NUMBER_OPTION,
    STRING_OPTION,
    UPDATE_MESSAGE,
    USER_COMMAND,
    USER_INSTALL_FOLLOWUPS,
)
from .message_store import MessageStore
from .models import ATTACH_FILES, User, World


@dataclass(frozen=True)
class Rules:
    """Discord's deadlines, in seconds; tests keep the real ones and move the clock instead."""

    ack_window: float = 3.0
    token_lifetime: float = 15 * 60.0


def focused_option(options: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The option an autocomplete interaction is about (inside subcommands too)."""
    for option in options:
        if option.get("focused"):
            return option
        found = focused_option(option.get("options") or [])
        if found is not None:
            return found
    return None


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
    kind: int = APPLICATION_COMMAND
    """The interaction type: 2 command, 3 component, 4 autocomplete, 5 modal submission."""
    store: MessageStore = field(default_factory=MessageStore, repr=False)
    """The world's messages (the component's message is looked up there)."""
    target_message_id: int | None = None
    """For a component: the message the component is on (callback 7 and @original edit it)."""
    target_version: int = 0
    callback_data: dict[str, Any] | None = None
    """The `data` of the callback the bot acknowledged with (an autocomplete's choices...)."""
    updates: int = 0
    """How often the bot changed the component's message (callback 7, edits of @original)."""
    refused: list[dict[str, Any]] = field(default_factory=list)
    """Discord's error answers to the bot's calls for this interaction, in order."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.created_at

    @property
    def loading(self) -> bool:
        return self.original is not None and bool(self.original["flags"] & messages.LOADING)

    @property
    def answered(self) -> bool:
        """A message answering it is visible: the response (not "thinking...") or a follow-up."""
        return (self.original is not None and not self.loading) or bool(self.followups)

    @property
    def target(self) -> dict[str, Any] | None:
        """The component's message as it is now (None when deleted or never known)."""
        if self.target_message_id is None:
            return None
        return self.store.get(self.target_message_id)

    @property
    def autocomplete_choices(self) -> list[dict[str, Any]] | None:
        """The choices the bot answered an autocomplete interaction with (callback 8)."""
        if self.callback_type != APPLICATION_COMMAND_AUTOCOMPLETE_RESULT or self.callback_data is None:
            return None
        return list(self.callback_data.get("choices") or [])

    def visible_messages(self) -> list[dict[str, Any]]:
        head = [self.original] if self.original is not None else []
        return head + self.followups

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _command_data(self) -> dict[str, Any]:
        return self.payload.get("data") or {}

    def _metadata(self, followup: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "id": str(self.id),
            "type": self.kind,
            "user": self.user.to_dict(),
            "authorizing_integration_owners": self.payload.get("authorizing_integration_owners", {}),
        }
        data = self._command_data()
        if self.kind == APPLICATION_COMMAND:
            metadata.update(name=data.get("name", ""), command_type=data.get("type", CHAT_INPUT))
            if data.get("type") == MESSAGE_COMMAND and data.get("target_id"):
                metadata["target_message_id"] = str(data["target_id"])
            if data.get("type") == USER_COMMAND and data.get("target_id"):
                target = ((data.get("resolved") or {}).get("users") or {}).get(str(data["target_id"]))
                if target is not None:
                    metadata["target_user"] = target
        elif self.target_message_id is not None:
            metadata["interacted_message_id"] = str(self.target_message_id)
        if followup and self.original is not None:
            metadata["original_response_message_id"] = self.original["id"]
        return metadata

    def _shape(self) -> tuple[int, int | None]:
        """The type of the messages this interaction creates, and the message they point at: a
        component's answer replies to the message the component is on; a message command's
        answer points at the message it was used on."""
        if self.kind != APPLICATION_COMMAND:
            return messages.REPLY, self.target_message_id
        data = self._command_data()
        if data.get("type") in (USER_COMMAND, MESSAGE_COMMAND):
            target = data.get("target_id") if data.get("type") == MESSAGE_COMMAND else None
            return messages.CONTEXT_MENU_COMMAND, None if target is None else int(target)
        return messages.CHAT_INPUT_COMMAND, None

    def _new_message(
        self, world: World, body: dict[str, Any], flags: int, *, followup: bool = False
    ) -> dict[str, Any]:
        self._check_may_attach(body)
        message_type, reference_id = self._shape()
        return messages.build_message(
            world,
            message_id=world.snowflakes.next(),
            channel_id=self.channel_id,
            body=body,
            flags=flags,
            interaction_metadata=self._metadata(followup),
            in_guild=self.in_guild,
            message_type=message_type,
            reference_id=reference_id,
            referenced=None if reference_id is None else world.messages.get(reference_id),
        )

    def _check_may_attach(self, body: dict[str, Any]) -> None:
        """Files need ATTACH_FILES in the interaction's app_permissions (a user's install in a
        server without the bot has only what @everyone may attach): 403 Missing Permissions."""
        held = self.payload.get("app_permissions")
        if body.get("attachments") and held is not None and not int(held) & ATTACH_FILES:
            raise missing_permissions()

    def callback(
        self, world: World, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any] | None:
        """POST /interactions/{id}/{token}/callback; returns the message it created or (callback
        7) changed, if any."""
        if now - self.created_at > rules.ack_window:
            self.rejected_late += 1
            self._notify()
            raise unknown_interaction()
        if self.acked_at is not None:
            raise already_acknowledged()
        kind = body.get("type")
        data = body.get("data") or {}
        flags = (data.get("flags") or 0) & messages.SETTABLE_FLAGS
        if forced_ephemeral(self.payload):
            flags |= messages.EPHEMERAL
        if kind not in ALLOWED_CALLBACKS.get(self.kind, set()):
            what = INTERACTION_NAMES.get(self.kind, "this interaction")
            raise invalid_form_body(
                ["type"], "INTERACTION_CALLBACK_TYPE_INVALID", f"Callback type {kind} is not valid for {what}"
            )
        message: dict[str, Any] | None = None
        if kind == CHANNEL_MESSAGE_WITH_SOURCE:
            messages.check_body(data)
            message = self._new_message(world, data, flags)
            messages.require_not_empty(message)
            self.answers += 1
        elif kind == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            message = self._new_message(world, {}, (flags & messages.EPHEMERAL) | messages.LOADING)
        elif kind == UPDATE_MESSAGE:
            message = self._update_target(world, data)
        elif kind == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            self._check_choices(body.get("data"))
        self.acked_at, self.callback_type, self.callback_data = now, kind, data
        if kind in (CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE):
            assert message is not None
            self.original = world.messages.add(message)
        self._notify()
        return message

    def _target_or_unknown(self) -> dict[str, Any]:
        target = self.target
        if target is None:
            raise unknown_message()
        return target

    def _edit_in_place(
        self, world: World, message: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply an edit to a stored message, all of Discord's checks first; its flags stay."""
        self._check_may_attach(body)
        messages.check_body(body, flags=message["flags"])
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
        world.messages.changed(message["id"])
        if self.target_message_id is not None and message["id"] == str(self.target_message_id):
            self.updates += 1
        return message

    def _update_target(self, world: World, data: dict[str, Any]) -> dict[str, Any]:
        """UPDATE_MESSAGE: the message the component is on becomes what `data` says."""
        return self._edit_in_place(world, self._target_or_unknown(), data)

    def _check_choices(self, data: Any) -> None:
        """Discord's limits on APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: at most 25 choices, each
        named in 1-100 characters, with a value of the focused option's type (strings of at most
        100 characters)."""
        if not isinstance(data, dict):
            raise invalid_form_body(["data"], "BASE_TYPE_REQUIRED", "This field is required")
        choices = data.get("choices") or []
        if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
            raise invalid_form_body(
                ["data", "choices"], "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_AUTOCOMPLETE_CHOICES} or fewer in length.",
            )
        focused = focused_option(self._command_data().get("options") or []) or {}
        option_type = focused.get("type", STRING_OPTION)
        for index, choice in enumerate(choices):
            where = ["data", "choices", str(index)]
            name = choice.get("name") if isinstance(choice, dict) else None
            if not isinstance(name, str) or not 1 <= len(name) <= MAX_CHOICE_NAME:
                raise invalid_form_body(
                    [*where, "name"], "BASE_TYPE_BAD_LENGTH",
                    f"Must be between 1 and {MAX_CHOICE_NAME} in length.",
                )
            value = choice.get("value")
            if option_type == STRING_OPTION:
                if not isinstance(value, str):
                    raise invalid_form_body([*where, "value"], "BASE_TYPE_STRING", "Must be a string.")
                if len(value) > MAX_CHOICE_STRING:
                    raise invalid_form_body(
                        [*where, "value"], "BASE_TYPE_MAX_LENGTH",
                        f"Must be {MAX_CHOICE_STRING} or fewer in length.",
                    )
            elif option_type in (INTEGER_OPTION, NUMBER_OPTION):
                numeric = (int,) if option_type == INTEGER_OPTION else (int, float)
                if isinstance(value, bool) or not isinstance(value, numeric):
                    kind = "int" if option_type == INTEGER_OPTION else "a valid number"
                    raise invalid_form_body(
                        [*where, "value"], "NUMBER_TYPE_COERCE", f'Value "{value}" is not {kind}.'
                    )
                if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
                    raise invalid_form_body(
                        [*where, "value"], "NUMBER_TYPE_MAX", f"Value must be at most {MAX_SAFE_INTEGER}."
                    )

    def _check_token(self, now: float, rules: Rules) -> None:
        if self.kind == APPLICATION_COMMAND_AUTOCOMPLETE:
            raise unknown_webhook()  # an autocomplete's token answers the choices and nothing else
        if now - self.created_at > rules.token_lifetime:
            raise invalid_webhook_token()
        if self.acked_at is None:
            raise unknown_webhook()

    def followup(
        self, world: World, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any]:
        """POST /webhooks/{app}/{token}: a new message under the interaction. Refused while a
        deferred response is still 'thinking': Discord lets that follow-up stand in for the
        original response only "for backwards compatibility", deprecated in favour of editing
        @original, which is what a bot must do here."""
        self._check_token(now, rules)
        if self.loading:
            raise followup_while_deferred()
        messages.check_body(body)
        if (user_install_only(self.payload.get("authorizing_integration_owners") or {})
                and len(self.followups) >= USER_INSTALL_FOLLOWUPS):
            raise too_many_followups()
        flags = (body.get("flags") or 0) & messages.SETTABLE_FLAGS
        if forced_ephemeral(self.payload):
            flags |= messages.EPHEMERAL
        message = self._new_message(world, body, flags, followup=True)
        messages.require_not_empty(message)
        self.followups.append(world.messages.add(message))
        self.answers += 1
        self._notify()
        return message

    def find(self, message_id: str, now: float, rules: Rules) -> dict[str, Any]:
        """A message of this interaction by id, or "@original": the first response or, after
        callback 6 or 7, the message the component is on."""
        self._check_token(now, rules)
        if message_id == "@original":
            if self.callback_type in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
                return self._target_or_unknown()
            if self.original is not None:
                return self.original
        for message in self.visible_messages():
            if message["id"] == message_id:
                return message
        raise unknown_message()

    def edit(
        self, world: World, message_id: str, body: dict[str, Any], now: float, rules: Rules
    ) -> dict[str, Any]:
        found = self.find(message_id, now, rules)
        if world.messages.was_deleted(found["id"]):  # deleted through its channel since: gone for all
            raise unknown_message()
        message = self._edit_in_place(world, found, body)
        self._notify()
        return message

    def delete(self, message_id: str, now: float, rules: Rules) -> None:
        message = self.find(message_id, now, rules)
        if message is self.original:
            self.original = None
        else:
            self.followups = [followup for followup in self.followups if followup is not message]
        self.store.delete(message["id"])
        self._notify()
