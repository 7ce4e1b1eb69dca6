"""How good a server voice gets on a CPU budget: fine-tuning the shipped LSTM on another text.

Runs `charlm.training.finetune.fine_tune` (the recipe issue 28's voices use) on a text for a time
budget that covers the whole call, and prints the held-out bits/char (the last 10% of the text,
never trained on) of the base model before and of the tuned model after, the minutes taken, and
whether the target is met: at most 1.45 bits/char on the King James text within 5 minutes.

    .venv/bin/python bench/voice_speed.py [--budget 300] [--threads 2] [--json]
                                          [--base checkpoints/lstm.safetensors]
                                          [--text ../shared/data/kjv-genesis-ruth.txt]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charlm.data import read_text  # noqa: E402
from charlm.errors import CharLMError  # noqa: E402
from charlm.training.allocator import keep_freed_memory  # noqa: E402
from charlm.training.finetune import fine_tune  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET_BITS_PER_CHAR = 1.45
TARGET_SECONDS = 300.0


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"must be positive and finite, not {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=_positive(float), default=TARGET_SECONDS,
                        help="seconds for the whole fine-tuning call (default: %(default)s)")
    parser.add_argument("--base", type=Path, default=REPO / "checkpoints" / "lstm.safetensors")
    parser.add_argument("--text", type=Path,
                        default=REPO.parent / "shared" / "data" / "kjv-genesis-ruth.txt")
    parser.add_argument("--threads", type=_positive(int), default=None,
                        help="torch threads (default: torch's, one per core)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.text.is_file():
        print(f"voice_speed.py: skipped: {args.text} is absent (it is not part of the repository; "
              "pass --text with another file).")
        return 0
    keep_freed_memory()
    threads = args.threads or torch.get_num_threads()
    try:
        text, _ = read_text(args.text)
        with tempfile.TemporaryDirectory() as folder:  # written as the bot would, then dropped
            result = fine_tune(args.base, text, budget_seconds=args.budget, threads=threads,
                               out_path=Path(folder) / "voice.safetensors", seed=args.seed)
            written = result.written is not None
    except CharLMError as error:
        parser.error(str(error))
    met = (result.after_bits_per_char is not None and result.after_bits_per_char <= TARGET_BITS_PER_CHAR
           and result.seconds <= TARGET_SECONDS)
    figures = {"base": str(args.base), "text": str(args.text), "budget_s": args.budget,
               "threads": threads, "train_chars": result.train_chars,
               "held_out_chars": result.held_out_chars,
               "before_bits_per_char": result.before_bits_per_char,
               "after_bits_per_char": result.after_bits_per_char, "seconds": result.seconds,
               "steps": result.steps, "improved": result.improved, "written": written,
               "target": {"bits_per_char_at_most": TARGET_BITS_PER_CHAR,
                          "seconds_at_most": TARGET_SECONDS, "met": met}}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"fine-tuned {args.base.name} on the first 90% of {args.text.name} "
          f"({result.train_chars:,} chars), {threads} threads, budget {args.budget:g} s")
    print(f"held-out bits/char (last 10%, {result.held_out_chars:,} chars): "
          f"before {result.before_bits_per_char:.4f}, after {result.after_bits_per_char:.4f} "
          f"({'better: written' if written else 'not better: refused'})")
    print(f"took {result.seconds / 60:.2f} minutes ({result.steps} steps)")
    print(f"target <= {TARGET_BITS_PER_CHAR} bits/char within {TARGET_SECONDS / 60:g} minutes: "
          f"{'MET' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
