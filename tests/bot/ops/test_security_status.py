"""The status server and the bot's secrets (issue: security, findings 5 and 6).

The status server must cost the bot nothing a caller can grow: slow or idle clients are cut off,
connections are bounded, the database is asked at most once per CACHE_SECONDS, and /readyz says
"database" without the database's own words. The token never appears in a repr, a log line or
the trainer child's environment.
"""

from __future__ import annotations

import asyncio
import logging

from bot.config import BotConfig
from bot.ops.http_status import CACHE_SECONDS, StatusServer
from bot.voices.trainer import trainer_env
from tests.bot.harness import running_bot
from tests.bot.ops.harness import METRICS, get, ready, scrape, value

HALF_A_REQUEST = b"GET /readyz HTTP/1.1\r\nHost: bot\r\n"  # and then nothing more


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def test_slow_clients_are_cut_off_and_connections_are_bounded(tmp_path):
    async with running_bot(tmp_path, config_options=METRICS) as run:
        server = StatusServer(run.bot, "127.0.0.1", 0, max_connections=4, connection_seconds=1.0)
        await server.start()
        try:
            streams = []
            for _ in range(10):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(HALF_A_REQUEST)
                streams.append((reader, writer))
            # Past the bound: closed at once. Within it: cut off once their second is up.
            closed = await asyncio.gather(*(closed_within(reader, 10) for reader, _ in streams))
            assert closed == [True] * 10
            assert server.open_connections == 0
            for _, writer in streams:
                writer.close()
            # The server itself serves on.
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200") and b"alive" in answer
        finally:
            await server.stop()


async def test_readyz_and_metrics_reach_the_database_once_per_cache_period(tmp_path):
    async with running_bot(tmp_path, config_options=METRICS) as run:
        await ready(run)
        checks = value(await scrape(run), "shakespeare_database_check_seconds_count")
        for _ in range(20):
            assert await get(run, "/readyz") == (200, "ready\n")
            await scrape(run)
        # The heartbeat may check once meanwhile (every 15 s); 20 calls check at most once more.
        assert value(await scrape(run), "shakespeare_database_check_seconds_count") - checks <= 2
        assert CACHE_SECONDS <= 10  # a probe every 10 s still sees a database that went away


async def test_readyz_says_database_without_its_details_which_go_to_the_log(tmp_path, caplog):
    async with running_bot(tmp_path, config_options=METRICS) as run:
        await ready(run)
        await asyncio.sleep(CACHE_SECONDS)  # past the last cached answer
        await run.store.close()  # the database went away under the bot
        with caplog.at_level(logging.WARNING, logger="bot.ops.http_status"):
            assert await get(run, "/readyz") == (503, "not ready: database\n")
        assert any("settings database does not answer" in record.getMessage() for record in caplog.records)


def test_the_token_is_in_no_repr():
    config = BotConfig(token="MTIz.secret-token.abc", database_url="postgresql://u:pw@db:5432/x")
    for shown in (repr(config), str(config), f"{config}", f"{config!r}"):
        assert "secret-token" not in shown and "pw@db" not in shown


def test_the_trainer_child_does_not_inherit_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "MTIz.secret-token.abc")
    config = BotConfig(token="MTIz.secret-token.abc", db_path=tmp_path / "bot.sqlite3")
    env = trainer_env(config)
    assert "DISCORD_TOKEN" not in env
    assert not any("secret-token" in value for value in env.values())


async def test_the_token_is_in_no_log_line(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        async with running_bot(tmp_path, config_options=METRICS) as run:
            token = run.emu.world.token
            await ready(run)
            await get(run, "/metrics")
    assert caplog.records
    assert not any(token in record.getMessage() for record in caplog.records)
