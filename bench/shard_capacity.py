"""How many interactions per second one shard process acknowledges within Discord's 3 s.

    .venv/bin/python bench/shard_capacity.py                      # rates 25 ... 800 per second
    .venv/bin/python bench/shard_capacity.py --rates 100 400 --seconds 5 --json

The real bot (`python -m bot`, the shipped checkpoints) runs as one shard against the emulator.
For each rate, /shakespeare interactions from distinct members arrive at that rate for `--seconds`
(each on its own schedule, as Discord's gateway delivers them), and the time from dispatch to the
bot's acknowledgement is recorded: p50, p99, the slowest, how many missed the 3 s window, and how
many were answered in the end (a text, or the polite "busy" sentence once the engine's queue is
full - both count: the user got an answer). A last run sends `--burst` interactions at once.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import percentile  # noqa: E402
from bot.devtools.playground import emulated_bot  # noqa: E402
from discord_emulator import Emulator, SentInteraction  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ACK_WINDOW_S = 3.0
_users = itertools.count()


async def send_at_rate(emu: Emulator, rate: float, count: int, length: int) -> list[SentInteraction]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = []
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        name = f"capacity-{next(_users)}"
        emu.world.add_member(name)
        sent.append(await emu.send_command(f"/shakespeare seed:ROMEO: length:{length}", user=name))
    return sent


async def outcome(sent: list[SentInteraction], label: str) -> dict:
    await asyncio.gather(*(item.wait_reply(300) for item in sent), return_exceptions=True)
    acks = [item.record.ack_latency for item in sent if item.record.ack_latency is not None]
    late = sum(1 for item in sent
               if item.record.ack_latency is None or item.record.ack_latency > ACK_WINDOW_S)
    return {"label": label, "sent": len(sent), "acked": len(acks),
            "answered": sum(1 for item in sent if item.record.answered),
            "ack_p50_s": round(percentile(acks, 0.5), 3) if acks else None,
            "ack_p99_s": round(percentile(acks, 0.99), 3) if acks else None,
            "ack_max_s": round(max(acks), 3) if acks else None,
            "late": late, "within_window": late == 0}


async def measure(args: argparse.Namespace) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as folder:
        async with emulated_bot(args.checkpoint_dir, Path(folder)) as emu:
            await outcome(await send_at_rate(emu, 10, 5, args.length), "warm-up")
            for rate in args.rates:
                sent = await send_at_rate(emu, rate, max(1, round(rate * args.seconds)), args.length)
                results.append({"rate_per_s": rate, **await outcome(sent, f"{rate}/s")})
            if args.burst:
                sent = list(await asyncio.gather(*(send_at_rate(emu, 1e9, 1, args.length)
                                                   for _ in range(args.burst))))
                results.append({"rate_per_s": None, **await outcome(
                    [item for batch in sent for item in batch], f"{args.burst} at once")})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=REPO / "checkpoints")
    parser.add_argument("--rates", type=float, nargs="+", default=[25, 50, 100, 200, 400, 800])
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each rate is kept up")
    parser.add_argument("--burst", type=int, default=600,
                        help="interactions sent at once at the end (0: none)")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.rates) <= 0 or args.seconds <= 0 or args.burst < 0 or args.length < 1:
        parser.error("rates and --seconds must be positive, --burst 0 or more, --length at least 1")
    if not args.checkpoint_dir.is_dir():
        parser.error(f"{args.checkpoint_dir} is not a folder of checkpoints")
    started = time.perf_counter()
    results = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(results))
        return 0
    for row in results:
        print(f"{row['label']:>12}: {row['sent']:5} sent, acked p50 {row['ack_p50_s']} s, "
              f"p99 {row['ack_p99_s']} s, slowest {row['ack_max_s']} s, {row['late']} late, "
              f"{row['answered']} answered")
    print(f"({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
