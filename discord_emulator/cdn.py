"""Discord's attachment host: the files behind attachment objects, served over HTTP.

Discord serves a message's files at https://cdn.discordapp.com/attachments/{channel}/{id}/{name}
and the files a person attaches to a command at .../ephemeral-attachments/{channel}/{id}/{name},
each url signed (`?ex=...&is=...&hm=...&`: expiry, issue time, signature;
https://discord.com/developers/docs/reference#signed-attachment-cdn-urls). Until the emulator is
started its urls name Discord's hosts; once started they point at its own HTTP server
(`{cdn_base}/attachments/...`), so a bot can download what it is given, and what it uploaded.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .clock import Clock

DISCORD_CDN = "https://cdn.discordapp.com"
DISCORD_MEDIA_PROXY = "https://media.discordapp.net"
URL_LIFETIME = 24 * 60 * 60  # seconds a signed url stays valid (unconfirmed: Discord's is about a day)
ATTACHMENTS, EPHEMERAL_ATTACHMENTS = "attachments", "ephemeral-attachments"
GONE = "This content is no longer available."


def guess_content_type(filename: str, data: bytes | None = None) -> str | None:
    """The media type Discord reports for a file it was given without one: from the name, and
    for text a charset (Discord sends e.g. `text/plain; charset=utf-8`)."""
    guessed = mimetypes.guess_type(filename)[0]
    if guessed and guessed.startswith("text/") and data is not None:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return guessed
        return f"{guessed}; charset=utf-8"
    return guessed


@dataclass
class CdnRequest:
    """One request the CDN answered (they are not REST calls: Emulator.calls leaves them out)."""

    method: str
    path: str
    """Below the CDN base, percent-decoded, e.g. /attachments/1/2/lore.txt (no query)."""
    status: int


class Cdn:
    """Files by attachment id (`files`: the bytes, as Emulator.files), the place each one is
    served at, and the HTTP handler that serves them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self.base = DISCORD_CDN
        self.proxy_base = DISCORD_MEDIA_PROXY
        self.files: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self._places: dict[str, str] = {}  # attachment id -> its path below the base
        self.requests: list[CdnRequest] = []

    def serve_at(self, base: str) -> None:
        """Urls built from now on point at `base` (the emulator's own HTTP server)."""
        self.base = self.proxy_base = base.rstrip("/")

    def store(self, attachment_id: str, data: bytes, content_type: str | None = None) -> None:
        self.files[str(attachment_id)] = data
        if content_type:
            self.content_types[str(attachment_id)] = content_type

    def urls(self, attachment_id: str, channel_id: str | int, filename: str, *,
             ephemeral: bool = False) -> tuple[str, str]:
        """(url, proxy_url) of an attachment, signed; the file is served at that path from now on
        (a second call for the same id, e.g. a message edit keeping it, keeps the first place)."""
        kind = EPHEMERAL_ATTACHMENTS if ephemeral else ATTACHMENTS
        place = f"/{kind}/{channel_id}/{attachment_id}/{filename}"
        place = self._places.setdefault(str(attachment_id), place)
        *head, name = place.split("/", 4)
        signed = f"{'/'.join(head)}/{quote(name, safe='')}{self._signature(place)}"
        return self.base + signed, self.proxy_base + signed

    def _signature(self, path: str) -> str:
        issued = int(self._clock.utcnow().timestamp())
        expires = f"{issued + URL_LIFETIME:x}"
        return f"?ex={expires}&is={issued:x}&hm={self._mac(path, expires, f'{issued:x}')}&"

    def _mac(self, path: str, expires: str, issued: str) -> str:
        return hmac.new(self._secret, f"{path}|{expires}|{issued}".encode(), hashlib.sha256).hexdigest()

    def _valid_signature(self, path: str, query: Any) -> bool:
        """An unsigned url is served (unconfirmed what Discord does); a signed one only with its
        own signature, until it expires on the emulator's clock."""
        given = [query.get(key) for key in ("ex", "is", "hm")]
        if not any(given):
            return True
        expires, issued, mac = given
        if not (expires and issued and mac) or not hmac.compare_digest(mac, self._mac(path, expires, issued)):
            return False
        try:
            return self._clock.utcnow().timestamp() < int(expires, 16)
        except ValueError:
            return False

    def find(self, path: str) -> str | None:
        """The attachment id served at `path` (below the base, percent-decoded)."""
        parts = path.split("/", 4)
        if len(parts) != 5 or parts[1] not in (ATTACHMENTS, EPHEMERAL_ATTACHMENTS):
            return None
        attachment_id = parts[3]
        if attachment_id in self.files and self._places.get(attachment_id) == path:
            return attachment_id
        return None

    async def handle(self, request: web.Request) -> web.Response:
        """GET {base}/attachments/{channel_id}/{attachment_id}/{filename} (and ephemeral-attachments)."""
        path = request.path.removeprefix("/cdn")
        attachment_id = self.find(path) if request.method in ("GET", "HEAD") else None
        if request.method not in ("GET", "HEAD"):
            response = web.Response(status=405, text="405: Method Not Allowed")
        elif attachment_id is None:
            response = web.Response(status=404, text="404: Not Found")
        elif not self._valid_signature(path, request.query):
            response = web.Response(status=404, text=GONE)
        else:
            content_type = self.content_types.get(attachment_id) or "application/octet-stream"
            response = web.Response(body=self.files[attachment_id], headers={"Content-Type": content_type})
        self.requests.append(CdnRequest(request.method, path, response.status))
        return response
