"""Serving while a server voice trains, and many voices through a bounded cache.

    .venv/bin/python bench/voice_serving.py            # the shipped LSTM; about 8 minutes
    .venv/bin/python bench/voice_serving.py --json

The real bot (`python -m bot`) runs as a child process against the local Discord emulator, with its
own trainer process (VOICE_TRAINER=local: lowest priority, two threads), as a single-host deployment
runs it.

1. `--requests` /shakespeare of `--length` characters one after another, idle; then the same while
   a voice trains (an admin's /voice train of `--text`, or a generated text where it is absent):
   p50 and p99 of each, and during/idle as ratios (target: at most 2x).
2. `--voices` voices (copies of the base checkpoint, each its own model to the engine) used in
   turn, twice round, with VOICE_CACHE_MB room for `--cached` of them: every request answered, and
   the bot process's resident memory sampled after each; its peak is compared with the bound
   stated here: the idle process, plus the cache's budget (what the engine counts a voice as,
   times `--cached`), plus 150 MB of slack for the allocator and buffers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import fresh, percentile  # noqa: E402
from bot.devtools.playground import emulated_bot_process  # noqa: E402
from discord_emulator import Emulator  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_TEXT = REPO.parent / "shared" / "data" / "kjv-genesis-ruth.txt"
TARGET_RATIO = 2.0
SLACK_MB = 150


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def latencies(emu: Emulator, count: int, length: int, model: str | None = None) -> list[float]:
    times = []
    option = f" model:{model}" if model else ""
    for _ in range(count):
        start = time.perf_counter()
        sent = await emu.send_command(f"/shakespeare seed:ROMEO: length:{length}{option}", user=fresh(emu))
        reply = await sent.wait_reply(300)
        times.append(time.perf_counter() - start)
        assert not reply.ephemeral, reply.content
    return times


def figures(values: list[float]) -> dict:
    return {"p50_s": round(percentile(values, 0.5), 4), "p99_s": round(percentile(values, 0.99), 4),
            "count": len(values)}


def job_state(db: Path) -> str | None:
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT state FROM voice_jobs ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


def voice_megabytes(base: Path) -> float:
    """What the bot's cache counts one voice of this base as (GenerationEngine.model_bytes)."""
    from charlm.engine import GenerationEngine

    engine = GenerationEngine({"base": base}, device="cpu")
    try:
        return engine.model_bytes("base") / 2**20
    finally:
        engine.close()


def add_voices(db: Path, voices_dir: Path, guild_id: int, base: Path, count: int) -> None:
    """`count` voices for the guild, each a copy of the base (a distinct model to the engine)."""
    folder = voices_dir / str(guild_id)
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as connection:
        for number in range(count):
            path = folder / f"v{number}.safetensors"
            shutil.copyfile(base, path)
            connection.execute("INSERT INTO voices (guild_id, name, base, file, bits_before, bits_after, "
                               "created_at) VALUES (?, ?, 'lstm', ?, 3.0, 2.0, ?)",
                               (guild_id, f"v{number}", str(path), time.time() + number))


async def measure(args: argparse.Namespace) -> dict:
    text = SHARED_TEXT.read_bytes() if SHARED_TEXT.exists() else (
        "In the beginning the server wrote its own lore, and the lore was long.\n" * 20000).encode()
    per_voice_mb = voice_megabytes(args.checkpoint_dir / "lstm.safetensors")
    env = {"VOICE_TRAIN_SECONDS": str(args.train_seconds), "VOICE_TRAIN_THREADS": "2",
           "VOICE_CACHE_MB": str(round(per_voice_mb * args.cached + 1)), **dict(args.env)}
    with tempfile.TemporaryDirectory() as folder:
        async with emulated_bot_process(args.checkpoint_dir, Path(folder), extra_env=env) as (emu, bot):
            db = Path(folder) / "bot.sqlite3"
            await latencies(emu, 3, args.length)  # warm-up
            idle = await latencies(emu, args.requests, args.length)
            sent = await emu.send_command("/voice train name:bench", user="admin",
                                          files={"file": ("bench.txt", text, "text/plain")})
            queued = (await sent.wait_reply(120)).content
            deadline = time.monotonic() + 120
            while job_state(db) != "running":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the voice job did not start: {queued}")
                await asyncio.sleep(0.5)
            training = await latencies(emu, args.requests, args.length)
            still_training = job_state(db) == "running"
            await emu.send_command("/voice cancel", user="admin")
            idle_rss = resident_mb(bot.pid)
            base = args.checkpoint_dir / "lstm.safetensors"
            add_voices(db, Path(folder) / "voices", emu.world.guild.id, base, args.voices)
            peak, answered, voice_times = idle_rss, 0, []
            for number in list(range(args.voices)) * 2:
                voice_times += await latencies(emu, 1, 50, model=f"v{number}")
                answered += 1
                peak = max(peak, resident_mb(bot.pid))
    bound = idle_rss + per_voice_mb * args.cached + SLACK_MB
    ratio_p50 = statistics.median(training) / statistics.median(idle)
    ratio_p99 = percentile(training, 0.99) / percentile(idle, 0.99)
    return {
        "length": args.length, "idle": figures(idle), "while_training": figures(training),
        "training_ran_throughout": still_training,
        "ratio_p50": round(ratio_p50, 3), "ratio_p99": round(ratio_p99, 3), "target_at_most": TARGET_RATIO,
        "met": ratio_p50 <= TARGET_RATIO and ratio_p99 <= TARGET_RATIO,
        "voices": args.voices, "cached": args.cached, "voice_mb": round(per_voice_mb, 1),
        "voice_requests_answered": answered,
        "voice_request": figures(voice_times), "idle_rss_mb": round(idle_rss), "peak_rss_mb": round(peak),
        "rss_bound_mb": round(bound), "within_bound": peak <= bound,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint-dir", type=Path, default=REPO / "checkpoints")
    parser.add_argument("--requests", type=int, default=40, help="/shakespeare requests per phase")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--train-seconds", type=int, default=300, help="VOICE_TRAIN_SECONDS of the bot")
    parser.add_argument("--voices", type=int, default=50)
    parser.add_argument("--cached", type=int, default=10, help="voices VOICE_CACHE_MB has room for")
    parser.add_argument("--env", action="append", default=[], type=lambda pair: tuple(pair.split("=", 1)),
                        metavar="NAME=VALUE", help="an extra variable for the bot process (experiments)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.requests, args.length, args.train_seconds, args.voices, args.cached) < 1:
        parser.error("every number must be at least 1")
    if not (args.checkpoint_dir / "lstm.safetensors").is_file():
        parser.error(f"{args.checkpoint_dir} has no lstm.safetensors")
    result = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(result))
        return 0
    idle, busy = result["idle"], result["while_training"]
    print(f"/shakespeare, {args.length} characters, {args.requests} each:")
    print(f"  idle            p50 {idle['p50_s'] * 1000:7.1f} ms   p99 {idle['p99_s'] * 1000:7.1f} ms")
    print(f"  voice training  p50 {busy['p50_s'] * 1000:7.1f} ms   p99 {busy['p99_s'] * 1000:7.1f} ms"
          f"{'' if result['training_ran_throughout'] else '  (the training ended before the last request)'}")
    print(f"  ratio p50 {result['ratio_p50']:.2f}x, p99 {result['ratio_p99']:.2f}x "
          f"(target <= {TARGET_RATIO}x: {'met' if result['met'] else 'MISSED'})")
    print(f"{args.voices} voices in turn, twice, cache room for {args.cached}: "
          f"{result['voice_requests_answered']} answered, "
          f"p50 {result['voice_request']['p50_s'] * 1000:.0f} ms, "
          f"p99 {result['voice_request']['p99_s'] * 1000:.0f} ms")
    print(f"  each voice counted as {result['voice_mb']} MB by the engine")
    print(f"  bot memory: idle {result['idle_rss_mb']} MB, peak {result['peak_rss_mb']} MB, bound "
          f"{result['rss_bound_mb']} MB ({'within' if result['within_bound'] else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
