"""TrainConfig: every training setting, its default, and the check of its value, in one place.

The defaults are the shipped models' recipe (docs/training.md): the shipped LSTM is these defaults
in one process; the shipped GRU ran them in two processes (`torchrun --nproc_per_node 2`), so each
of its steps saw two of these batches. A TrainConfig checks itself when it is made, so code that
calls training directly gets the same refusals as train.py's command line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from charlm.devices import bf16_is_native
from charlm.errors import TrainingError
from charlm.models import MODEL_KINDS

# Dropout and AdamW weight decay by model kind when none is given: the shipped LSTM's and GRU's
# (the runs behind them: docs/experiments.md); the rnn and scratch kinds keep an untuned default.
DEFAULT_DROPOUT = {"lstm": 0.35, "gru": 0.3}
OTHER_DROPOUT = 0.25
DEFAULT_WEIGHT_DECAY = {"lstm": 0.3, "gru": 0.3}
OTHER_WEIGHT_DECAY = 0.1
# The autocast precision of a step, in charlm.devices.DTYPES' names; "auto": resolve_precision.
PRECISIONS = ("auto", "float32", "bfloat16")
# What --resume may change: the budget (to extend a run), how often it validates, and where and in
# which precision it runs. Everything else must match the saved run (charlm.training.state).
RESUME_MAY_CHANGE = frozenset({"max_steps", "minutes", "eval_every", "device", "precision"})


class TrainConfigError(TrainingError):
    """Settings that cannot train; `problems` holds (field name, what is wrong) for each."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name} {text}" for name, text in problems) + ".")
        self.problems = problems


@dataclass
class TrainConfig:
    model: str = "lstm"
    hidden_size: int = 512
    embedding_dim: int = 64
    num_layers: int = 2
    dropout: float | None = None  # None: DEFAULT_DROPOUT for the kind, else OTHER_DROPOUT
    weight_drop: float = 0.0  # DropConnect on hidden-to-hidden weights (rnn, lstm, gru)
    batch_size: int = 64
    seq_len: int = 64
    learning_rate: float = 3e-3
    min_lr_fraction: float = 0.05
    warmup_steps: int = 100
    weight_decay: float | None = None  # None: DEFAULT_WEIGHT_DECAY for the kind, else OTHER_WEIGHT_DECAY
    grad_clip: float = 1.0
    max_steps: int | None = None
    minutes: float | None = None
    eval_every: int = 250
    seed: int = 1337
    device: str = "cpu"
    # "bfloat16": autocast matmuls to bfloat16, weights stay float32; "auto" (resolve_precision):
    # bfloat16 where the device multiplies it natively, else "float32".
    precision: str = "auto"
    ema_decay: float = 0.998  # > 0: also validate an exponential moving average of the weights
    shift_windows: bool = True  # move the window boundaries by a random offset each epoch

    def __post_init__(self) -> None:
        if self.dropout is None:
            self.dropout = DEFAULT_DROPOUT.get(self.model, OTHER_DROPOUT)
        if self.weight_decay is None:
            self.weight_decay = DEFAULT_WEIGHT_DECAY.get(self.model, OTHER_WEIGHT_DECAY)
        problems = self.problems()
        if problems:
            raise TrainConfigError(problems)

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for every value training cannot use; empty when all are fine."""
        problems = []

        def number(name: str) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append((name, "must be a number"))
                return math.nan
            return value

        if self.model not in MODEL_KINDS:
            problems.append(("model", f"must be one of {', '.join(MODEL_KINDS)}"))
        for name in ("hidden_size", "embedding_dim", "num_layers", "batch_size", "seq_len", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append((name, "must be at least 1"))
        if self.max_steps is not None and (isinstance(self.max_steps, bool)
                                           or not isinstance(self.max_steps, int) or self.max_steps < 1):
            problems.append(("max_steps", "must be positive and finite"))
        if self.minutes is not None and not 0 < number("minutes") < math.inf:
            problems.append(("minutes", "must be positive and finite"))
        if not 0 <= number("dropout") < 1:
            problems.append(("dropout", "must be in [0, 1)"))
        if not 0 <= number("weight_drop") < 1:
            problems.append(("weight_drop", "must be in [0, 1)"))
        elif self.weight_drop and self.model == "scratch":
            problems.append(("weight_drop", "applies to rnn, lstm and gru only"))
        if not 0 < number("learning_rate") < math.inf:
            problems.append(("learning_rate", "must be positive and finite"))
        if not 0 <= number("min_lr_fraction") <= 1:
            problems.append(("min_lr_fraction", "must be in [0, 1]"))
        warmup = self.warmup_steps
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            problems.append(("warmup_steps", "must be 0 or more"))
        if not 0 <= number("weight_decay") < math.inf:
            problems.append(("weight_decay", "must be 0 or more, and finite"))
        if not 0 <= number("ema_decay") < 1:
            problems.append(("ema_decay", "must be in [0, 1)"))
        if not 0 < number("grad_clip") < math.inf:
            problems.append(("grad_clip", "must be positive and finite"))
        if self.precision not in PRECISIONS:
            problems.append(("precision", f"must be one of {', '.join(PRECISIONS)}"))
        return problems

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))


def resolve_precision(precision: str, device: torch.device) -> str:
    """"float32" or "bfloat16" for `precision`; "auto" is bfloat16 only where the device multiplies
    it natively: elsewhere (a CPU without AVX512-BF16 or AMX, an older GPU) it is emulated and slower."""
    if precision not in PRECISIONS:
        raise TrainingError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "auto":
        return "bfloat16" if bf16_is_native(device) else "float32"
    return precision
