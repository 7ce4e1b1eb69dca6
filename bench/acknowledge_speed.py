"""How soon the bot acknowledges interactions that must wait: Discord fails any not acknowledged
within 3 s of its creation (bot/commands/acknowledge.py keeps them).

    .venv/bin/python bench/acknowledge_speed.py                  # 3 runs of 100 rounds and 100 commands
    .venv/bin/python bench/acknowledge_speed.py --runs 1 --rounds 20 --json

The real bot (`python -m bot`, SQLite, one tiny random checkpoint: the figures are about waiting,
not prose) runs as a child process against the local Discord emulator; an acknowledgement's time is
the emulator's, from creating the interaction to the bot's callback arriving.

1. Presses: `--rounds` times, four members press Continue at once on one reply (each press writes
   `--length` characters; after a few rounds the message is full and each continuation is a
   follow-up). The presses of a round are served one at a time, so before the guard the fourth
   waited for three runs of the engine; now each is acknowledged before it waits. (The wait no
   longer depends on the length: the default keeps a run to minutes on a 2-core machine; --length
   10000 is the issue's case, and slow.)
2. Stalled database: another connection holds SQLite's write lock (an operator's shell, say) while
   `--commands` commands that write (/settings temperature, /settings voice, /voice cancel,
   /voice delete) arrive 50 ms apart, each from a fresh admin. Each waits for the lock (up to the
   busy timeout); the guard defers it first.

Per run: p50, p99 and max of each; over the runs, the median and spread (max - min) of each
figure. Target: every max under 2.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import percentile  # noqa: E402
from bot.devtools.playground import emulated_bot_process  # noqa: E402
from charlm.alphabet import Alphabet  # noqa: E402
from charlm.checkpoint import save_checkpoint  # noqa: E402
from charlm.models import ModelConfig, build_model  # noqa: E402
from discord_emulator import Emulator  # noqa: E402

TARGET_MAX_S = 2.5
PRESSERS = 4
WRITES = [("/settings temperature", {"value": 1.2}), ("/settings voice", {"name": "lore"}),
          ("/voice cancel", {}), ("/voice delete", {"name": "lore"})]


def tiny_checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(folder / "lstm.safetensors", build_model(ModelConfig("lstm", len(Alphabet()), 32)),
                    Alphabet(), {"val_nats_per_char": 1.5})
    return folder


def button(message: dict, label: str) -> str:
    return next(item["custom_id"] for row in message["components"] for item in row["components"]
                if item["label"] == label)


def figures(values: list[float]) -> dict:
    return {"p50_s": round(percentile(values, 0.5), 3), "p99_s": round(percentile(values, 0.99), 3),
            "max_s": round(max(values), 3), "count": len(values)}


class Members:
    def __init__(self, emu: Emulator) -> None:
        self.emu, self.count = emu, 0

    def new(self, manage_guild: bool = False) -> str:
        self.count += 1
        name = f"ack-{self.count}"
        self.emu.world.add_member(name, manage_guild=manage_guild)
        return name


async def presses(emu: Emulator, members: Members, rounds: int, length: int) -> list[float]:
    asker = members.new()
    sent = await emu.send_command(f"/shakespeare seed:ROMEO: length:{length}", user=asker)
    message = (await sent.wait_reply(600)).message
    latencies = []
    for _ in range(rounds):
        continue_id = button(message, "Continue")
        pressed = await asyncio.gather(*(emu.press(message["id"], continue_id, user=members.new())
                                         for _ in range(PRESSERS)))
        for each in pressed:
            await each.wait_ack(10)
            latencies.append(each.record.ack_latency)
        # The round's text written (the message edited, or a follow-up), before the next round.
        for each in pressed:
            await each._wait(lambda each=each: each.record.answered or each.record.updates > 0, 600)
    return latencies


async def stalled_commands(emu: Emulator, members: Members, database: Path, commands: int) -> list[float]:
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, held until every command is acknowledged
    sent = []
    try:
        for index in range(commands):
            command, options = WRITES[index % len(WRITES)]
            sent.append(await emu.send_command(command, user=members.new(manage_guild=True),
                                               options=options or None))
            await asyncio.sleep(0.05)
        for each in sent:
            await each.wait_ack(10)
    finally:
        holder.execute("COMMIT")
        holder.close()
    for each in sent:  # answered once the lock is gone (or refused as busy)
        await each.wait_reply(600)
    return [each.record.ack_latency for each in sent]


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="ack-bench-") as folder:
        checkpoints = tiny_checkpoint(Path(folder) / "checkpoints")
        async with emulated_bot_process(checkpoints, Path(folder)) as (emu, _):
            members = Members(emu)
            runs = []
            for _ in range(args.runs):
                pressed = await presses(emu, members, args.rounds, args.length)
                stalled = await stalled_commands(emu, members, Path(folder) / "bot.sqlite3", args.commands)
                runs.append({"continue_presses": figures(pressed), "stalled_database": figures(stalled)})
                print(f"run {len(runs)}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)  # as it goes
    overall = {}
    for part in ("continue_presses", "stalled_database"):
        overall[part] = {name: {"median": round(statistics.median(run[part][name] for run in runs), 3),
                                "spread": round(max(run[part][name] for run in runs)
                                                - min(run[part][name] for run in runs), 3)}
                         for name in ("p50_s", "p99_s", "max_s")}
    worst = max(run[part]["max_s"] for run in runs for part in run)
    return {"runs": runs, "over_runs": overall, "worst_max_s": worst, "target_max_s": TARGET_MAX_S,
            "met": worst < TARGET_MAX_S,
            "settings": {"rounds": args.rounds, "presses_per_round": PRESSERS, "length": args.length,
                         "commands": args.commands}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=100, help="rounds of four Continue presses")
    parser.add_argument("--length", type=int, default=200, help="characters each press writes")
    parser.add_argument("--commands", type=int, default=100, help="commands sent while the database stalls")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.runs, args.rounds, args.length, args.commands) < 1:
        parser.error("--runs, --rounds, --length and --commands must be at least 1")
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for index, each in enumerate(result["runs"], 1):
            for part, values in each.items():
                print(f"run {index} {part:18} p50 {values['p50_s']:.3f} s  p99 {values['p99_s']:.3f} s  "
                      f"max {values['max_s']:.3f} s  ({values['count']})")
        for part, values in result["over_runs"].items():
            print(f"over runs {part:18} " + "  ".join(f"{name} median {value['median']:.3f} s "
                                                     f"spread {value['spread']:.3f} s"
                                                     for name, value in values.items()))
        print(f"worst max {result['worst_max_s']:.3f} s (target under {TARGET_MAX_S} s): "
              f"{'met' if result['met'] else 'NOT met'}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
