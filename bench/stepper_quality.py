"""What the engine's weight precisions cost in model quality: validation loss through the stepper.

The generation engine does not call the trained module; it runs its own step (charlm/engine/steppers.py)
with float32, bfloat16 or int8 recurrent products. This feeds the last 10% of a text through that
step one character at a time (teacher forcing, up to 32 streams with the state carried, as
`python -m charlm eval` reads it) and prints nats/char for each precision, so a faster precision
can be checked against float32 on the same weights.

    .venv/bin/python bench/stepper_quality.py [--checkpoint checkpoints/lstm.safetensors ...]
                                              [--text ../shared/data/tinyshakespeare.txt] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charlm.checkpoint import load_checkpoint  # noqa: E402
from charlm.data import as_streams, encode_corpus, read_text, split_ids  # noqa: E402
from charlm.engine import cpu_precisions  # noqa: E402
from charlm.engine.steppers import build_stepper  # noqa: E402
from charlm.errors import CharLMError  # noqa: E402
from charlm.evaluation import stream_count  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STREAMS = 32


@torch.inference_mode()
def stepper_loss(model: torch.nn.Module, ids: torch.Tensor, dtype: torch.dtype) -> float:
    count = stream_count(ids, STREAMS)  # the streams evaluate() reads, so the losses compare
    streams = as_streams(ids, count)
    if streams.shape[1] < 2:
        raise ValueError("the validation part of the text is too short: it needs two characters")
    stepper = build_stepper(model, count, torch.device("cpu"), dtype)
    total = 0.0
    for t in range(streams.shape[1] - 1):
        logits = stepper.step(streams[:, t].contiguous(), count)
        total += float(F.cross_entropy(logits, streams[:, t + 1], reduction="sum"))
    return total / (count * (streams.shape[1] - 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, action="append",
                        help="repeatable (default: the shipped LSTM and GRU)")
    parser.add_argument("--text", type=Path, default=REPO.parent / "shared" / "data" / "tinyshakespeare.txt")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    checkpoints = args.checkpoint or [REPO / "checkpoints" / "lstm.safetensors",
                                      REPO / "checkpoints" / "gru.safetensors"]
    dtypes = cpu_precisions()
    try:
        text, _ = read_text(args.text)
        results = {}
        for path in checkpoints:
            loaded = load_checkpoint(path)
            if loaded.config.kind not in ("lstm", "gru"):
                parser.error(f"{path} is a {loaded.config.kind} model; the engine's own step serves "
                             "lstm and gru only.")
            _, validation = split_ids(encode_corpus(text, loaded.alphabet))
            model = loaded.model.eval()
            figures = {}
            for name, dtype in dtypes.items():
                started = time.perf_counter()
                figures[name] = {"nats_per_char": stepper_loss(model, validation, dtype),
                                 "seconds": time.perf_counter() - started}
            results[str(path)] = figures
    except (CharLMError, ValueError) as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for path, figures in results.items():
        reference = figures["float32"]["nats_per_char"]
        print(f"{path} (last 10% of {args.text.name}, up to {STREAMS} streams, one step per character):")
        for name, figure in figures.items():
            print(f"  {name:>8}: {figure['nats_per_char']:.4f} nats/char "
                  f"({figure['nats_per_char'] - reference:+.4f} against float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
