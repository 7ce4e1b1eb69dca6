"""Press-to-reply of the Again, Continue and Why? buttons beside /shakespeare's, and autocomplete under load.

    .venv/bin/python bench/replies_speed.py                 # the shipped checkpoints, 100 presses each
    .venv/bin/python bench/replies_speed.py --presses 10 --burst 20 --runs 3   # docs/benchmarks.md
    .venv/bin/python bench/replies_speed.py --json

The real bot (`python -m bot`) runs as a child process against the local Discord emulator, as in
the end-to-end tests; every figure is measured where a user would feel it, from the interaction
being dispatched on the gateway to the reply (or the edited message) arriving back at the emulator.

1. In turns, `--presses` times: a /shakespeare, then Again on its reply, then Why? on it (to its
   private picture), then Continue on it. Each by a fresh member, so no cooldown is in the way.
   p50/p99 of each, Again's and Continue's p50 as a ratio of /shakespeare's (target: within 1.2x),
   and Why?'s p50 as a ratio of Again's (target: within 2x).
2. `--burst` /shakespeare requests sent at once, and while they are in flight one autocomplete of
   the seed option every 50 ms: each answered within Discord's 3 s (p99 stated), since suggestions
   never wait behind generation.

With `--runs N` all of it runs N times, each with a bot of its own, and each ratio is the median of
the runs' ratios.
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

from bench.figures import fresh, percentile, summary  # noqa: E402
from bot.devtools.playground import emulated_bot  # noqa: E402
from discord_emulator import Emulator, SentInteraction  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.2
WHY_TARGET_RATIO = 2.0  # Why? (read the text again, draw a picture) against Again (write a text)
ACK_WINDOW_S = 3.0


def button(message: dict, label: str) -> str:
    return next(item["custom_id"] for row in message["components"] for item in row["components"]
                if item["label"] == label)


async def timed(start: float, waiting) -> tuple[float, object]:
    result = await waiting
    return time.perf_counter() - start, result


async def turns(emu: Emulator, presses: int, length: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"shakespeare": [], "again": [], "why": [], "continue": []}
    for _ in range(presses):
        start = time.perf_counter()
        sent = await emu.send_command(f"/shakespeare seed:ROMEO: length:{length}", user=fresh(emu))
        seconds, reply = await timed(start, sent.wait_reply(120))
        times["shakespeare"].append(seconds)
        message = reply.message
        start = time.perf_counter()
        pressed = await emu.press(message["id"], button(message, "Again"), user=fresh(emu))
        seconds, _ = await timed(start, pressed.wait_reply(120))
        times["again"].append(seconds)
        start = time.perf_counter()
        pressed = await emu.press(message["id"], button(message, "Why?"), user=fresh(emu))
        seconds, answer = await timed(start, pressed.wait_reply(120))
        assert answer.message["attachments"], answer.content  # the picture, not a refusal
        times["why"].append(seconds)
        start = time.perf_counter()
        pressed = await emu.press(message["id"], button(message, "Continue"), user=fresh(emu))
        seconds, _ = await timed(start, pressed.wait_update(120))
        times["continue"].append(seconds)
    return times


async def autocomplete_under_burst(emu: Emulator, burst: int, length: int) -> tuple[list[float], float]:
    command = f"/shakespeare seed:JULIET: length:{length}"
    sent: list[SentInteraction] = await asyncio.gather(*(
        emu.send_command(command, user=fresh(emu)) for _ in range(burst)))
    started = time.perf_counter()
    latencies = []
    while not latencies or not all(item.record.answered for item in sent):  # at least one
        typed = "ROMEO"[: 1 + len(latencies) % 5]
        start = time.perf_counter()
        choices = await emu.autocomplete(f"/shakespeare seed:{typed}", user=fresh(emu), timeout=ACK_WINDOW_S)
        latencies.append(time.perf_counter() - start)
        assert choices, "no suggestions"
        await asyncio.sleep(0.05)
        if time.perf_counter() - started > 600:
            raise TimeoutError("the burst did not finish within 10 minutes")
    await asyncio.gather(*(item.wait_reply(120) for item in sent))
    return latencies, time.perf_counter() - started


async def measure(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        async with emulated_bot(args.checkpoint_dir, Path(folder)) as emu:
            await turns(emu, 2, args.length)  # warm-up: first calls of each path
            times = await turns(emu, args.presses, args.length)
            lags, burst_seconds = await autocomplete_under_burst(emu, args.burst, args.length)
    shakespeare = statistics.median(times["shakespeare"])
    result = {"checkpoint_dir": str(args.checkpoint_dir), "length": args.length,
              **{name: summary(values) for name, values in times.items()}}
    for name in ("again", "continue"):
        ratio = statistics.median(times[name]) / shakespeare
        result[f"{name}_vs_shakespeare_p50"] = {"ratio": round(ratio, 3), "target_at_most": TARGET_RATIO,
                                                "met": ratio <= TARGET_RATIO}
    ratio = statistics.median(times["why"]) / statistics.median(times["again"])
    result["why_vs_again_p50"] = {"ratio": round(ratio, 3), "target_at_most": WHY_TARGET_RATIO,
                                  "met": ratio <= WHY_TARGET_RATIO}
    result["autocomplete_under_burst"] = {
        **summary(lags), "burst": args.burst, "burst_seconds": round(burst_seconds, 2),
        "within_ack_window": percentile(lags, 0.99) < ACK_WINDOW_S}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=REPO / "checkpoints")
    parser.add_argument("--presses", type=int, default=100, help="turns of /shakespeare, Again, Continue")
    parser.add_argument("--burst", type=int, default=200, help="/shakespeare requests in flight at once")
    parser.add_argument("--length", type=int, default=300, help="characters each request writes")
    parser.add_argument("--runs", type=int, default=1, help="whole runs, a bot each; ratios are their median")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.presses, args.burst, args.length, args.runs) < 1:
        parser.error("--presses, --burst, --length and --runs must be at least 1")
    if not args.checkpoint_dir.is_dir():
        parser.error(f"{args.checkpoint_dir} is not a folder of checkpoints")
    runs = [asyncio.run(measure(args)) for _ in range(args.runs)]
    result = runs[len(runs) // 2] if len(runs) % 2 else runs[0]
    for name in ("again_vs_shakespeare_p50", "continue_vs_shakespeare_p50", "why_vs_again_p50"):
        ratio = statistics.median(run[name]["ratio"] for run in runs)
        target = result[name]["target_at_most"]
        result[name] = {**result[name], "ratio": round(ratio, 3), "met": ratio <= target,
                        "runs": [run[name]["ratio"] for run in runs]}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.presses} turns, {args.length} characters each ({args.runs} run(s); figures of one):")
    for name in ("shakespeare", "again", "why", "continue"):
        figures = result[name]
        print(f"  {name:<12} p50 {figures['p50_s'] * 1000:7.1f} ms   p99 {figures['p99_s'] * 1000:7.1f} ms")
    for name in ("again", "continue"):
        ratio = result[f"{name}_vs_shakespeare_p50"]
        print(f"  {name} p50 / /shakespeare p50 = {ratio['ratio']:.2f}x (target <= {TARGET_RATIO}x: "
              f"{'met' if ratio['met'] else 'MISSED'})")
    ratio = result["why_vs_again_p50"]
    print(f"  why p50 / again p50 = {ratio['ratio']:.2f}x, median of runs {ratio['runs']} "
          f"(target <= {WHY_TARGET_RATIO}x: {'met' if ratio['met'] else 'MISSED'})")
    burst = result["autocomplete_under_burst"]
    print(f"autocomplete during a burst of {burst['burst']} /shakespeare ({burst['burst_seconds']} s): "
          f"p50 {burst['p50_s'] * 1000:.1f} ms, p99 {burst['p99_s'] * 1000:.1f} ms over {burst['count']} "
          f"({'within' if burst['within_ack_window'] else 'NOT within'} Discord's 3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
