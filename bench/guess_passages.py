"""Are /guess passages fair? A classifier that sees only their layout should not beat a coin.

Draws COUNT real and COUNT model passages exactly as a round draws them (charlm/guess/passages.py:
plan_round, then the real continuation or the model's, then build_passage), turns each into layout
features only (lines, blank lines, speaker-name lines, length, line lengths, final punctuation;
`layout_features`), and trains a logistic regression (numpy, standardised features, gradient
descent) on a random 70% and scores it on the other 30%, for SPLITS different splits. The
figure is the median held-out accuracy; the script exits 1 when it is above 0.60.

Model passages come from the generation engine (batched, as the bot serves them) on
checkpoints/lstm.safetensors; the time generation took is printed.

    .venv/bin/python bench/guess_passages.py [--count 1000] [--seed 0] [--splits 10]
                                             [--checkpoint checkpoints/lstm.safetensors]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charlm.engine import GenerationEngine, GenerationRequest  # noqa: E402
from charlm.guess import (  # noqa: E402
    GENERATION_LENGTH,
    PassageError,
    draw_round_async,
    finish_round,
    plan_round,
)
from charlm.guess.corpus import shipped_openings  # noqa: E402
from charlm.guess.passages import AT_ONCE, DRAW_ATTEMPTS, GuessRound, Opening, layout_features  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LIMIT = 0.60


async def model_rounds(count: int, openings: list[Opening], checkpoint: Path,
                       rng: random.Random, model: str) -> tuple[list[GuessRound], int, int]:
    """`count` model rounds drawn as the bot draws them (draw_round_async on the engine), the
    generations they took, and the rounds that found no passage and were drawn again."""
    engine = GenerationEngine({model: checkpoint}, max_waiting=count * AT_ONCE + 1)
    generations = 0

    async def generate(prompt: str, length: int) -> str:
        nonlocal generations
        generations += 1
        return await engine.generate(GenerationRequest(seed=prompt, model=model, length=length,
                                                       rng_seed=rng.getrandbits(63)))

    failed = 0

    async def one() -> GuessRound:
        nonlocal failed
        while True:  # as the bot would: a round with no passage in DRAW_ATTEMPTS tries is drawn again
            try:
                return await draw_round_async(rng, generate, model, openings, "model")
            except PassageError:
                failed += 1

    try:
        rounds = await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await engine.aclose()
    return list(rounds), generations, failed


def fit_logistic(features: np.ndarray, labels: np.ndarray, steps: int = 3000,
                 rate: float = 0.5, l2: float = 1e-3) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Weights and bias of a logistic regression on standardised features (full-batch gradient
    descent), and the mean and scale used to standardise."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (features - mean) / scale
    weights = np.zeros(features.shape[1])
    bias = 0.0
    for _ in range(steps):
        predicted = 1 / (1 + np.exp(-(standard @ weights + bias)))
        error = predicted - labels
        weights -= rate * (standard.T @ error / len(labels) + l2 * weights)
        bias -= rate * float(error.mean())
    return weights, bias, mean, scale


def accuracy(features: np.ndarray, labels: np.ndarray, fitted) -> float:
    weights, bias, mean, scale = fitted
    predicted = ((features - mean) / scale) @ weights + bias > 0
    return float((predicted == labels.astype(bool)).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="passages of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--splits", type=int, default=10, help="random 70/30 splits to score")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "checkpoints" / "lstm.safetensors")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    openings = shipped_openings()
    real = [finish_round(plan_round(rng, openings, kind="real"), "lstm") for _ in range(args.count)]
    started = time.perf_counter()
    model, generations, failed = asyncio.run(model_rounds(args.count, openings, args.checkpoint, rng, "lstm"))
    seconds = time.perf_counter() - started
    print(f"openings {len(openings)}; {args.count} real and {args.count} model passages; generating "
          f"the model passages took {generations} generations of {GENERATION_LENGTH} characters, "
          f"{seconds:.1f} s; {failed} rounds found none in {DRAW_ATTEMPTS} tries and were drawn again")

    names = list(layout_features(real[0].text))
    rows = [[layout_features(item.text)[name] for name in names] for item in real + model]
    features = np.array(rows, dtype=np.float64)
    labels = np.array([0.0] * len(real) + [1.0] * len(model))
    print(f"\n{'feature':<16}{'real mean':>10}{'model mean':>11}")
    for column, name in enumerate(names):
        print(f"{name:<16}{features[: len(real), column].mean():>10.2f}"
              f"{features[len(real):, column].mean():>11.2f}")

    scores = []
    split_rng = np.random.default_rng(args.seed)
    first_fit: tuple | None = None
    for _ in range(args.splits):
        order = split_rng.permutation(len(labels))
        cut = int(len(labels) * 0.7)
        train, test = order[:cut], order[cut:]
        fitted = fit_logistic(features[train], labels[train])
        if first_fit is None:
            first_fit = fitted
        scores.append(accuracy(features[test], labels[test], fitted))
    print(f"\nweights of the first split's regression (standardised; positive leans 'model'), "
          f"bias {first_fit[1]:+.3f}")
    for name, weight in sorted(zip(names, first_fit[0], strict=True), key=lambda pair: -abs(pair[1])):
        print(f"  {name:<16}{weight:+.3f}")
    median = statistics.median(scores)
    print(f"\nheld-out accuracy over {args.splits} splits: median {median:.3f}, "
          f"range {min(scores):.3f}-{max(scores):.3f} (limit {LIMIT:.2f})")
    return 0 if median <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
