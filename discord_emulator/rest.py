"""Discord's HTTP API, the part a slash-command bot uses, with every call recorded and checked.

Each request goes: record -> injected fault -> auth -> handler (Discord's rules); each answer is
exactly `application/json` (discord.py does not parse `application/json; charset=utf-8`). The
OpenAPI check of request and answer is queued, not done here: at a few milliseconds a call it
would, in a burst, eat into the bot's 3 s to acknowledge.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import errors, messages
from .channels import ChannelMessages
from .contract import SpecRequest
from .errors import DiscordError
from .kinds import ATTACHMENT_SIZE_LIMIT
from .recorder import RecordedCall

if TYPE_CHECKING:
    from .interactions import InteractionRecord
    from .server import Emulator

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
# (request, parsed JSON body, arrival time on the emulator's clock) -> (status, JSON answer)
Handler = Callable[[web.Request, Any, float], Awaitable[tuple[int, Any]]]


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    body = json.dumps(data, ensure_ascii=False).encode()
    return web.Response(
        status=status, body=body, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def _form_parts(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes, str | None]]:
    """A multipart/form-data body (already read) as name -> (filename, bytes, content type)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    parts = {}
    if not message.is_multipart():
        raise DiscordError(400, 50109, "The request body contains invalid JSON.")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"",
                                part.get_content_type() if part.get("Content-Type") else None)
    return parts


def _truthy(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true")


def _check_followup_parameters(request: web.Request, body: dict[str, Any]) -> None:
    """Execute Webhook's parameters that an interaction follow-up does not support (Create
    Followup Message: thread_id, avatar_url, username), and `wait=false`, which Discord ignores
    there (wait is always true): refused, so no client counts on them."""
    if "thread_id" in request.query:
        raise errors.invalid_form_body(
            ["thread_id"], "INTERACTION_FOLLOWUP_PARAMETER", "thread_id is not supported on follow-ups")
    if request.query.get("wait", "true").lower() not in ("1", "true"):
        raise errors.invalid_form_body(
            ["wait"], "INTERACTION_FOLLOWUP_PARAMETER", "wait is always true on follow-ups")
    for name in ("avatar_url", "username"):
        if name in body:
            raise errors.invalid_form_body(
                [name], "INTERACTION_FOLLOWUP_PARAMETER", f"{name} is not supported on follow-ups")


@contextlib.contextmanager
def _noted_on(record: InteractionRecord) -> Iterator[None]:
    """Keep Discord's refusal of a call for an interaction on its record (record.refused)."""
    try:
        yield
    except DiscordError as error:
        record.refused.append(error.body())
        record._notify()
        raise


class RestApi:
    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator
        self._channels = ChannelMessages(emulator.world)

    def routes(self) -> list[web.RouteDef]:
        app, guild = "/applications/{application_id}", "/guilds/{guild_id}"
        message = "/webhooks/{application_id}/{token}/messages/{message_id}"
        channel_messages = "/channels/{channel_id}/messages"
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/users/@me", self.get_me, True),
            ("GET", "/oauth2/applications/@me", self.get_application, True),
            ("GET", "/gateway", self.get_gateway, False),
            ("GET", "/gateway/bot", self.get_gateway_bot, True),
            ("GET", f"{app}/commands", self.get_commands, True),
            ("PUT", f"{app}/commands", self.put_commands, True),
            ("GET", f"{app}{guild}/commands", self.get_commands, True),
            ("PUT", f"{app}{guild}/commands", self.put_commands, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self.callback, False),
            ("POST", "/webhooks/{application_id}/{token}", self.followup, False),
            ("GET", message, self.get_message, False),
            ("PATCH", message, self.edit_message, False),
            ("DELETE", message, self.delete_message, False),
            ("POST", channel_messages, self.create_channel_message, True),
            ("GET", f"{channel_messages}/{{message_id}}", self.get_channel_message, True),
            ("PATCH", f"{channel_messages}/{{message_id}}", self.edit_channel_message, True),
            ("DELETE", f"{channel_messages}/{{message_id}}", self.delete_channel_message, True),
            ("POST", "/users/@me/channels", self.open_dm, True),
        ]
        routes = [
            web.route(method, API_PREFIX + path, self._endpoint(path, handler, auth))
            for method, path, handler, auth in table
        ]
        routes.append(web.route("*", "/{tail:.*}", self._endpoint("", self.unknown, False)))
        return routes

    def _endpoint(self, route: str, handler: Handler, auth: bool) -> Callable[..., Any]:
        async def endpoint(request: web.Request) -> web.Response:
            emu = self._emu
            raw = await request.read()
            path = request.path.removeprefix(API_PREFIX)
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            call = emu.recorder.add(RecordedCall(
                request.method, path, route, dict(request.query), None, emu.clock.now(),
                port=sockname[1] if sockname else 0,
            ))
            headers: dict[str, str] = {}
            fault = emu.faults.take_rate_limit(request.method, path)
            spec_request = SpecRequest(
                request.method, path, dict(request.query), dict(request.headers), raw,
                request.content_type,
            )
            try:
                call.body = await self._body(request, raw, spec_request)
                if fault is not None:
                    call.injected = True
                    status, data, headers = 429, fault.body(), fault.headers()
                else:
                    if auth and request.headers.get("Authorization") != f"Bot {emu.world.token}":
                        raise errors.unauthorized()
                    status, data = await handler(request, call.body, call.at)
            except DiscordError as error:
                status, data = error.status, error.body()
            except Exception:  # a body no rule foresaw; Discord answers those with a 500 too
                log.exception("emulator: %s %s failed", request.method, path)
                status, data = 500, {"message": "500: Internal Server Error", "code": 0}
            call.status, call.response = status, data
            response = _json(status, data, headers)
            if route:  # an unknown endpoint is reported as such, not as a contract breach
                emu.contract.queue(
                    spec_request, status, dict(response.headers), response.body or b"",
                    call.contract_errors,
                )
            return response

        return endpoint

    async def _body(self, request: web.Request, raw: bytes, spec_request: SpecRequest) -> Any:
        if not raw:
            return None
        files: dict[str, tuple[str, bytes, str | None]] = {}
        if request.content_type == "multipart/form-data":
            # A file upload: the JSON part is the `payload_json` field (what gets checked against
            # the description), each file a `files[N]` part that the JSON's attachments[] entry
            # with id N describes. The files are kept (Emulator.files, attachment_data) under the ids
            # their attachments get, and served at their urls (cdn.py), as Discord's CDN serves them.
            parts = _form_parts(request.headers.get("Content-Type", ""), raw)
            payload = parts.pop("payload_json", None)
            raw = payload[1] if payload is not None else b""
            spec_request.body, spec_request.content_type = raw, "application/json"
            for name, (filename, data, content_type) in parts.items():
                if name.startswith("files[") and name.endswith("]"):
                    files[name[len("files["):-1]] = (filename or "unknown", data, content_type)
            if sum(len(data) for _, data, _ in files.values()) > ATTACHMENT_SIZE_LIMIT:
                raise DiscordError(413, 40005, "Request entity too large")
        try:
            body = json.loads(raw)
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
        if files and isinstance(body, dict):
            self._attach(body, files)
        return body

    def _attach(self, body: dict[str, Any], files: dict[str, tuple[str, bytes, str | None]]) -> None:
        # An interaction callback ({"type": 4, "data": {...}}) describes its files in its data.
        message = body["data"] if "type" in body and isinstance(body.get("data"), dict) else body
        described = message.get("attachments")
        if not isinstance(described, list):
            described = [{"id": key, "filename": name} for key, (name, _, _) in files.items()]
            message["attachments"] = described
        for attachment in described:
            key = str(attachment.get("id")) if isinstance(attachment, dict) else ""
            if key not in files:
                continue
            filename, data, content_type = files.pop(key)
            attachment["id"] = str(self._emu.world.snowflakes.next())
            attachment.setdefault("filename", filename)
            attachment["size"] = len(data)
            if content_type and content_type != "application/octet-stream":
                attachment.setdefault("content_type", content_type)
            self._emu.world.cdn.store(attachment["id"], data, attachment.get("content_type"))
        if files:
            raise errors.invalid_form_body(["attachments"], "ATTACHMENT_NOT_FOUND",
                                           "A file has no attachment entry describing it.")

    # -- identity and gateway discovery --

    async def get_me(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        return 200, self._emu.world.bot_user_pii_dict()

    async def get_application(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        return 200, self._emu.world.application_dict()

    async def get_gateway(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        return 200, {"url": self._emu.gateway.url}

    async def get_gateway_bot(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000,
                 "max_concurrency": self._emu.gateway.max_concurrency}
        return 200, {"url": self._emu.gateway.url, "shards": 1, "session_start_limit": limit}

    # -- application commands --

    def _scope(self, request: web.Request) -> int | None:
        world = self._emu.world
        if request.match_info["application_id"] != str(world.application_id):
            raise errors.missing_access()
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and guild_id not in {str(known) for known in world.guilds}:
            raise errors.missing_access()
        return None if guild_id is None else int(guild_id)

    async def get_commands(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        return 200, self._emu.commands.listed(self._scope(request))

    async def put_commands(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        stored = self._emu.commands.replace(self._scope(request), body or [])
        return 200, stored

    # -- interactions --

    def _interaction(self, request: web.Request) -> InteractionRecord:
        """The interaction a webhook token belongs to; Discord answers 10015 for any other."""
        record = self._emu.interactions_by_token.get(request.match_info["token"])
        if record is None or request.match_info["application_id"] != str(self._emu.world.application_id):
            raise errors.unknown_webhook()
        return record

    async def callback(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        emu = self._emu
        record = emu.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            raise errors.unknown_interaction()
        with _noted_on(record):
            message = record.callback(emu.world, body or {}, now, emu.rules)
        # The description allows 204 either way; discord.py always sends with_response=1 (as it
        # sends every boolean query parameter as 1/0) and cannot take an empty answer to it.
        if not _truthy(request, "with_response"):
            return 204, None
        summary: dict[str, Any] = {"id": str(record.id), "type": record.payload["type"]}
        if message is not None:
            summary.update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & messages.LOADING),
                response_message_ephemeral=bool(message["flags"] & messages.EPHEMERAL),
            )
        reply: dict[str, Any] = {"interaction": summary}
        if message is not None and not message["flags"] & messages.LOADING:
            reply["resource"] = {"type": record.callback_type, "message": self._seen(message)}
        return 200, reply

    def _seen(self, message: dict[str, Any]) -> dict[str, Any]:
        return messages.seen_by_bot(self._emu.world, message)

    async def followup(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        emu = self._emu
        record = self._interaction(request)
        with _noted_on(record):
            _check_followup_parameters(request, body or {})
            message = record.followup(emu.world, body or {}, now, emu.rules)
        # "Functions the same as Execute Webhook, but `wait` is always true": the message, always.
        return 200, self._seen(message)

    async def get_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        record = self._interaction(request)
        with _noted_on(record):
            message = record.find(request.match_info["message_id"], now, self._emu.rules)
        return 200, self._seen(message)

    async def edit_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        emu, record = self._emu, self._interaction(request)
        message_id = request.match_info["message_id"]
        with _noted_on(record):
            message = record.edit(emu.world, message_id, body or {}, now, emu.rules)
        return 200, self._seen(message)

    async def delete_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        record = self._interaction(request)
        with _noted_on(record):
            record.delete(request.match_info["message_id"], now, self._emu.rules)
        return 204, None

    # -- channel messages --

    async def create_channel_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        message = self._channels.create(request.match_info["channel_id"], body or {})
        return 200, self._seen(message)

    async def get_channel_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        match = request.match_info
        return 200, self._seen(self._channels.get(match["channel_id"], match["message_id"]))

    async def edit_channel_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        match = request.match_info
        return 200, self._seen(self._channels.edit(match["channel_id"], match["message_id"], body or {}))

    async def delete_channel_message(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        match = request.match_info
        self._channels.delete(match["channel_id"], match["message_id"])
        return 204, None

    async def open_dm(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        return 200, self._channels.open_dm(body or {})

    async def unknown(self, request: web.Request, body: Any, now: float) -> tuple[int, Any]:
        raise errors.not_found()
