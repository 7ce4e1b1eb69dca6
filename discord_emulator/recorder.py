"""Every REST call the bot made, with what the emulator answered, and the faults it was asked to inject."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordedCall:
    method: str
    path: str
    """The path below the API base, e.g. /webhooks/1/abc."""
    route: str
    """The emulator's route template, e.g. /webhooks/{application_id}/{token}; "" if unknown."""
    query: dict[str, str]
    body: Any
    at: float
    port: int = 0
    """The emulator's port the call came in on (see Emulator.add_address)."""
    status: int = 0
    response: Any = None
    injected: bool = False
    """True when the answer was a fault the test injected (a 429), not the emulator's own."""
    contract_errors: list[str] = field(default_factory=list)
    """What the OpenAPI description found wrong with the request or the response."""

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []

    def add(self, call: RecordedCall) -> RecordedCall:
        self.calls.append(call)
        return call

    def find(self, pattern: str = "*") -> list[RecordedCall]:
        """Calls whose "METHOD /path" matches a shell-style pattern, e.g. "POST /webhooks/*"."""
        return [call for call in self.calls if fnmatch.fnmatchcase(f"{call.method} {call.path}", pattern)]

    def unknown_routes(self) -> list[RecordedCall]:
        """Calls to endpoints the emulator does not implement: Discord has them, so tests fail."""
        return [call for call in self.calls if not call.route]


@dataclass
class RateLimitFault:
    pattern: str
    retry_after: float
    remaining: int
    is_global: bool

    def body(self) -> dict[str, Any]:
        return {
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": self.is_global,
            "code": 0,
        }

    def headers(self) -> dict[str, str]:
        # discord.py only honours a 429 that carries Via (one without it looks like Cloudflare's ban).
        return {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(self.retry_after))),
            "X-RateLimit-Scope": "shared" if not self.is_global else "global",
            "X-RateLimit-Global": "true" if self.is_global else "false",
        }


class Faults:
    def __init__(self) -> None:
        self._rate_limits: list[RateLimitFault] = []

    def add_rate_limit(self, pattern: str, retry_after: float, count: int, is_global: bool) -> None:
        self._rate_limits.append(RateLimitFault(pattern, retry_after, count, is_global))

    def take_rate_limit(self, method: str, path: str) -> RateLimitFault | None:
        for fault in self._rate_limits:
            if fault.remaining > 0 and fnmatch.fnmatchcase(f"{method} {path}", fault.pattern):
                fault.remaining -= 1
                return fault
        return None
