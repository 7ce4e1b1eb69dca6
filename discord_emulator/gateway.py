"""Discord's gateway websocket: HELLO, heartbeats, IDENTIFY/READY, RESUME with replay, shards.

https://discord.com/developers/docs/events/gateway. Frames go out as plain JSON text: discord.py asks
for zlib-stream compression but reads text frames uncompressed, so nothing is lost by skipping it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .models import World

log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED, AUTHENTICATION_FAILED = 4001, 4002, 4003, 4004
ALREADY_AUTHENTICATED, SESSION_TIMED_OUT, INVALID_SHARD = 4005, 4009, 4010
INVALID_API_VERSION, DISALLOWED_INTENTS = 4012, 4014

# IDENTIFYs allowed per rate limit key (shard_id % max_concurrency) in this many seconds.
IDENTIFY_WINDOW = 5.0

GUILDS_INTENT = 1 << 0
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
REPLAY_BUFFER = 5000


@dataclass
class Connection:
    socket: web.WebSocketResponse
    request: web.Request
    last_heartbeat: float

    async def send(self, payload: dict[str, Any]) -> None:
        await self.socket.send_str(json.dumps(payload))

    async def close(self, code: int) -> None:
        await self.socket.close(code=code)


@dataclass
class Session:
    id: str
    shard_id: int
    shard_count: int
    intents: int
    seq: int = 0
    connection: Connection | None = None
    # Events stay here after sending so a RESUME can replay what a dropped connection missed.
    sent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def handles_guild(self, guild_id: int | None) -> bool:
        shard = 0 if guild_id is None else (guild_id >> 22) % self.shard_count
        return shard == self.shard_id

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        async with self.lock:
            self.seq += 1
            frame = json.dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data})
            self.sent.append((self.seq, frame))
            await self._send_frame(frame)

    async def _send_frame(self, frame: str) -> None:
        if self.connection is None or self.connection.socket.closed:
            return
        try:
            await self.connection.socket.send_str(frame)
        except (ConnectionResetError, RuntimeError):
            # The client will RESUME and get this event from `sent`.
            self.connection = None

    async def attach_and_replay(self, connection: Connection, after_seq: int) -> None:
        async with self.lock:
            self.connection = connection
            for seq, frame in list(self.sent):
                if seq > after_seq:
                    await self._send_frame(frame)
        await self.dispatch("RESUMED", {})


class Gateway:
    def __init__(self, world: World, *, heartbeat_interval_ms: int) -> None:
        self._world = world
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_heartbeats = True
        self.url = ""
        self.sessions: dict[str, Session] = {}
        self.identifies = 0
        # Shards that may IDENTIFY at once (/gateway/bot's session_start_limit.max_concurrency):
        # one IDENTIFY per rate limit key per IDENTIFY_WINDOW, the next gets INVALID_SESSION.
        self.max_concurrency = 1
        self.refused_identifies = 0
        self._identified_at: dict[int, float] = {}
        self.resumes = 0
        self.heartbeats = 0
        self._changed = asyncio.Condition()

    def live_sessions(self) -> list[Session]:
        return [session for session in self.sessions.values() if session.connection is not None]

    def connected(self) -> bool:
        sessions = self.live_sessions()
        return bool(sessions) and len(sessions) == sessions[0].shard_count

    async def _changed_now(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_connected(self, timeout: float) -> None:
        """Until every shard of the bot has a READY or RESUMED connection."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(self.connected), timeout)

    async def dispatch_for_guild(self, guild_id: int | None, event: str, data: dict[str, Any]) -> None:
        """Send to the shard that owns the guild (DMs go to shard 0), if any session has it."""
        for session in self.sessions.values():
            if session.handles_guild(guild_id):
                await session.dispatch(event, data)
                return

    async def drop(self, code: int | None = None, *, resumable: bool = True) -> int:
        """Cut every live connection: a TCP reset by default, or a close frame with `code`.

        With `resumable=False` the sessions are forgotten too, as Discord does after a long outage:
        the client's RESUME then gets INVALID_SESSION and it must IDENTIFY afresh."""
        dropped = 0
        for session in self.live_sessions():
            connection = session.connection
            assert connection is not None
            session.connection = None
            if not resumable:
                del self.sessions[session.id]
            if code is None and connection.request.transport is not None:
                connection.request.transport.abort()
            else:
                await connection.close(code or 4000)
            dropped += 1
        await self._changed_now()
        return dropped

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        connection = Connection(socket, request, asyncio.get_running_loop().time())
        if request.query.get("v", "10") != "10" or request.query.get("encoding", "json") != "json":
            await connection.close(INVALID_API_VERSION)
            return socket
        await connection.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        watchdog = asyncio.create_task(self._watch_heartbeats(connection))
        session: Session | None = None
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    await connection.close(DECODE_ERROR)
                    break
                session = await self._receive(connection, session, message.data)
        finally:
            watchdog.cancel()
            if session is not None and session.connection is connection:
                session.connection = None
            await self._changed_now()
        return socket

    async def _watch_heartbeats(self, connection: Connection) -> None:
        """Discord closes a connection whose heartbeats stop (a zombie or a blocked event loop).

        Real time, not the emulator's clock: a test jumping past the 15 minutes is not a silence."""
        loop = asyncio.get_running_loop()
        allowed = self.heartbeat_interval_ms / 1000 * 1.5
        while not connection.socket.closed:
            await asyncio.sleep(allowed / 4)
            if loop.time() - connection.last_heartbeat > allowed:
                log.warning("gateway: no heartbeat for %.1f s, closing", allowed)
                await connection.close(SESSION_TIMED_OUT)
                return

    async def _receive(self, connection: Connection, session: Session | None, text: str) -> Session | None:
        try:
            payload = json.loads(text)
            op, data = payload["op"], payload.get("d")
        except (ValueError, KeyError, TypeError):
            await connection.close(DECODE_ERROR)
            return session
        if op == HEARTBEAT:
            connection.last_heartbeat = asyncio.get_running_loop().time()
            self.heartbeats += 1
            if self.ack_heartbeats:  # off: a "zombie" connection, as a test may ask for
                await connection.send({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            if session is not None:
                await connection.close(ALREADY_AUTHENTICATED)
                return session
            return await self._identify(connection, data or {})
        elif op == RESUME:
            return await self._resume(connection, data or {})
        elif session is None:
            await connection.close(NOT_AUTHENTICATED)
        elif op == REQUEST_GUILD_MEMBERS:
            await self._send_members(session, data or {})
        elif op not in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            await connection.close(UNKNOWN_OPCODE)
        return session

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self._world.token:
            await connection.close(AUTHENTICATION_FAILED)
            return None
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await connection.close(INVALID_SHARD)
            return None
        intents = int(data.get("intents", 0))
        # The emulated application has no privileged intent enabled in its developer portal.
        if intents & PRIVILEGED_INTENTS:
            await connection.close(DISALLOWED_INTENTS)
            return None
        if not await self._may_identify(connection, shard_id):
            return None
        for old in [s for s in self.sessions.values() if s.shard_id == shard_id]:
            del self.sessions[old.id]
        session = Session(secrets.token_hex(16), shard_id, shard_count, intents)
        session.connection = connection
        self.sessions[session.id] = session
        self.identifies += 1
        await session.dispatch("READY", self._ready(session, "shard" in data))
        if intents & GUILDS_INTENT:
            for guild in self._world.bot_guilds():  # a guild that never added the bot: not a word
                if session.handles_guild(guild.id):
                    await session.dispatch("GUILD_CREATE", guild.to_dict(self._world.started_at))
        await self._changed_now()
        return session

    async def _may_identify(self, connection: Connection, shard_id: int) -> bool:
        """Discord's identify concurrency: shards whose rate_limit_key (shard_id % max_concurrency)
        is the same start one per 5 s; one beyond that gets INVALID_SESSION (d: false) and must
        IDENTIFY again later (events/gateway.mdx, Max Concurrency). The emulator's clock: a test
        may move it on rather than wait."""
        key = shard_id % self.max_concurrency
        now = self._world.clock.now()
        last = self._identified_at.get(key)
        if last is not None and now - last < IDENTIFY_WINDOW:
            self.refused_identifies += 1
            log.info("gateway: shard %s identified %.1f s after another of key %s: INVALID_SESSION",
                     shard_id, now - last, key)
            await connection.send({"op": INVALID_SESSION, "d": False})
            return False
        self._identified_at[key] = now
        return True

    def _ready(self, session: Session, sharded: bool) -> dict[str, Any]:
        world = self._world
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**world.bot.to_dict(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(guild.id), "unavailable": True}
                       for guild in world.bot_guilds() if session.handles_guild(guild.id)],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {"id": str(world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
        }
        if sharded:
            ready["shard"] = [session.shard_id, session.shard_count]
        return ready

    async def _resume(self, connection: Connection, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or data.get("token") != self._world.token:
            # discord.py then closes and IDENTIFYs afresh.
            await connection.send({"op": INVALID_SESSION, "d": False})
            return None
        self.resumes += 1
        await session.attach_and_replay(connection, int(data.get("seq") or 0))
        await self._changed_now()
        return session

    async def _send_members(self, session: Session, data: dict[str, Any]) -> None:
        requested = str(data.get("guild_id", ""))
        guild = self._world.guilds.get(int(requested)) if requested.isdigit() else None
        if guild is None or not session.handles_guild(guild.id) or not guild.has_member(self._world.bot.id):
            return  # no members to send: not a guild of this shard, or not one the bot is in
        members = [member.to_dict() for member in guild.members.values()]
        await session.dispatch(
            "GUILD_MEMBERS_CHUNK",
            {"guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1,
             "nonce": data.get("nonce")},
        )
