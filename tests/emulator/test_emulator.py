"""The emulator against the real, unmodified discord.py client (no bot code involved).

A small client written here logs in, syncs a command tree, and answers interactions; each test
checks one of Discord's rules or one of the emulator's faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands

from discord_emulator import CommandHiddenError, CommandInputError, Emulator, NoResponse
from discord_emulator.gateway import IDENTIFY_WINDOW
from tests.emulator.harness import BareClient, assert_clean, connect_bare_client, http_errors


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[BareClient]:
    async with connect_bare_client(emu) as bot:
        yield bot


async def test_login_ready_and_command_sync(emu: Emulator, client: BareClient) -> None:
    assert client.user is not None and client.user.id == emu.world.bot.id
    assert [guild.id for guild in client.guilds] == [emu.world.guild.id]
    assert {"echo", "slow", "late", "long", "settings"} <= set(emu.commands.names(None))
    assert [str(call) for call in emu.calls[:1]] == ["GET /users/@me -> 200"]
    assert emu.rejected_calls() == []
    assert_clean(emu)


async def test_immediate_reply_and_allowed_mentions(emu: Emulator, client: BareClient) -> None:
    member = emu.world.user("member")
    text = f"@everyone hello <@{member.id}>"
    safe = await (await emu.send_command(f"/echo text:{text}")).wait_reply(5)
    assert safe.content == text
    assert not safe.message["mention_everyone"] and safe.message["mentions"] == []

    unsafe = await (await emu.send_command(f"/echo text:{text} safe:false")).wait_reply(5)
    assert unsafe.message["mention_everyone"]
    assert [user["id"] for user in unsafe.message["mentions"]] == [str(member.id)]
    assert_clean(emu)


async def test_defer_then_edit_original_replaces_the_thinking_message(
    emu: Emulator, client: BareClient
) -> None:
    sent = await emu.send_command("/slow private:true", user="member")
    assert await sent.wait_ack(5) == 5
    assert sent.record.loading and sent.record.ack_latency is not None
    client.release.set()
    reply = await sent.wait_reply(5)
    assert reply.content == "done" and reply.ephemeral
    assert len(reply.messages) == 1 and sent.record.answers == 1
    assert [str(call).split("/")[1] for call in emu.calls[-2:]] == ["interactions", "webhooks"]
    assert_clean(emu)


async def test_followup_standing_in_for_a_deferred_response_is_refused(
    emu: Emulator, client: BareClient
) -> None:
    """Discord still lets a follow-up edit the 'thinking' message, deprecated "for backwards
    compatibility" (receiving-and-responding, Create Followup Message); the emulator refuses it.
    Once @original is edited, follow-ups are new messages again."""
    sent = await emu.send_command("/standin")
    reply = await sent.wait_reply(5)
    assert await http_errors(client) == [(400, 0)]
    assert "edit the original response" in str(client.errors[0])
    assert reply.content == "answer"
    for _ in range(100):
        if len(sent.record.followups) == 1:
            break
        await asyncio.sleep(0.05)
    assert [message["content"] for message in sent.record.visible_messages()] == ["answer", "and more"]


async def test_late_acknowledgement_is_unknown_interaction(emu: Emulator, client: BareClient) -> None:
    sent = await emu.send_command("/late")
    emu.clock.advance(emu.rules.ack_window + 0.5)
    with pytest.raises(NoResponse):
        await sent.wait_reply(5)
    client.release.set()
    assert await http_errors(client) == [(404, 10062)]
    assert sent.record.rejected_late == 1 and not sent.record.answered


async def test_followup_after_fifteen_minutes_is_refused(emu: Emulator, client: BareClient) -> None:
    sent = await emu.send_command("/slow")
    await sent.wait_ack(5)
    emu.clock.advance(15 * 60 + 1)
    client.release.set()
    assert await http_errors(client) == [(401, 50027)]


async def test_content_over_2000_characters_is_rejected(emu: Emulator, client: BareClient) -> None:
    accepted = await (await emu.send_command("/long size:2000")).wait_reply(5)
    assert len(accepted.content) == 2000
    sent = await emu.send_command("/long size:2001")
    await sent.wait_ack(5)
    assert await http_errors(client) == [(400, 50035)]
    assert "2000 or fewer" in str(client.errors[0])
    assert sent.record.loading


async def test_rate_limited_edit_is_retried_once(emu: Emulator, client: BareClient) -> None:
    emu.inject_429("PATCH /webhooks/*", retry_after=0.3)
    client.release.set()
    sent = await emu.send_command("/slow")
    reply = await sent.wait_reply(5)
    assert reply.content == "done" and sent.record.answers == 1
    followups = emu.recorder.find("PATCH /webhooks/*")
    assert [call.status for call in followups] == [429, 200]
    assert followups[1].at - followups[0].at >= 0.3
    assert_clean(emu)


@pytest.mark.parametrize("code", [None, 4000], ids=["tcp-reset", "close-frame"])
async def test_gateway_drop_is_resumed_and_missed_events_replayed(
    emu: Emulator, client: BareClient, code: int | None
) -> None:
    assert emu.gateway.heartbeats >= 1  # discord.py beats once right after HELLO
    assert await emu.drop_gateway(code) == 1
    # Sent while the bot is disconnected: only a RESUME replay can deliver it.
    sent = await emu.send_command("/echo text:still here")
    reply = await sent.wait_reply(10)
    assert reply.content == "still here"
    assert emu.gateway.resumes == 1 and emu.gateway.identifies == 1


async def test_a_forgotten_session_is_invalidated_and_the_client_identifies_again(
    emu: Emulator, client: BareClient
) -> None:
    emu.clock.advance(IDENTIFY_WINDOW)  # BareClient does not wait the 5 s between IDENTIFYs
    assert await emu.drop_gateway(resumable=False) == 1
    await emu.wait_until_ready(timeout=10, identifies=2)
    reply = await (await emu.send_command("/echo text:new session")).wait_reply(5)
    assert reply.content == "new session"
    assert emu.gateway.resumes == 0


async def test_interactions_reach_the_shard_that_owns_their_guild(emu: Emulator) -> None:
    """Two shards in one AutoShardedClient, as the bot runs with SHARD_COUNT=2; identifying at
    once, as an application whose max_concurrency is 2 may."""
    emu.gateway.max_concurrency = 2

    class Sharded(discord.AutoShardedClient):
        before_identify_hook = BareClient.before_identify_hook

    sharded = Sharded(intents=discord.Intents.none(), shard_count=2)
    tree = app_commands.CommandTree(sharded)
    seen: list[int | None] = []

    @tree.command(description="Which shard got this?")
    async def shard(interaction: discord.Interaction) -> None:
        seen.append(interaction.guild.shard_id if interaction.guild else None)
        await interaction.response.send_message("ok")

    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    try:
        await sharded.login(emu.world.token)
        await tree.sync()
        task = asyncio.create_task(sharded.connect())
        await emu.wait_until_ready(timeout=15, identifies=2)
        assert sorted(session.shard_id for session in emu.gateway.live_sessions()) == [0, 1]
        in_guild = await (await emu.send_command("/shard")).wait_reply(5)
        in_dm = await (await emu.send_command("/shard", guild=False)).wait_reply(5)
        assert in_guild.content == in_dm.content == "ok"
        assert seen == [(emu.world.guild.id >> 22) % 2, None]
    finally:
        await sharded.close()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
    await asyncio.wait_for(task, 10)


async def test_member_permissions_and_command_visibility(emu: Emulator, client: BareClient) -> None:
    admin = await (await emu.send_command("/settings reset", user="admin")).wait_reply(5)
    assert admin.content == "reset allowed=True"
    with pytest.raises(CommandHiddenError, match="hidden from member, who lacks Manage Server"):
        await emu.send_command("/settings reset", user="member")
    forged = await (await emu.send_command("/settings reset", user="member", forge=True)).wait_reply(5)
    assert forged.content == "reset allowed=False"
    with pytest.raises(CommandInputError, match="not available in direct messages"):
        await emu.send_command("/settings reset", guild=False)


async def test_typed_options_follow_the_synced_definitions(emu: Emulator, client: BareClient) -> None:
    reply = await (await emu.send_command("/settings temperature value:1.2")).wait_reply(5)
    assert reply.content == "temperature=1.2" and reply.ephemeral
    for bad, why in [("value:3", "between"), ("value:warm", "must be a number"), ("", "required")]:
        with pytest.raises(CommandInputError, match=why):
            await emu.send_command(f"/settings temperature {bad}")
    with pytest.raises(CommandInputError, match="needs one of: temperature, reset"):
        await emu.send_command("/settings")
    sent = await emu.send_command("/settings temperature value:nan", forge=True)
    option = sent.payload["data"]["options"][0]["options"][0]
    assert option["name"] == "value" and option["value"] != option["value"]


async def test_unknown_endpoint_is_recorded(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{emu.api_base}/channels/1") as response:
        assert response.status == 404
    assert [call.path for call in emu.recorder.unknown_routes()] == ["/channels/1"]


async def test_calls_outside_the_published_contract_are_reported(emu: Emulator, client: BareClient) -> None:
    if not emu.contract.enabled:
        pytest.skip("Discord's OpenAPI description is absent (see discord_emulator/contract.py)")
    client.release.set()
    sent = await emu.send_command("/slow")
    await sent.wait_reply(5)
    # Accepted by the emulator's own rules, but not a mention type in Discord's description.
    url = f"{emu.api_base}/webhooks/{emu.world.application_id}/{sent.record.token}?wait=true"
    body = {"content": "x", "allowed_mentions": {"parse": ["nobody"]}}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as answer:
        assert answer.status == 200
    violations = emu.contract_violations()
    assert len(violations) == 1 and violations[0].startswith("request POST /api/v10/webhooks/")
    assert "allowed_mentions/parse/0: 'nobody' is not valid under any" in violations[0]


async def test_wrong_token_cannot_log_in(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", emu.api_base)
    bot = BareClient(emu.world.guild.id)
    with pytest.raises(discord.LoginFailure):
        await bot.login("not-the-token")
    await bot.close()


async def test_heartbeats_acked_bad_resume_invalidated_silence_closed_privileged_intent_refused() -> None:
    async with (
        Emulator(heartbeat_interval_ms=200, validate=False) as emu,
        aiohttp.ClientSession() as session,
        session.ws_connect(emu.gateway_url) as socket,
    ):
        assert await socket.receive_json() == {"op": 10, "d": {"heartbeat_interval": 200}}
        await socket.send_json({"op": 1, "d": None})
        assert await socket.receive_json() == {"op": 11}
        resume = {"token": emu.world.token, "session_id": "no-such-session", "seq": 1}
        await socket.send_json({"op": 6, "d": resume})
        assert await socket.receive_json() == {"op": 9, "d": False}
        closed = await socket.receive(timeout=2)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4009

        async with session.ws_connect(emu.gateway_url) as second:
            await second.receive_json()
            members_intent = 1 << 1  # privileged: not enabled for the emulated application
            await second.send_json({"op": 2, "d": {"token": emu.world.token, "intents": members_intent}})
            closed = await second.receive(timeout=2)
            assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4014


async def test_identifies_beyond_max_concurrency_get_invalid_session() -> None:
    """Shards with the same rate_limit_key (shard_id % max_concurrency) IDENTIFY one per 5 s; the
    next gets INVALID_SESSION d:false (events/gateway.mdx, Max Concurrency). Two bot processes
    starting their shards at once, with max_concurrency 1: the second is refused."""
    async with Emulator(validate=False) as emu, aiohttp.ClientSession() as session:
        async with session.get(f"{emu.api_base}/gateway/bot",
                               headers={"Authorization": f"Bot {emu.world.token}"}) as answer:
            assert (await answer.json())["session_start_limit"]["max_concurrency"] == 1

        async def identify(shard_id: int) -> dict:
            socket = await session.ws_connect(emu.gateway_url)
            sockets.append(socket)
            await socket.receive_json()  # HELLO
            data = {"token": emu.world.token, "intents": 1, "shard": [shard_id, 2]}
            await socket.send_json({"op": 2, "d": data})
            return await socket.receive_json()

        sockets: list[aiohttp.ClientWebSocketResponse] = []
        first, second = await identify(0), await identify(1)
        assert first["t"] == "READY" and second == {"op": 9, "d": False}
        assert emu.gateway.identifies == 1 and emu.gateway.refused_identifies == 1
        emu.clock.advance(IDENTIFY_WINDOW)
        assert (await identify(1))["t"] == "READY"
        emu.gateway.max_concurrency = 2  # shards 0 and 1 are then in buckets of their own
        emu.clock.advance(IDENTIFY_WINDOW)
        assert [(await identify(0))["t"], (await identify(1))["t"]] == ["READY", "READY"]
        for socket in sockets:
            await socket.close()


def test_the_openapi_description_is_looked_for_beside_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where the checkout has ../shared/data/discord-openapi.json the contract checks must run, not
    # skip: a wrong folder here once turned every check off without a failing test.
    from pathlib import Path

    from discord_emulator.contract import SPEC_ENV, locate_spec

    monkeypatch.delenv(SPEC_ENV, raising=False)
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "discord-openapi.json"
    assert locate_spec() == (beside if beside.is_file() else None)
    monkeypatch.setenv(SPEC_ENV, str(beside.with_name("absent.json")))
    assert locate_spec() is None


async def test_followups_always_return_the_message_and_refuse_webhook_only_parameters(
    emu: Emulator, client: BareClient
) -> None:
    """Create Followup Message "functions the same as Execute Webhook, but `wait` is always true";
    thread_id, avatar_url and username are not supported there (receiving-and-responding)."""
    sent = await emu.send_command("/echo text:first")
    await sent.wait_reply(5)
    base = f"{emu.api_base}/webhooks/{emu.world.application_id}/{sent.record.token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(base, json={"content": "no wait given"}) as answer:
            assert answer.status == 200 and (await answer.json())["content"] == "no wait given"
        refused = [
            (f"{base}?wait=false", {"content": "x"}, "wait"),
            (f"{base}?thread_id=1", {"content": "x"}, "thread_id"),
            (base, {"content": "x", "username": "Someone"}, "username"),
            (base, {"content": "x", "avatar_url": "https://example.com/a.png"}, "avatar_url"),
        ]
        for url, body, field in refused:
            async with session.post(url, json=body) as answer:
                error = await answer.json()
                assert answer.status == 400 and error["code"] == 50035 and field in error["errors"]
    assert [message["content"] for message in sent.record.followups] == ["no wait given"]
