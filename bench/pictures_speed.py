"""How long the pictures take to draw on this CPU: the Why? picture of a 1,500-character reply and
the voice-training curve of 300 points (target: p50 under 300 ms each).

    .venv/bin/python bench/pictures_speed.py                # the shipped LSTM, 30 renders each
    .venv/bin/python bench/pictures_speed.py --repeats 5 --json

Figures, each p50/p99 over --repeats renders after one unmeasured warm-up (fonts opened,
matplotlib imported):
    why_render   drawing and encoding the Why? PNG of an already-read reply (charlm.explain's
                 render_reading): the picture's own cost;
    why_total    explain_png as a bot calls it: reading the reply through the model, then drawing;
    loss_curve   render_loss_curve of 300 (seconds, bits/char) points with both held-out marks.
The reply is 1,500 characters the model itself sampled (temperature 0.8, RNG seed 0), the bot's
longest reply. The reading runs torch on --threads threads (1 by default: on the shared 2-core
machine two threads fight their neighbours and the reading's time swings by seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench.figures import summary  # noqa: E402
from charlm.checkpoint import load_checkpoint  # noqa: E402
from charlm.explain import explain_png, read_through, render_loss_curve  # noqa: E402
from charlm.explain.text_picture import fits, render_reading  # noqa: E402
from charlm.sampling import sample  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGET_P50_S = 0.3
REPLY_CHARACTERS = 1_500
CURVE_POINTS = 300


def timed(work, repeats: int) -> list[float]:
    work()  # warm-up: fonts, imports, allocator
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "lstm.safetensors")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the reading (default 1: a bot's worker thread)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.repeats < 1 or args.threads < 1:
        parser.error("--repeats and --threads must be at least 1")
    torch.set_num_threads(args.threads)

    loaded = load_checkpoint(args.checkpoint)
    seed = "ROMEO:\n"
    reply = seed + sample(loaded.model, loaded.alphabet, seed, 0.8, REPLY_CHARACTERS - len(seed), rng_seed=0)
    reading = read_through(loaded.model, loaded.alphabet, reply, 0.8, max_characters=fits(reply))
    surprising = reading.most_surprising(3)
    points = [(300 * (i + 1) / CURVE_POINTS, 1.6 + 1.5 * math.exp(-i / 60) + 0.05 * math.sin(i))
              for i in range(CURVE_POINTS)]

    figures = {
        "why_render": summary(timed(lambda: render_reading(reading, surprising, truncated=False),
                                    args.repeats)),
        "why_total": summary(timed(lambda: explain_png(loaded, reply, 0.8), args.repeats)),
        "loss_curve": summary(timed(lambda: render_loss_curve(points, 300, 2.4, 2.1), args.repeats)),
    }
    figures["reply"] = {"characters": len(reply), "drawn": len(reading.text)}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"reply: {len(reply):,} characters, {len(reading.text):,} drawn; torch threads {args.threads}; "
          f"target p50 < {TARGET_P50_S * 1000:.0f} ms")
    for name in ("why_render", "why_total", "loss_curve"):
        figure = figures[name]
        verdict = ("(reading and drawing: not judged)" if name == "why_total"
                   else "MET" if figure["p50_s"] < TARGET_P50_S else "MISSED")
        print(f"{name:<11} p50 {figure['p50_s'] * 1000:6.1f} ms  p99 {figure['p99_s'] * 1000:6.1f} ms  "
              f"({figure['count']} renders)  {verdict}")


if __name__ == "__main__":
    main()
