"""Checks traffic against Discord's own OpenAPI description of its HTTP API (discord-api-spec).

The description is not part of the repository: it is found through DISCORD_OPENAPI_PATH or at
../shared/data/discord-openapi.json beside the checkout. Without it, checking is off.

Where the description is looser than Discord: a follow-up's body is anyOf(a new message, an
edit), so a field of the wrong type can pass the request check; the emulator's own rules
(discord_emulator/messages.py) and the check of the message it answers with cover that ground.

Where it is stricter than Discord: a snowflake is described as a string only, but Discord takes
one in a request body as a JSON integer too, and discord.py sends some that way (a reply's
`message_reference`, `allowed_mentions.users`). Requests are checked against a copy of the
description that allows both; answers, which the emulator writes, keep the strict rule.

Where it is wrong: the field errors of a 400 (`errors.content._errors[0].code`) carry string
codes such as "BASE_TYPE_MAX_LENGTH" (Discord's reference shows one), not the integers it
describes; both copies are corrected so Discord's own error answers pass.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, MultiDict

SPEC_ENV = "DISCORD_OPENAPI_PATH"
# The description's server is https://discord.com/api/v10; requests are checked as if sent there.
SPEC_HOST = "https://discord.com"
SPEC_PREFIX = "/api/v10"


def locate_spec() -> Path | None:
    configured = os.environ.get(SPEC_ENV)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    repo_root = Path(__file__).resolve().parents[1]
    beside = repo_root.parent / "shared" / "data" / "discord-openapi.json"
    return beside if beside.is_file() else None


@functools.lru_cache(maxsize=4)
def _load(path: str, *, integer_snowflakes: bool = False) -> Any:
    from openapi_core import Config, OpenAPI

    description = json.loads(Path(path).read_text())
    field_error = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    }
    description["components"]["schemas"]["InnerErrors"]["properties"]["_errors"]["items"] = field_error
    if integer_snowflakes:
        schemas = description["components"]["schemas"]
        schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]}
    # Validating the 1.2 MB description itself takes seconds; it is Discord's published file,
    # so only the traffic is validated.
    return OpenAPI.from_dict(description, config=Config(spec_validator_cls=None))


class SpecRequest:
    """openapi-core's request protocol over a request the emulator already read."""

    def __init__(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
        content_type: str,
    ) -> None:
        self.host_url = SPEC_HOST
        self.path = SPEC_PREFIX + path
        self.method = method.lower()
        self.body = body or None
        self.content_type = content_type
        self._query, self._headers = query, headers

    @functools.cached_property
    def parameters(self) -> Any:
        # openapi-core is a dev dependency: imported only when a check really runs, so the
        # emulator (and `--self-test` in the image) works without it. Cached: openapi-core
        # writes the matched path parameters into this object.
        from openapi_core.datatypes import RequestParameters

        return RequestParameters(
            query=MultiDict(self._query), header=CIMultiDict(self._headers), cookie=MultiDict()
        )


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: CIMultiDict[str]
    data: bytes


def _most_specific(error: Any) -> Any:
    """Of a jsonschema error and the anyOf/oneOf alternatives below it, the one about the deepest
    part of the document (the shallowest such, whose message names the offending value)."""
    best, best_key = error, (len(error.absolute_path), 0)
    stack = [(error, 0)]
    while stack:
        node, depth = stack.pop()
        key = (len(node.absolute_path), -depth)
        if key > best_key:
            best, best_key = node, key
        stack.extend((sub, depth + 1) for sub in node.context or ())
    return best


def _describe(error: BaseException) -> str:
    """The exception's sentence plus the schema errors hidden in its cause chain."""
    parts = [str(error)[:200]]
    cause = error.__cause__
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            specific = _most_specific(schema_error)
            where = "/".join(str(step) for step in specific.absolute_path) or "body"
            parts.append(f"{where}: {specific.message[:300]}")
        cause = cause.__cause__
    return "\n".join(parts)


@dataclass
class PendingCall:
    request: SpecRequest
    response: _Response
    errors: list[str]
    """The recorded call's error list, filled in when the call is checked."""


class ContractChecker:
    def __init__(self, spec_path: Path | None) -> None:
        self.spec_path = spec_path
        # openapi-core comes with the dev extra; without it (the playground of a plain install, the
        # image's self-test) traffic is served unchecked rather than not at all.
        checkable = spec_path is not None and importlib.util.find_spec("openapi_core") is not None
        self._api = _load(str(spec_path)) if checkable else None
        self._requests_api = _load(str(spec_path), integer_snowflakes=True) if checkable else None
        self._pending: list[PendingCall] = []

    @property
    def enabled(self) -> bool:
        return self._api is not None

    def queue(
        self, request: SpecRequest, status: int, headers: dict[str, str], body: bytes, errors: list[str]
    ) -> None:
        """Keep a call to check later, in bulk; what is wrong with it is appended to `errors`."""
        if self._api is None:
            return
        content_type = headers.get("Content-Type", "")
        response = _Response(status, content_type, CIMultiDict(headers), body)
        self._pending.append(PendingCall(request, response, errors))

    def check_pending(self) -> None:
        """Check every queued call: its path, method, parameters and body, then the answer."""
        pending, self._pending = self._pending, []
        for item in pending:
            what = f"{item.request.method.upper()} {item.request.path}"
            try:
                self._requests_api.validate_request(item.request)
            except Exception as error:  # openapi-core raises a family of unrelated exception types
                item.errors.append(f"request {what}: {_describe(error)}")
            try:
                self._api.validate_response(item.request, item.response)
            except Exception as error:  # as above
                item.errors.append(f"response {item.response.status_code} to {what}: {_describe(error)}")
