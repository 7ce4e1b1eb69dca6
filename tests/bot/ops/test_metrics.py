"""Metrics, health and readiness over HTTP, and JSON log lines, from the real bot against the emulator.

The bot runs in this process (tests/bot/harness.py's running_bot) with METRICS_PORT 0
(any free port); each test scrapes the server over HTTP with aiohttp and reads /metrics with
prometheus_client's own parser, so the text is what Prometheus would read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest

from bot import errors
from bot.__main__ import main
from bot.commands.shakespeare import COOLDOWN_SECONDS
from bot.config import BotConfig, ConfigError
from bot.ops.http_status import CACHE_SECONDS, StatusServer
from bot.ops.logs import JsonFormatter, formatter_options
from charlm.engine import GenerationRequest
from tests.bot.harness import buttons, poem, refusal, running_bot
from tests.bot.ops.harness import METRICS, Samples, get, ready, scrape, until, value


async def test_metrics_count_answers_refusals_and_generations(tmp_path):
    async with running_bot(tmp_path, config_options=METRICS) as run:
        await ready(run)  # which checks the database too
        first = await scrape(run)
        assert value(first, "shakespeare_interactions_total", command="shakespeare", outcome="answered") == 0
        assert value(first, "shakespeare_gateway_connected", shard="0") == 1
        assert ("shakespeare_gateway_latency_seconds", (("shard", "0"),)) in first
        assert value(first, "shakespeare_database_check_seconds_count") >= 1
        assert value(first, "shakespeare_engine_waiting") == 0
        assert value(first, "shakespeare_voice_jobs", state="queued") == 0
        assert ("shakespeare_voice_jobs", (("state", "running"),)) in first
        assert ("process_cpu_seconds_total", ()) in first

        for _ in range(3):
            poem(await run.ask("/shakespeare", seed="ROMEO:", length=40))
            run.emu.clock.advance(COOLDOWN_SECONDS)
        message = (await run.ask("/shakespeare", user="admin", seed="A", length=10)).message
        # Too fast: the per-user cooldown refuses the next one with a sentence.
        too_fast = refusal(await run.ask("/shakespeare", user="admin", seed="A"))
        assert too_fast.startswith("You're writing too fast")
        run.emu.clock.advance(COOLDOWN_SECONDS)
        pressed = await run.emu.press(message["id"], buttons(message)["Again"], user="admin")
        poem(await pressed.wait_reply(30))

        async def moved() -> Samples | None:
            samples = await scrape(run)
            answered = {"command": "shakespeare", "outcome": "answered"}
            return samples if value(samples, "shakespeare_interactions_total", **answered) == 4 else None

        samples = await until(moved)
        counted = {labels: count for (name, labels), count in samples.items()
                   if name == "shakespeare_interactions_total"}
        assert counted == {(("command", "shakespeare"), ("outcome", "answered")): 4,
                           (("command", "shakespeare"), ("outcome", "refused")): 1,
                           (("command", "button:again"), ("outcome", "answered")): 1}
        assert value(samples, "shakespeare_generation_seconds_count", model="lstm") == 5
        assert value(samples, "shakespeare_generation_seconds_bucket", model="lstm", le="+Inf") == 5
        assert 0 < value(samples, "shakespeare_generation_seconds_sum", model="lstm") < 60
        assert value(samples, "shakespeare_characters_written_total", model="lstm") == 3 * 40 + 10 + 10
        # The settings the four /shakespeare that wrote read (the refused one stopped at its cooldown,
        # Again reads its reply's record), and the buttons of the five replies, timed by operation.
        assert value(samples, "shakespeare_database_operation_seconds_count", operation="get") == 4
        assert value(samples, "shakespeare_database_operation_seconds_count", operation="get_reply") == 1
        assert value(samples, "shakespeare_database_operation_seconds_count", operation="save_reply") == 5
        assert value(samples, "shakespeare_database_operation_errors_total", operation="get") == 0
        # Each generated character was one row of some batch step (the seeds' rows come on top).
        steps, rows = (value(samples, name) for name in ("shakespeare_engine_steps_total",
                                                          "shakespeare_engine_batch_rows_total"))
        assert rows >= 3 * 40 + 10 + 10 and steps <= rows

        status, body = await get(run, "/healthz")
        assert status == 200 and body.startswith("alive; event loop lag ")


async def test_a_full_engine_is_counted_busy(tmp_path):
    async with running_bot(tmp_path, hidden_size=256, max_batch=1, max_waiting=1,
                           config_options=METRICS) as run:
        long = GenerationRequest(seed="a", model="lstm", length=2000)
        hogs: list[asyncio.Task] = []
        while not any(hog.done() for hog in hogs):
            hogs.append(asyncio.create_task(run.engine.generate(long)))
            await asyncio.sleep(0.01)
        try:
            assert value(await scrape(run), "shakespeare_engine_waiting") == 1
            assert refusal(await run.ask("/shakespeare", seed="a", length=3)) == errors.BUSY
        finally:
            for hog in hogs:
                hog.cancel()
            await asyncio.gather(*hogs, return_exceptions=True)
        samples = await scrape(run)
        assert value(samples, "shakespeare_interactions_total", command="shakespeare", outcome="busy") == 1


@pytest.mark.slow  # discord.py waits 5 s before identifying again
async def test_readyz_fails_while_the_gateway_is_down_and_recovers(tmp_path):
    async with running_bot(tmp_path, config_options=METRICS) as run:
        await ready(run)
        # Not resumable: the bot must IDENTIFY again, which discord.py delays by 5 s.
        assert await run.emu.drop_gateway(resumable=False) == 1

        async def unready() -> tuple[int, str] | None:
            status, body = await get(run, "/readyz")
            return (status, body) if status == 503 else None

        status, body = await until(unready, timeout=5)
        assert body == "not ready: the gateway connection of shard 0 is closed\n"
        samples = await scrape(run)
        assert value(samples, "shakespeare_gateway_connected", shard="0") == 0
        # Alive all the same: the process and its event loop are fine.
        assert (await get(run, "/healthz"))[0] == 200
        await ready(run)  # connected again
        assert value(await scrape(run), "shakespeare_gateway_connected", shard="0") == 1


async def test_a_closed_database_fails_readyz_and_a_fault_is_counted_and_logged_as_json(tmp_path):
    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(JsonFormatter())
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    logging.getLogger("bot").addHandler(handler)
    try:
        async with running_bot(tmp_path, config_options=METRICS) as run:
            await ready(run)
            await asyncio.sleep(CACHE_SECONDS)  # past the readiness /readyz answered from its cache
            await run.store.close()  # the database went away under the bot
            status, body = await get(run, "/readyz")
            assert (status, body) == (503, "not ready: database\n")  # the details go to the log
            sent = await run.emu.send_command("/settings show", user="admin")
            assert refusal(await sent.wait_reply(30)) == errors.INTERNAL
            logging.getLogger("bot.test").warning("outside any interaction")
            samples = await scrape(run)
            failed = {"command": "settings show", "outcome": "failed"}
            assert value(samples, "shakespeare_interactions_total", **failed) == 1
            assert value(samples, "shakespeare_database_errors_total") >= 1
            # /settings show's read failed at the database, and is counted as its operation's.
            assert value(samples, "shakespeare_database_operation_errors_total", operation="get") == 1
    finally:
        logging.getLogger("bot").removeHandler(handler)
    parsed = [json.loads(line) for line in lines]
    [failed] = [line for line in parsed if line["message"].startswith("Command /settings show failed")]
    assert failed["interaction"] == str(sent.id) and failed["guild"] == str(run.emu.world.guild.id)
    assert failed["shard"] == 0 and failed["level"] == "ERROR" and failed["logger"] == "bot.runtime.client"
    assert "Traceback" in failed["exception"] and failed["time"].endswith("+00:00")
    [outside] = [line for line in parsed if line["message"] == "outside any interaction"]
    assert "interaction" not in outside and "exception" not in outside


def test_json_log_lines_are_one_object_each():
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "two\nlines %s", ("é",), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line and json.loads(line)["message"] == "two\nlines é"
    assert isinstance(formatter_options("json")["formatter"], JsonFormatter)
    assert formatter_options("text") == {}


@pytest.mark.parametrize(("environment", "sentence"), [
    ({"METRICS_PORT": "abc"}, "METRICS_PORT must be a port number from 1 to 65535, not 'abc'."),
    ({"METRICS_PORT": "70000"}, "METRICS_PORT must be a port number from 1 to 65535, not '70000'."),
    ({"METRICS_PORT": "0"}, "METRICS_PORT must be a port number from 1 to 65535, not '0'."),
    ({"METRICS_HOST": "127.0.0.1"},
     "METRICS_HOST needs METRICS_PORT, the port to serve metrics on, to be set too."),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json."),
])
def test_bad_metrics_and_log_settings_are_one_sentence(environment, sentence, monkeypatch, capsys):
    with pytest.raises(ConfigError) as refused:
        BotConfig.from_env(environment)
    assert str(refused.value) == sentence
    for name, raw in environment.items():
        monkeypatch.setenv(name, raw)
    assert main(["healthcheck"]) == 2
    assert capsys.readouterr().err == f"bot: {sentence}\n"


def test_the_metrics_settings_are_read():
    config = BotConfig.from_env({"METRICS_PORT": "9100", "LOG_FORMAT": "JSON"})
    assert (config.metrics_port, config.metrics_host, config.log_format) == (9100, "0.0.0.0", "json")
    config = BotConfig.from_env({"METRICS_PORT": "9100", "METRICS_HOST": "127.0.0.1"})
    assert config.metrics_host == "127.0.0.1"
    default = BotConfig.from_env({})
    assert (default.metrics_port, default.log_format) == (None, "text")


async def test_a_port_in_use_is_one_sentence():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^Cannot serve metrics on METRICS_HOST=127.0.0.1 "
                                              rf"METRICS_PORT={port} \(.+\); choose a free port\.$"):
            await StatusServer(None, "127.0.0.1", port).start()  # type: ignore[arg-type]
