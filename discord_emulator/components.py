"""Message components as Discord checks and stores them: action rows, buttons, select menus, and
the layout components of IS_COMPONENTS_V2 messages.

https://discord.com/developers/docs/components/reference
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import invalid_form_body, too_long

ACTION_ROW, BUTTON = 1, 2
SELECT_MENUS = frozenset({3, 5, 6, 7, 8})
PRIMARY, SECONDARY, SUCCESS, DANGER, LINK, PREMIUM = 1, 2, 3, 4, 5, 6
MAX_ACTION_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_V2_COMPONENTS = 40
MAX_LABEL = 80
MAX_CUSTOM_ID = 100
MAX_BUTTON_URL = 512

IS_COMPONENTS_V2 = 1 << 15


def _bad_length(path: list[str], low: int, high: int) -> Exception:
    return invalid_form_body(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _invalid_type(path: list[str]) -> Exception:
    return invalid_form_body(
        path, "COMPONENT_TYPE_INVALID", "The specified component type is invalid in this context"
    )


def _check_button(button: dict[str, Any], where: list[str]) -> None:
    style = button.get("style")
    if style not in (PRIMARY, SECONDARY, SUCCESS, DANGER, LINK, PREMIUM):
        raise invalid_form_body(
            [*where, "style"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4, 5, 6}."
        )
    label, custom_id, url = button.get("label"), button.get("custom_id"), button.get("url")
    if label is not None and len(label) > MAX_LABEL:
        raise too_long([*where, "label"], MAX_LABEL)
    if style == LINK:
        if not url:
            raise invalid_form_body([*where, "url"], "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
        if len(url) > MAX_BUTTON_URL:
            raise too_long([*where, "url"], MAX_BUTTON_URL)
        if custom_id is not None:
            raise invalid_form_body(
                [*where, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_INVALID",
                "A custom id cannot be used with a link button",
            )
    elif style == PREMIUM:
        if not button.get("sku_id"):
            raise invalid_form_body(
                [*where, "sku_id"], "BUTTON_COMPONENT_SKU_ID_REQUIRED", "A sku id is required"
            )
    else:
        if custom_id is None:
            raise invalid_form_body(
                [*where, "custom_id"], "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required"
            )
        if url is not None:
            raise invalid_form_body(
                [*where, "url"], "BUTTON_COMPONENT_URL_INVALID", "A url can only be used with a link button"
            )


def _check_row(row: dict[str, Any], where: list[str], custom_ids: set[str]) -> None:
    children = row.get("components") or []
    if not 1 <= len(children) <= MAX_ROW_BUTTONS:
        raise _bad_length([*where, "components"], 1, MAX_ROW_BUTTONS)
    for index, child in enumerate(children):
        at = [*where, "components", str(index)]
        kind = child.get("type")
        if kind == BUTTON:
            _check_button(child, at)
        elif kind in SELECT_MENUS:
            if len(children) > 1:
                raise invalid_form_body(
                    at, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width"
                )
            if child.get("custom_id") is None:
                raise invalid_form_body([*at, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
        else:
            raise _invalid_type([*at, "type"])
        custom_id = child.get("custom_id")
        if custom_id is None:
            continue
        if not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            raise _bad_length([*at, "custom_id"], 1, MAX_CUSTOM_ID)
        if custom_id in custom_ids:
            raise invalid_form_body(
                [*at, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id was already specified",
            )
        custom_ids.add(custom_id)


def check_components(components: list[dict[str, Any]], flags: int) -> None:
    """Action rows of buttons (or one select menu) as Discord checks them: at most 5 rows of at
    most 5 buttons, labels up to 80 characters, custom ids of 1-100 characters unique within the
    message, a custom id on every non-link button and a url (and no custom id) on a link button.

    With IS_COMPONENTS_V2 other layout components may stand at the top (up to 40); those are
    stored as sent, and only the action rows among them are checked."""
    v2 = bool(flags & IS_COMPONENTS_V2)
    if len(components) > (MAX_V2_COMPONENTS if v2 else MAX_ACTION_ROWS):
        raise too_long(["components"], MAX_V2_COMPONENTS if v2 else MAX_ACTION_ROWS)
    custom_ids: set[str] = set()
    for index, component in enumerate(components):
        where = ["components", str(index)]
        if component.get("type") == ACTION_ROW:
            _check_row(component, where, custom_ids)
        elif not v2:
            raise _invalid_type([*where, "type"])


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _children(component: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(component.get("components") or [])
    if isinstance(component.get("accessory"), dict):
        found.append(component["accessory"])
    return found


def with_component_ids(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Components as Discord stores them: null fields dropped, and every component given a
    numeric `id` unique within the message (sent ones kept, the others numbered in order)."""
    stored = _without_nulls(copy.deepcopy(components))
    used: set[int] = set()
    order: list[dict[str, Any]] = []
    stack = list(reversed(stored))
    while stack:
        component = stack.pop()
        order.append(component)
        if isinstance(component.get("id"), int) and component["id"] > 0:
            used.add(component["id"])
        stack.extend(reversed(_children(component)))
    next_id = 1
    for component in order:
        if isinstance(component.get("id"), int) and component["id"] > 0:
            continue
        while next_id in used:
            next_id += 1
        component["id"] = next_id
        used.add(next_id)
    return stored


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a message, in order (in action rows, and beside sections)."""
    found: list[dict[str, Any]] = []
    stack = list(reversed(message.get("components") or []))
    while stack:
        component = stack.pop()
        if component.get("type") == BUTTON:
            found.append(component)
        stack.extend(reversed(_children(component)))
    return found
