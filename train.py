"""Train a character-level model and write the best checkpoint.

    python train.py --model lstm --data ../shared/data/tinyshakespeare.txt --minutes 55
    torchrun --nproc_per_node 2 train.py --model gru --data input.txt --steps 200

Without --data the seed post's tinyshakespeare is downloaded once into --cache-dir and checked by
sha256. The defaults are the shipped models' recipe; README names the exact commands that
built them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from charlm.data import download_tinyshakespeare, read_text
from charlm.devices import resolve_device
from charlm.errors import CharLMError
from charlm.models import MODEL_KINDS
from charlm.training import (
    DEFAULT_DROPOUT,
    DEFAULT_WEIGHT_DECAY,
    OTHER_DROPOUT,
    OTHER_WEIGHT_DECAY,
    PRECISIONS,
    TrainConfig,
    TrainConfigError,
    keep_freed_memory,
    train,
)

# The flag of each TrainConfig field whose flag is not simply --field-name.
FLAGS = {"num_layers": "--layers", "max_steps": "--steps", "learning_rate": "--lr",
         "warmup_steps": "--warmup"}
# Older commands (and the experiments log) name precisions the short way.
PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16"}


def flag(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def precision_name(value: str) -> str:
    return PRECISION_ALIASES.get(value, value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    def by_kind(rates: dict[str, float], other: float) -> str:
        kinds_by_rate: dict[float, list[str]] = {}
        for kind, rate in rates.items():
            kinds_by_rate.setdefault(rate, []).append(kind)
        return ", ".join([f"{rate} for {' and '.join(kinds)}" for rate, kinds in kinds_by_rate.items()]
                         + [f"{other} otherwise"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODEL_KINDS, default=defaults.model,
                        help="scratch: the seed post's one-hot cell; rnn, lstm, gru: embedding, fused "
                             "module, decoder (default: %(default)s)")
    parser.add_argument("--data", help="a UTF-8 text file (default: download tinyshakespeare)")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "charlm",
                        help="where the download is kept (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="checkpoint to write (default checkpoints/KIND.safetensors)")
    parser.add_argument("--hidden-size", type=int, default=defaults.hidden_size,
                        help="units per recurrent layer (default: %(default)s)")
    parser.add_argument("--embedding-dim", type=int, default=defaults.embedding_dim,
                        help="width of the character embedding; rnn, lstm, gru (default: %(default)s)")
    parser.add_argument("--layers", dest="num_layers", type=int, default=defaults.num_layers,
                        help="stacked recurrent layers (default: %(default)s)")
    parser.add_argument("--dropout", type=float,
                        help="dropout on the embedding, between layers and before the decoder "
                             f"(default: {by_kind(DEFAULT_DROPOUT, OTHER_DROPOUT)})")
    parser.add_argument("--weight-drop", type=float, default=defaults.weight_drop,
                        help="DropConnect on the hidden-to-hidden weights while training, e.g. 0.3 "
                             "(rnn, lstm, gru; default 0: off)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="streams per batch, per process (default: %(default)s)")
    parser.add_argument("--seq-len", type=int, default=defaults.seq_len,
                        help="characters per window: the back-propagation horizon (default: %(default)s)")
    parser.add_argument("--lr", dest="learning_rate", type=float, default=defaults.learning_rate,
                        help="AdamW's peak learning rate (default: %(default)s)")
    parser.add_argument("--min-lr-fraction", type=float, default=defaults.min_lr_fraction,
                        help="where the cosine decay ends, as a fraction of --lr (default: %(default)s)")
    parser.add_argument("--warmup", dest="warmup_steps", type=int, default=defaults.warmup_steps,
                        help="linear warm-up steps (default: %(default)s)")
    parser.add_argument("--weight-decay", type=float,
                        help="AdamW's, on matrices only "
                             f"(default: {by_kind(DEFAULT_WEIGHT_DECAY, OTHER_WEIGHT_DECAY)})")
    parser.add_argument("--grad-clip", type=float, default=defaults.grad_clip,
                        help="largest gradient norm (default: %(default)s)")
    parser.add_argument("--steps", dest="max_steps", type=int,
                        help="stop after this many steps (give --steps, --minutes or both)")
    parser.add_argument("--minutes", type=float, help="stop after this many minutes of training")
    parser.add_argument("--eval-every", type=int, default=defaults.eval_every,
                        help="validate, and keep the best checkpoint, every this many steps "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="RNG seed for repeatable runs (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    parser.add_argument("--precision", type=precision_name, choices=PRECISIONS, default=defaults.precision,
                        help="bfloat16: autocast products to bfloat16; auto (default): bfloat16 where "
                             "the device multiplies it natively (AVX512-BF16, AMX, recent GPUs), "
                             "else float32")
    parser.add_argument("--shift-windows", action=argparse.BooleanOptionalAction,
                        default=defaults.shift_windows,
                        help="move every window boundary by a random 0 to seq-len - 1 characters "
                             "each epoch (default: on)")
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay,
                        help="also validate a moving average of the weights with this decay and "
                             "keep it when it is better (default %(default)s; 0: off)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.state")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    problems = []
    if args.max_steps is None and args.minutes is None:
        problems.append("give a budget with --steps or --minutes")
    try:
        args.config = TrainConfig(**{name: getattr(args, name) for name in TrainConfig.field_names()})
    except TrainConfigError as error:
        problems.extend(f"{flag(name)} {text}" for name, text in error.problems)
    if problems:
        parser.error("; ".join(problems))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_freed_memory()  # about 10% faster steps on CPU: see charlm/training/allocator.py
    out = args.out or Path("checkpoints") / f"{args.model}.safetensors"
    try:
        device = resolve_device(args.device)
        if device.type == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
            device = resolve_device(f"cuda:{os.environ['LOCAL_RANK']}")
        args.config.device = str(device)
        if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
            print(f"train.py: error: cannot write to {out.parent} (missing or read-only folder).",
                  file=sys.stderr)
            return 2
        data_path = Path(args.data) if args.data else download_tinyshakespeare(args.cache_dir)
        text, sha256 = read_text(data_path)
        config = args.config
        world = int(os.environ.get("WORLD_SIZE", "1"))
        launcher = f"torchrun --nproc_per_node {world}" if world > 1 else "python"
        command = f"{launcher} train.py " + shlex.join(argv if argv is not None else sys.argv[1:])
        summary = train(config, text, sha256, out, command=command, resume=args.resume,
                        show_progress=not args.no_progress)
    except CharLMError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    if summary:
        print(f"best validation {summary['val_nats_per_char']:.4f} nats/char "
              f"({summary['val_bits_per_char']:.4f} bits/char) at step {summary['best_step']} "
              f"of {summary['steps']}, "
              f"{summary['minutes']} min, {summary['chars_per_second']} chars/s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
