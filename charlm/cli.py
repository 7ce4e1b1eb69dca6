"""`python -m charlm`: sample from, evaluate, and describe checkpoints.

    python -m charlm sample --checkpoint checkpoints/lstm.safetensors --seed "ROMEO:" --temp 0.8
    python -m charlm eval --checkpoint checkpoints/lstm.safetensors --text input.txt --last 0.1 --json
    python -m charlm info --checkpoint checkpoints/lstm.safetensors
    python -m charlm hello
    python -m charlm explain --checkpoint checkpoints/lstm.safetensors --seed "ROMEO:" --out why.png
    python -m charlm cells --checkpoint checkpoints/lstm.safetensors --out cells.png
    python -m charlm guess --checkpoint checkpoints/lstm.safetensors

Bad arguments give a one-line error and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import torch

from charlm.checkpoint import load_checkpoint
from charlm.data import encode_corpus, read_text, split_ids
from charlm.errors import CharLMError
from charlm.evaluation import evaluate
from charlm.explain.cells import FEATURES
from charlm.sampling import DEFAULT_LENGTH, DEFAULT_TEMPERATURE, check_sampling_options, sample

EXIT_USAGE = 2


class UsageError(Exception):
    """A bad argument: reported as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before an error; we print the error line alone."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m charlm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    sample_parser = commands.add_parser("sample", help="generate text from a checkpoint")
    sample_parser.add_argument("--checkpoint", type=Path, required=True)
    sample_parser.add_argument("--seed", default="\n", help="text to prime the model with")
    sample_parser.add_argument("--temp", type=_finite_float, default=DEFAULT_TEMPERATURE,
                               help="sampling temperature, above 0 (lower is more conservative)")
    sample_parser.add_argument("--length", type=int, default=DEFAULT_LENGTH,
                               help="characters to generate (default: %(default)s)")
    sample_parser.add_argument("--top-k", type=int, help="sample only among the K likeliest")
    sample_parser.add_argument("--rng-seed", type=int, help="make the output reproducible")

    eval_parser = commands.add_parser("eval", help="validation loss of a checkpoint on a text file")
    eval_parser.add_argument("--checkpoint", type=Path, required=True)
    eval_parser.add_argument("--text", type=Path, required=True, help="a UTF-8 text file")
    eval_parser.add_argument("--last", type=float, default=1.0, metavar="FRACTION",
                             help="evaluate only the last FRACTION of the normalised text "
                                  "(0.1 = the validation split train.py holds out)")
    eval_parser.add_argument("--json", action="store_true", help="print one JSON object")

    info_parser = commands.add_parser("info", help="show a checkpoint's metadata")
    info_parser.add_argument("--checkpoint", type=Path, required=True)

    commands.add_parser("hello", help="the seed post's demo: learn one sentence, then recite it")

    explain_parser = commands.add_parser(
        "explain", help="draw a text coloured by how likely the model found each character")
    explain_parser.add_argument("--checkpoint", type=Path, required=True)
    source = explain_parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", type=Path, help="a UTF-8 text file to explain")
    source.add_argument("--seed", help="text given on the command line to explain")
    explain_parser.add_argument("--temp", type=_finite_float, default=DEFAULT_TEMPERATURE,
                                help="the temperature the text was sampled with (default: %(default)s)")
    explain_parser.add_argument("--top-k", type=int, help="the top-k it was sampled with, if any")
    explain_parser.add_argument("--out", type=Path, default=Path("explain.png"),
                                help="the PNG to write (default: %(default)s)")

    cells_parser = commands.add_parser(
        "cells", help="find the cells that follow simple properties of a text, and draw them")
    cells_parser.add_argument("--checkpoint", type=Path, required=True)
    cells_parser.add_argument("--text", type=Path, help="a UTF-8 text file (default: a built-in passage)")
    cells_parser.add_argument("--out", type=Path, default=Path("cells.png"),
                              help="the PNG to write (default: %(default)s)")

    guess_parser = commands.add_parser("guess", help="Shakespeare or the bot? one round of /guess")
    guess_parser.add_argument("--checkpoint", type=Path, required=True)
    guess_parser.add_argument("--rng-seed", type=int, help="make the round reproducible")
    guess_parser.add_argument("--reveal", action="store_true",
                              help="print the answer at once instead of asking for a guess")
    return parser


def run_sample(args: argparse.Namespace) -> None:
    try:
        check_sampling_options(args.temp, args.length, args.top_k, rng_seed=args.rng_seed)
    except CharLMError as error:
        raise UsageError(str(error)) from None
    loaded = load_checkpoint(args.checkpoint)
    text = sample(loaded.model, loaded.alphabet, args.seed, args.temp, args.length,
                  args.top_k, args.rng_seed)
    print(loaded.alphabet.normalise(args.seed) + text)


def run_eval(args: argparse.Namespace) -> None:
    if not 0 < args.last <= 1:
        raise UsageError(f"--last must be a fraction in (0, 1], not {args.last}.")
    loaded = load_checkpoint(args.checkpoint)
    text, _ = read_text(args.text)
    ids = encode_corpus(text, loaded.alphabet, source=str(args.text))
    ids = split_ids(ids, 1 - args.last)[1]  # the same cut train.py makes for validation
    if len(ids) < 2:
        raise UsageError(f"{args.text} is too short to evaluate.")
    result = evaluate(loaded.model, ids)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"nats_per_char {result.nats_per_char:.4f}\nbits_per_char "
              f"{result.bits_per_char:.4f}\nchars {result.chars}")


def run_info(args: argparse.Namespace) -> None:
    loaded = load_checkpoint(args.checkpoint)
    config = loaded.config
    print(f"checkpoint  {args.checkpoint}")
    print(f"model       {config.kind}, {config.num_layers} layer(s) x {config.hidden_size} hidden, "
          f"embedding {config.embedding_dim}, dropout {config.dropout}")
    print(f"parameters  {loaded.model.parameter_count():,}")
    print(f"alphabet    {len(loaded.alphabet)} characters: {loaded.alphabet.characters!r}")
    for key, value in loaded.training.items():
        if key != "config":
            print(f"{key:<11} {value}")


def run_hello(_: argparse.Namespace) -> None:
    from charlm.hello import HELLO_SENTENCE, recite, train_hello

    model, alphabet = train_hello()
    recited = recite(model, alphabet)
    print(f"trained on: {HELLO_SENTENCE}\nrecited:    {recited}\nexact: {recited == HELLO_SENTENCE}")


def _write_png(path: Path, png: bytes) -> None:
    try:
        path.write_bytes(png)
    except OSError as error:
        raise UsageError(f"Cannot write {path} ({error.strerror or error}).") from None


def run_explain(args: argparse.Namespace) -> None:
    from charlm.explain import explain_png

    try:
        check_sampling_options(args.temp, 1, args.top_k)
    except CharLMError as error:
        raise UsageError(str(error)) from None
    text = read_text(args.text)[0] if args.text is not None else args.seed
    png, info = explain_png(load_checkpoint(args.checkpoint), text, args.temp, top_k=args.top_k)
    _write_png(args.out, png)
    reading = info.reading
    print(f"wrote {args.out} ({info.width} x {info.height} px): {info.shown_characters:,} characters, "
          f"{reading.bits_per_char:.2f} bits/char at temperature {args.temp:g}")
    if info.notice() is not None:
        print(info.notice())
    for number, index in enumerate(info.surprising, start=1):
        expected = ", ".join(f"{character!r} {probability:.1%}"
                             for character, probability in reading.expected[index])
        print(f"{number}. {reading.text[index]!r} at {index}: {reading.probabilities[index]:.2%}; "
              f"expected {expected}")


def run_cells(args: argparse.Namespace) -> None:
    from charlm.explain import find_cells, render_cells
    from charlm.explain.passage import PASSAGE

    loaded = load_checkpoint(args.checkpoint)
    text = read_text(args.text)[0] if args.text is not None else PASSAGE
    report = find_cells(loaded, text)
    if report.note is not None:
        print(report.note)
    print(f"{len(report.text):,} characters read; the best single cell for each property "
          f"(Pearson's r of its activation with the property):")
    for number, match in enumerate(report.matches, start=1):
        print(f"{number}. {match.feature:<28} layer {match.layer} cell {match.unit:<4} "
              f"r = {match.correlation:+.3f}")
    missing = [feature for feature in FEATURES if feature not in {m.feature for m in report.matches}]
    for feature in missing:
        print(f"-  {feature:<28} does not vary in this text: no correlation")
    _write_png(args.out, render_cells(report))
    print(f"wrote {args.out}: panel N draws property N's cell over the text's start "
          f"(blue -1, white 0, red +1)")


def run_guess(args: argparse.Namespace) -> None:
    import random

    from charlm.guess import SampledContinuation, draw_round, shipped_openings

    loaded = load_checkpoint(args.checkpoint)
    rng = random.Random(args.rng_seed)
    name = args.checkpoint.stem
    passage = draw_round(rng, SampledContinuation(loaded, rng=rng), name, shipped_openings())
    print(passage.text + "\n")
    answer = "Shakespeare" if passage.kind == "real" else f"the {name} model"
    if not args.reveal and sys.stdin.isatty():
        guess = input("Shakespeare or the bot? [s/b] ").strip().lower()[:1]
        right = guess == ("s" if passage.kind == "real" else "b")
        print("Right!" if right else "Wrong!", end=" ")
    print(f"After the first line, this was {answer}.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"sample": run_sample, "eval": run_eval, "info": run_info, "hello": run_hello,
                "explain": run_explain, "cells": run_cells, "guess": run_guess}
    try:
        with torch.inference_mode(args.command != "hello"):
            handlers[args.command](args)
        sys.stdout.flush()  # inside the try: a reader that left shows up here
    except (UsageError, CharLMError) as error:
        print(f"python -m charlm {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`... | head`): not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
