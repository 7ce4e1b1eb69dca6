"""How long other members wait for an acknowledgement while one user and one admin try to stall
the bot for everyone.

    .venv/bin/python bench/security_flood.py            # 3 runs, the median of each figure
    .venv/bin/python bench/security_flood.py --runs 1 --json

The real bot (`python -m bot`, the shipped checkpoints, the trainer off) runs against the emulator,
a fresh process for each run. In each run, at once:
- one member runs "Continue as Shakespeare" `--flood` times in two seconds on a message of 1,990
  newlines and markup (slow to clean with a quadratic pattern, and cleaning to nothing);
- one admin uploads `--uploads` files of 2 MB to /voice train, one after another (emoji text: the
  whole file is decoded and checked before it is refused);
- `--members` other members each send /shakespeare every half second for `--seconds`.
The figure is the other members' acknowledgement times (dispatch to the bot's first answer):
p50, p99 and the slowest, and how many missed Discord's 3 s. Target: the slowest under 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import fresh, percentile  # noqa: E402
from bot.devtools.playground import emulated_bot_process  # noqa: E402
from discord_emulator import Emulator, SentInteraction  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ACK_WINDOW_S = 3.0
MENU_NAME = "Continue as Shakespeare"
SLOW_TO_CLEAN = "** **" + "\n" * 1990 + "> "  # within a message's 2,000 characters
UPLOAD = ("\U0001f3ad\U0001f480 " * (2 * 1024 * 1024 // 9)).encode()  # 2 MB that checks to a refusal


async def flood(emu: Emulator, count: int, seconds: float) -> list[SentInteraction]:
    attacker = fresh(emu)
    posted = emu.post_message(SLOW_TO_CLEAN, user=attacker)
    sent = []
    for _ in range(count):
        sent.append(await emu.send_message_command(MENU_NAME, posted["id"], user=attacker))
        await asyncio.sleep(seconds / count)
    return sent


async def uploads(emu: Emulator, count: int) -> list[str]:
    admin = f"flood-admin-{time.monotonic_ns()}"
    emu.world.add_member(admin, manage_guild=True)
    answers = []
    for index in range(count):
        sent = await emu.send_command(f"/voice train name:flood{index}", user=admin,
                                      files={"file": ("lore.txt", UPLOAD, "text/plain")})
        answers.append((await sent.wait_reply(120)).content)
    return answers


async def members(emu: Emulator, count: int, seconds: float) -> list[SentInteraction]:
    names = [fresh(emu) for _ in range(count)]
    sent = []
    for _ in range(int(seconds / 0.5)):
        for name in names:
            sent.append(await emu.send_command("/shakespeare seed:ROMEO: length:40", user=name))
        await asyncio.sleep(0.5)
    return sent


async def one_run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        async with emulated_bot_process(args.checkpoint_dir, Path(folder),
                                        extra_env={"VOICE_TRAINER": "off"}) as (emu, _):
            warm = await emu.send_command("/shakespeare seed:ROMEO: length:20", user=fresh(emu))
            await warm.wait_reply(120)
            flooding = asyncio.create_task(flood(emu, args.flood, 2.0))
            uploading = asyncio.create_task(uploads(emu, args.uploads))
            others = await members(emu, args.members, args.seconds)
            flooded = await flooding
            uploaded = await uploading
            await asyncio.gather(*(item.wait_reply(300) for item in others), return_exceptions=True)
            flood_replies = await asyncio.gather(*(item.wait_reply(300) for item in flooded),
                                                 return_exceptions=True)
    acks = [item.record.ack_latency for item in others]
    measured = [ack for ack in acks if ack is not None]
    return {"others": len(others), "p50_s": round(percentile(measured, 0.5), 3),
            "p99_s": round(percentile(measured, 0.99), 3), "max_s": round(max(measured), 3),
            "late": sum(1 for ack in acks if ack is None or ack > ACK_WINDOW_S),
            "flood_answers": sorted({getattr(reply, "content", type(reply).__name__)[:40]
                                     for reply in flood_replies}),
            "upload_answers": [answer[:50] for answer in uploaded]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=REPO / "checkpoints")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flood", type=int, default=40, help="menu uses by the one member, in 2 s")
    parser.add_argument("--uploads", type=int, default=5, help="2 MB uploads by the admin, in a row")
    parser.add_argument("--members", type=int, default=12, help="other members, each every 0.5 s")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long the other members send")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.runs, args.flood, args.members) < 1 or args.uploads < 0 or args.seconds < 0.5:
        parser.error("--runs, --flood and --members must be at least 1, --seconds at least 0.5")
    started = time.perf_counter()
    runs = [asyncio.run(one_run(args)) for _ in range(args.runs)]
    median = {key: statistics.median(run[key] for run in runs) for key in ("p50_s", "p99_s", "max_s", "late")}
    if args.json:
        print(json.dumps({"median": median, "runs": runs}))
        return 0
    for number, run in enumerate(runs, 1):
        print(f"run {number}: {run['others']} acknowledgements of others: p50 {run['p50_s']} s, "
              f"p99 {run['p99_s']} s, max {run['max_s']} s, {run['late']} late")
        print(f"       flood answered: {run['flood_answers']}")
        print(f"       uploads answered: {run['upload_answers']}")
    print(f"median of {args.runs}: p50 {median['p50_s']} s, p99 {median['p99_s']} s, "
          f"max {median['max_s']} s, "
          f"{median['late']} late (target: max under {ACK_WINDOW_S:.0f} s) "
          f"({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
