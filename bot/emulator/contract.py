"""Checks traffic against Discord's own OpenAPI description of its HTTP API (discord-api-spec).

The description is not part of the repository: it is found through DISCORD_OPENAPI_PATH or at
../shared/data/discord-openapi.json beside the checkout. Without it, checking is off.
"""

from __future__ import annotations

import functools
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
    repo_root = Path(__file__).resolve().parents[2]
    beside = repo_root.parent / "shared" / "data" / "discord-openapi.json"
    return beside if beside.is_file() else None


@functools.lru_cache(maxsize=2)
def _load(path: str) -> Any:
    from openapi_core import Config, OpenAPI

    # Validating the 1.2 MB description itself takes seconds; it is Discord's published file,
    # so only the traffic is validated.
    return OpenAPI.from_dict(json.loads(Path(path).read_text()), config=Config(spec_validator_cls=None))


class SpecRequest:
    """openapi-core's request protocol over a request the emulator already read."""

    def __init__(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes,
        content_type: str,
    ) -> None:
        from openapi_core.datatypes import RequestParameters

        self.host_url = SPEC_HOST
        self.path = SPEC_PREFIX + path
        self.method = method.lower()
        self.body = body or None
        self.content_type = content_type
        self.parameters = RequestParameters(
            query=MultiDict(query), header=CIMultiDict(headers), cookie=MultiDict()
        )


@dataclass
class _Response:
    status_code: int
    content_type: str
    headers: CIMultiDict[str]
    data: bytes


def _describe(error: BaseException) -> str:
    """The exception's sentence plus the schema errors hidden in its cause chain."""
    parts = [str(error)[:300]]
    cause = error.__cause__
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            where = "/".join(str(step) for step in schema_error.absolute_path) or "body"
            parts.append(f"{where}: {schema_error.message[:300]}")
            for sub in (schema_error.context or [])[:4]:
                parts.append(f"  {'/'.join(str(s) for s in sub.absolute_path)}: {sub.message[:200]}")
        cause = cause.__cause__
    return "\n".join(parts)


@dataclass
class PendingResponse:
    request: SpecRequest
    response: _Response
    errors: list[str]
    """The recorded call's error list, filled in when the response is checked."""


class ContractChecker:
    def __init__(self, spec_path: Path | None) -> None:
        self.spec_path = spec_path
        self._api = _load(str(spec_path)) if spec_path is not None else None
        self._pending: list[PendingResponse] = []

    @property
    def enabled(self) -> bool:
        return self._api is not None

    def check_request(self, request: SpecRequest) -> str | None:
        """Why the description rejects this request (path, method, parameters, body), if it does."""
        if self._api is None:
            return None
        try:
            self._api.validate_request(request)
        except Exception as error:  # openapi-core raises a family of unrelated exception types
            return f"request {request.method.upper()} {request.path}: {_describe(error)}"
        return None

    def queue_response(
        self, request: SpecRequest, status: int, headers: dict[str, str], body: bytes, errors: list[str]
    ) -> None:
        """Responses are checked later, in bulk, so a 300-interaction burst is not slowed by it."""
        if self._api is None:
            return
        content_type = headers.get("Content-Type", "")
        response = _Response(status, content_type, CIMultiDict(headers), body)
        self._pending.append(PendingResponse(request, response, errors))

    def check_pending_responses(self) -> None:
        pending, self._pending = self._pending, []
        for item in pending:
            try:
                self._api.validate_response(item.request, item.response)
            except Exception as error:  # see check_request
                item.errors.append(
                    f"response {item.response.status_code} to {item.request.method.upper()} "
                    f"{item.request.path}: {_describe(error)}"
                )
