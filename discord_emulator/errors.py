"""Discord's JSON error answers, and the errors the emulator's own driver raises."""

from __future__ import annotations

from typing import Any


class DiscordError(Exception):
    """An HTTP error exactly as Discord reports it: status, numeric code, message, field errors."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {message} (code {code})")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def field_error(path: list[str], code: str, message: str) -> dict[str, Any]:
    """Discord's nested `errors` shape: {"content": {"_errors": [{"code": ..., "message": ...}]}}."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        node = {key: node}
    return node


def invalid_form_body(path: list[str], code: str, message: str) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", field_error(path, code, message))


def too_long(path: list[str], limit: int) -> DiscordError:
    return invalid_form_body(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def unauthorized() -> DiscordError:
    return DiscordError(401, 0, "401: Unauthorized")


def not_found() -> DiscordError:
    return DiscordError(404, 0, "404: Not Found")


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


def unknown_webhook() -> DiscordError:
    return DiscordError(404, 10015, "Unknown Webhook")


def unknown_message() -> DiscordError:
    return DiscordError(404, 10008, "Unknown Message")


def unknown_channel() -> DiscordError:
    return DiscordError(404, 10003, "Unknown Channel")


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def cannot_edit_others_message() -> DiscordError:
    return DiscordError(403, 50005, "Cannot edit a message authored by another user")


def cannot_act_in_dm() -> DiscordError:
    return DiscordError(403, 50003, "Cannot execute action on a DM channel")


def invalid_webhook_token() -> DiscordError:
    return DiscordError(401, 50027, "Invalid Webhook Token")


def already_acknowledged() -> DiscordError:
    return DiscordError(400, 40060, "Interaction has already been acknowledged.")


def empty_message() -> DiscordError:
    return DiscordError(400, 50006, "Cannot send an empty message")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def too_many_followups() -> DiscordError:
    return DiscordError(400, 40094, "This interaction has hit the maximum number of follow up messages")


def followup_while_deferred() -> DiscordError:
    """Stricter than Discord, which still lets this follow-up edit the 'thinking' message (a
    deprecated stand-in for Edit Original Interaction Response); code 0 is its "General error"."""
    return DiscordError(
        400, 0, "A follow-up cannot stand in for a deferred response (deprecated by Discord): "
        "edit the original response (PATCH /webhooks/{application_id}/{token}/messages/@original)",
    )


class CommandInputError(ValueError):
    """What Discord's own client refuses to send; the sentence is what its UI would say."""


class CommandHiddenError(CommandInputError):
    """Discord's client hides a command from members lacking its default permissions; a server
    admin can still grant it to them in Integrations, so the bot must check for itself."""


class UnknownMessage(LookupError):
    """The driver was asked for a message that does not exist, or no longer does."""


class NoResponse(Exception):
    """The bot did not acknowledge in time: Discord shows 'The application did not respond'."""
