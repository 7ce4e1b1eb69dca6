"""Several shard processes around one PostgreSQL, on loopback: the multi-host layout of docs/deploy.md.

    .venv/bin/python bench/multi_shard.py                       # 1,000 guilds, 4 shards
    .venv/bin/python bench/multi_shard.py --guilds 40 --shards 2 --json

One emulator holds `--guilds` servers spread over `--shards` shards (each gateway connection hears
only its own shards' servers, as on Discord); one real `python -m bot` process per shard, each
reaching the emulator at its own address (so every answer is traced to the process that sent it),
all with the same DATABASE_URL on a PostgreSQL server started here (tests/pg_server.py). Then:

1. burst: one interaction per server, all at once (half /settings length by the admin, half
   /shakespeare by a member of that server): each is answered exactly once, by its shard's process.
2. across shards: someone who installed the app changes /preferences in a DM (shard 0), then
   reads them with /preferences show in servers of every other shard: the time until each shows
   the new value.
3. kill -9: a second burst of settings changes, one per server; one shard's process is killed
   mid-burst and started again. No change that was confirmed is lost; every server of that shard
   answers again.
4. PostgreSQL restart: while the database is down, /settings answers one sentence and
   /shakespeare still writes; once it is back, the first change goes through and nothing confirmed
   before is lost.

Needs PostgreSQL's initdb and pg_ctl (Debian's postgresql package; see tests/pg_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import yarl  # noqa: E402

from bench.figures import percentile  # noqa: E402
from bot.devtools.playground import BOT_CAST, BOT_COMMAND, emulated_bot_env  # noqa: E402
from bot.errors import UNREACHABLE  # noqa: E402
from bot.storage.settings import MAX_LENGTH  # noqa: E402
from discord_emulator import Emulator, SentInteraction  # noqa: E402
from discord_emulator.models import Guild  # noqa: E402
from discord_emulator.process import BotProcess  # noqa: E402
from tests.pg_server import PostgresServer, create_database, find_bin_dir, free_port  # noqa: E402
from tests.pg_server import connect as pg_connect  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 600.0  # several processes importing torch at once on two cores
REPLY_TIMEOUT = 180.0
SEEN_TIMEOUT = 10.0
POLL_SECONDS = 0.05
KILL_BURST_SECONDS = 1.0


def shard_of(guild_id: int, shards: int) -> int:
    """Discord's rule for the shard that receives a guild's events."""
    return (guild_id >> 22) % shards


def length_for(guild_number: int, phase: int) -> int:
    """A length setting that differs between the phases of one guild (so each change is visible)."""
    return 10 + (guild_number * 3 + phase) % (MAX_LENGTH - 10)


def confirmation(length: int) -> str:
    return f"Length is now {length} characters on this server."


@dataclass
class Shard:
    number: int
    process: BotProcess
    port: int  # the emulator's address this process calls
    metrics_port: int  # its /metrics, /healthz and /readyz
    guilds: list[Guild] = field(default_factory=list)

    async def ready(self) -> tuple[int, str]:
        """/readyz's status and line, as a Kubernetes readiness probe sees them."""
        url = f"http://127.0.0.1:{self.metrics_port}/readyz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, (await response.text()).strip()


@dataclass
class Change:
    """One /settings length sent to one guild, and what came of it."""

    guild: Guild
    length: int
    sent: SentInteraction
    confirmed: bool = False


class Cluster:
    """The emulator, the PostgreSQL server and one bot process per shard."""

    def __init__(self, emu: Emulator, server: PostgresServer, url: str, folder: Path, shards: int) -> None:
        self.emu, self.server, self.url, self.folder = emu, server, url, folder
        self.count = shards
        self.shards: list[Shard] = []
        self.guilds: list[Guild] = []
        self.away: list[Guild] = []
        # The last confirmed length of each guild, and a later one sent whose answer never came.
        self.confirmed: dict[int, int] = {}
        self.maybe: dict[int, set[int]] = {}

    def build_world(self, guilds: int) -> None:
        world = self.emu.world
        for number in range(guilds):
            guild = world.add_guild(f"Guild {number}", shard=(number % self.count, self.count))
            world.add_member(f"writer-{number}", guild=guild)
            self.guilds.append(guild)
        # Servers without the bot, one per shard: where a user's own install reads their preferences.
        self.away = [world.add_guild(f"Away {shard}", shard=(shard, self.count), with_bot=False)
                     for shard in range(self.count)]
        world.install_for("member")

    async def start(self, timeout: float) -> float:
        started = time.monotonic()
        for number in range(self.count):
            metrics_port = free_port()
            env = {**emulated_bot_env(self.folder / "unused.sqlite3", REPO / "checkpoints", "WARNING"),
                   "SHARD_COUNT": str(self.count), "SHARD_IDS": str(number), "DATABASE_URL": self.url,
                   "VOICE_TRAINER": "off", "METRICS_PORT": str(metrics_port), "METRICS_HOST": "127.0.0.1"}
            process = BotProcess(self.emu, BOT_COMMAND, env, self.folder / f"shard-{number}.log")
            api_base = await self.emu.add_address()
            process.env["DISCORD_API_BASE"] = api_base
            self.shards.append(Shard(number, process, yarl.URL(api_base).port or 0, metrics_port))
        for guild in self.guilds:
            self.shards[shard_of(guild.id, self.count)].guilds.append(guild)
        for shard in self.shards:  # one at a time: one IDENTIFY per 5 s (max_concurrency 1)
            await shard.process.start()
            await shard.process.wait_identified(timeout)
        await asyncio.gather(*(shard.process.wait_ready(timeout) for shard in self.shards))
        await self.emu.gateway.wait_connected(timeout)
        return time.monotonic() - started

    async def stop(self) -> list[int]:
        return list(await asyncio.gather(*(shard.process.stop() for shard in self.shards)))

    def answered_by(self, sent: SentInteraction) -> set[int]:
        """The shards whose process made the calls answering this interaction."""
        ports = {call.port for call in self.emu.calls if sent.record.token in call.path}
        return {shard.number for shard in self.shards if shard.port in ports}

    async def change(self, guild: Guild, length: int) -> Change:
        sent = await self.emu.send_command(f"/settings length value:{length}", guild_id=guild.id)
        return Change(guild, length, sent)

    async def settle(self, changes: list[Change], timeout: float) -> None:
        """Wait for each change's answer; record which were confirmed (and which may have been kept)."""
        await asyncio.gather(*(one.sent.wait_reply(timeout) for one in changes), return_exceptions=True)
        for one in changes:
            contents = [message["content"] for message in one.sent.record.visible_messages()]
            one.confirmed = confirmation(one.length) in contents
            if one.confirmed:
                self.confirmed[one.guild.id] = one.length
                self.maybe.pop(one.guild.id, None)
            elif not contents:  # no answer at all: stored or not, nobody was told
                self.maybe.setdefault(one.guild.id, set()).add(one.length)

    async def stored_lengths(self) -> dict[int, int | None]:
        connection = await pg_connect(self.url)
        try:
            rows = await connection.fetch("SELECT guild_id, length FROM guild_settings")
        finally:
            await connection.close()
        return {guild_id: length for guild_id, length in rows}

    async def lost_changes(self) -> list[int]:
        """Guilds whose stored length is neither the last confirmed one nor a later unanswered one."""
        stored = await self.stored_lengths()
        return [guild_id for guild_id, length in self.confirmed.items()
                if stored.get(guild_id) not in {length, *self.maybe.get(guild_id, ())}]


def answers_of(sent: SentInteraction) -> list[str]:
    return [message["content"] for message in sent.record.visible_messages()]


async def burst(cluster: Cluster) -> dict[str, Any]:
    """One interaction per guild at once; each must be answered once, by the guild's own shard."""
    emu, changes, writes = cluster.emu, [], []
    started = time.monotonic()
    for number, guild in enumerate(cluster.guilds):
        if number % 2 == 0:
            changes.append(await cluster.change(guild, length_for(number, 0)))
        else:
            writes.append(await emu.send_command("/shakespeare seed:ROMEO: length:40",
                                                 user=f"writer-{number}", guild_id=guild.id))
    sent_all = [one.sent for one in changes] + writes
    await cluster.settle(changes, REPLY_TIMEOUT)
    await asyncio.gather(*(one.wait_reply(REPLY_TIMEOUT) for one in writes), return_exceptions=True)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.5)  # room for a second answer to show up
    once = [one for one in sent_all if one.record.answers == 1]
    wrong_shard = [one for one in sent_all
                   if cluster.answered_by(one) != {shard_of(int(one.payload["guild_id"]), cluster.count)}]
    acks = [one.record.ack_latency for one in sent_all if one.record.ack_latency is not None]
    written = sum(1 for one in writes if any("```" in text for text in answers_of(one)))
    return {"sent": len(sent_all), "answered": sum(1 for one in sent_all if one.record.answered),
            "answered_exactly_once": len(once), "answered_by_another_shard": len(wrong_shard),
            "settings_confirmed": sum(one.confirmed for one in changes), "texts_written": written,
            "acked_p50_s": round(percentile(acks, 0.5), 3), "acked_p99_s": round(percentile(acks, 0.99), 3),
            "acked_max_s": round(max(acks), 3), "late_acks": sum(1 for ack in acks if ack > 3.0),
            "all_answered_s": round(elapsed, 2)}


async def read_preference(emu: Emulator, guild: Guild) -> str | None:
    sent = await emu.send_command("/preferences show", user="member", guild_id=guild.id)
    reply = await sent.wait_reply(REPLY_TIMEOUT)
    for line in reply.content.splitlines():
        if line.startswith("- temperature: **"):
            return line.split("**")[1]
    return None


async def across_shards(cluster: Cluster, rounds: int) -> dict[str, Any]:
    """Change one's own temperature in a DM (shard 0); time until the other shards show it."""
    emu = cluster.emu
    others = [guild for guild in cluster.away if shard_of(guild.id, cluster.count) != 0] or cluster.away
    delays: list[float] = []
    for number in range(rounds):
        for guild in others:  # each shard has read (and cached) the old value
            await read_preference(emu, guild)
        value = f"{0.3 + 0.1 * number:g}"
        sent = await emu.send_command(f"/preferences temperature value:{value}", user="member", guild=False)
        await sent.wait_reply(REPLY_TIMEOUT)
        confirmed = time.monotonic()

        async def seen(guild: Guild, value: str = value, confirmed: float = confirmed) -> float:
            while time.monotonic() - confirmed < SEEN_TIMEOUT:
                if await read_preference(emu, guild) == value:
                    return time.monotonic() - confirmed
                await asyncio.sleep(POLL_SECONDS)
            return float("inf")

        delays += await asyncio.gather(*(seen(guild) for guild in others))
    return {"reads_per_round": len(others), "rounds": rounds,
            "seen_p50_s": round(statistics.median(delays), 3), "seen_max_s": round(max(delays), 3),
            "within_1_s": all(delay < 1.0 for delay in delays)}


async def serve_again(cluster: Cluster, shard: Shard, deadline: float) -> float:
    """Until every guild of `shard` answers /settings show with its last confirmed length."""
    started = time.monotonic()
    pending = list(shard.guilds)
    while pending and time.monotonic() < deadline:
        sent = [await cluster.emu.send_command("/settings show", guild_id=guild.id) for guild in pending]
        results = await asyncio.gather(*(one.wait_reply(30) for one in sent), return_exceptions=True)
        pending = [guild for guild, result in zip(pending, results, strict=True)
                   if isinstance(result, Exception)]
        if pending:
            await asyncio.sleep(0.5)
    if pending:
        raise RuntimeError(f"{len(pending)} guilds of shard {shard.number} never answered again")
    return time.monotonic() - started


async def kill_mid_burst(cluster: Cluster, victim_number: int) -> dict[str, Any]:
    victim = cluster.shards[victim_number]
    changes: list[Change] = []

    def owned(one: Change) -> bool:
        return shard_of(one.guild.id, cluster.count) == victim_number

    async def send_all() -> None:
        # Spread over about a second, so the kill below lands mid-burst at any size.
        pause = KILL_BURST_SECONDS / len(cluster.guilds)
        for number, guild in enumerate(cluster.guilds):
            changes.append(await cluster.change(guild, length_for(number, 1)))
            await asyncio.sleep(pause)

    sending = asyncio.create_task(send_all())
    # Killed halfway through the burst, once it confirmed one: its changes are then confirmed, in
    # flight or not sent yet.
    while len(changes) < len(cluster.guilds) // 2 or not any(
            owned(one) and one.sent.record.answered for one in changes):
        await asyncio.sleep(0.002)
    await victim.process.kill()
    killed_at = time.monotonic()
    answered_before = sum(1 for one in changes if owned(one) and one.sent.record.answered)
    in_flight = sum(1 for one in changes if owned(one) and not one.sent.record.answered)
    await sending
    await cluster.settle(changes, REPLY_TIMEOUT)
    of_victim = [one for one in changes if shard_of(one.guild.id, cluster.count) == victim_number]
    restart = time.monotonic()
    await victim.process.start()
    await victim.process.wait_ready(START_TIMEOUT)
    ready = time.monotonic()
    served = await serve_again(cluster, victim, time.monotonic() + 120)
    lost = await cluster.lost_changes()
    return {"changes_sent": len(changes), "confirmed": sum(one.confirmed for one in changes),
            "victim_confirmed_before_kill": sum(one.confirmed for one in of_victim),
            "victim_answered_before_kill": answered_before, "victim_in_flight_at_kill": in_flight,
            "victim_unanswered": sum(not one.sent.record.answered for one in of_victim),
            "lost_confirmed_changes": len(lost), "restart_to_ready_s": round(ready - restart, 2),
            "restart_to_all_guilds_served_s": round(ready + served - restart, 2),
            "kill_to_all_guilds_served_s": round(ready + served - killed_at, 2),
            "victim_guilds_served_again": len(victim.guilds)}


async def retry_until(attempt: Callable[[], Awaitable[bool]], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await attempt():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return float("inf")


async def database_restart(cluster: Cluster, per_shard: int) -> dict[str, Any]:
    emu = cluster.emu
    # All ready first (a shard just restarted may still be receiving its servers).
    ready_before = await asyncio.gather(*(until_ready(shard, True, 30.0) for shard in cluster.shards))
    await asyncio.to_thread(cluster.server.stop, "fast")
    stopped = time.monotonic()
    refused, sentences, texts, writes = [], set(), 0, []
    try:
        for shard in cluster.shards:
            for guild in shard.guilds[:per_shard]:
                refused.append(await cluster.change(guild, length_for(cluster.guilds.index(guild), 2)))
                writes.append(await emu.send_command("/shakespeare seed:ROMEO: length:20",
                                                     user=f"writer-{cluster.guilds.index(guild)}",
                                                     guild_id=guild.id))
        await asyncio.gather(*(one.sent.wait_reply(REPLY_TIMEOUT) for one in refused), return_exceptions=True)
        await asyncio.gather(*(one.wait_reply(REPLY_TIMEOUT) for one in writes), return_exceptions=True)
        for one in refused:
            sentences.update(answers_of(one.sent))
            one.confirmed = confirmation(one.length) in answers_of(one.sent)
        texts = sum(1 for one in writes if any("```" in text for text in answers_of(one)))
        # Every shard's readiness probe says so while the database is away (it asks the database).
        unready = await asyncio.gather(*(until_ready(shard, False, 30.0) for shard in cluster.shards))
    finally:
        down_for = time.monotonic() - stopped
        await asyncio.to_thread(cluster.server.start)
    back = time.monotonic()

    async def change_goes_through(shard: Shard) -> float:
        guild = shard.guilds[-1]
        length = length_for(cluster.guilds.index(guild), 2)

        async def attempt() -> bool:
            one = await cluster.change(guild, length)
            await cluster.settle([one], REPLY_TIMEOUT)
            return one.confirmed

        return await retry_until(attempt, 30.0)

    recovered = await asyncio.gather(*(change_goes_through(shard) for shard in cluster.shards))
    ready_again = await asyncio.gather(*(until_ready(shard, True, 30.0) for shard in cluster.shards))
    lost = await cluster.lost_changes()
    return {"down_s": round(down_for, 2), "changes_while_down": len(refused),
            "confirmed_while_down": sum(one.confirmed for one in refused),
            "replies_while_down": sorted(sentences), "one_sentence": sentences == {str(UNREACHABLE)},
            "texts_written_while_down": texts, "shakespeare_while_down": len(writes),
            "recover_p50_s": round(statistics.median(recovered), 2),
            "recover_max_s": round(max(recovered), 2),
            "since_restart_s": round(time.monotonic() - back, 2), "lost_confirmed_changes": len(lost),
            "ready_shards_before": sum(status == 200 for status, _ in ready_before),
            "readyz_while_down": sorted({reason_of(line) for _, line in unready}),
            "unready_shards_while_down": sum(status == 503 for status, _ in unready),
            "ready_shards_after": sum(status == 200 for status, _ in ready_again)}


def reason_of(line: str) -> str:
    """/readyz's line without the details (addresses, the driver's words)."""
    return line.removeprefix("not ready: ").split(":")[0].split(" (")[0]


async def until_ready(shard: Shard, ready: bool, timeout: float) -> tuple[int, str]:
    """Ask /readyz until it says `ready` (200) or not (503); the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        status, line = await shard.ready()
        if (status == 200) == ready or time.monotonic() > deadline:
            return status, line
        await asyncio.sleep(0.1)


async def run(guilds: int, shards: int, rounds: int, folder: Path) -> dict[str, Any]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's initdb and pg_ctl are not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir)
    try:
        server.init()
        server.start()
        url = await create_database(server)
        async with Emulator(cast=BOT_CAST) as emu:
            cluster = Cluster(emu, server, url, folder, shards)
            cluster.build_world(guilds)
            figures: dict[str, Any] = {"guilds": guilds, "shards": shards}
            try:
                figures["start_s"] = round(await cluster.start(START_TIMEOUT), 1)
                figures["burst"] = await burst(cluster)
                figures["across_shards"] = await across_shards(cluster, rounds)
                figures["kill_9"] = await kill_mid_burst(cluster, shards - 1)
                figures["database_restart"] = await database_restart(cluster, 3)
            finally:
                figures["exit_codes"] = await cluster.stop()
            figures["emulator_rejected_calls"] = len(emu.rejected_calls())
            figures["contract_violations"] = len(emu.contract_violations())
            return figures
    finally:
        server.destroy()


def report(figures: dict[str, Any]) -> str:
    b, a, k, d = (figures[key] for key in ("burst", "across_shards", "kill_9", "database_restart"))
    return "\n".join([
        f"{figures['guilds']} guilds over {figures['shards']} shard processes, one PostgreSQL; "
        f"all ready in {figures['start_s']} s",
        f"burst: {b['answered_exactly_once']}/{b['sent']} answered exactly once "
        f"({b['answered_by_another_shard']} by a wrong shard; {b['settings_confirmed']} changes confirmed, "
        f"{b['texts_written']} texts); acked p50 {b['acked_p50_s']} s, p99 {b['acked_p99_s']} s, "
        f"max {b['acked_max_s']} s, {b['late_acks']} past 3 s; all answered in {b['all_answered_s']} s",
        f"across shards: a change seen by the other shards in p50 {a['seen_p50_s']} s, "
        f"max {a['seen_max_s']} s ({a['rounds']} rounds x {a['reads_per_round']} shards; under 1 s: "
        f"{a['within_1_s']})",
        f"kill -9 mid-burst: {k['confirmed']}/{k['changes_sent']} changes confirmed "
        f"({k['victim_confirmed_before_kill']} by the killed shard; "
        f"{k['victim_in_flight_at_kill']} of its were in flight at the kill, "
        f"{k['victim_unanswered']} never answered), "
        f"{k['lost_confirmed_changes']} confirmed changes lost; restarted shard ready in "
        f"{k['restart_to_ready_s']} s, all its {k['victim_guilds_served_again']} guilds served "
        f"{k['restart_to_all_guilds_served_s']} s after the restart "
        f"({k['kill_to_all_guilds_served_s']} s after the kill; restarted once the lost interactions' "
        "3 s had passed)",
        f"PostgreSQL restart: {d['changes_while_down']} changes while down -> {d['replies_while_down']} "
        f"({d['confirmed_while_down']} confirmed), "
        f"{d['texts_written_while_down']}/{d['shakespeare_while_down']} "
        f"texts still written; changes go through {d['recover_p50_s']} s (max {d['recover_max_s']} s) after "
        f"it is back; {d['lost_confirmed_changes']} confirmed changes lost; /readyz: "
        f"{d['unready_shards_while_down']}/{figures['shards']} shards unready while down "
        f"({'; '.join(d['readyz_while_down'])}), {d['ready_shards_after']}/{figures['shards']} ready after",
        f"exit codes {figures['exit_codes']}, "
        f"calls the emulator refused: {figures['emulator_rejected_calls']}, "
        f"against Discord's contract: {figures['contract_violations']}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5, help="preference changes timed across shards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.shards < 2 or args.guilds < 2 * args.shards or args.rounds < 1:
        parser.error("--shards must be at least 2, --guilds at least twice that, --rounds at least 1")
    with tempfile.TemporaryDirectory(prefix="multi-shard-") as folder:
        figures = asyncio.run(run(args.guilds, args.shards, args.rounds, Path(folder)))
    print(json.dumps(figures) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
