"""Fine-tuning a shipped model on a server's own text (issue 28's "server voices"), on a time budget.

    result = fine_tune(Path("checkpoints/lstm.safetensors"), text, budget_seconds=300,
                       out_path=Path("voices/1234.safetensors"))
    if result.written: ...  # the voice reads the server's held-out text better than the base did

The text is normalised and encoded as `python -m charlm eval` does, then cut as train.py cuts its
data: the first 90% is trained on, the last 10% is held out and only ever evaluated. The held-out
bits/char of the base model (before) and of the tuned one (after) are both measured; the tuned model
is written, atomically and as a safetensors checkpoint the engine loads, only when it is better.

`budget_seconds` covers the whole call: the evaluation before, training, and the evaluation after
(the training stops early enough to leave the second evaluation the time the first one took).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from charlm.checkpoint import load_checkpoint, save_checkpoint
from charlm.data import StreamBatches, encode_corpus, split_ids
from charlm.devices import resolve_device
from charlm.errors import TrainingError
from charlm.evaluation import evaluate
from charlm.models import build_model
from charlm.training.config import TrainConfig, resolve_precision
from charlm.training.loop import WeightAverage, make_optimizer, train_step

# The least text a voice is tuned on, counted after normalising. The held-out tenth is then 1,000
# characters, about a page: per-character losses spread over several bits, so the mean of fewer
# characters would move by a tenth of a bit or more with the page chosen, too much to tell a better
# voice from a worse one. The train part (9,000 characters) still fills 8 streams of 7 windows.
MIN_CHARACTERS = 10_000
PROGRESS_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class Recipe:
    """How the model is tuned; RECIPE is the measured one (docs/experiments.md, issue 28)."""

    learning_rate: float = 4e-3  # the peak, reached after the warm-up
    warmup_fraction: float = 0.03  # of the budget, then decay to 0 exactly at its end
    decay: str = "cosine"  # "cosine" or "linear"
    batch_size: int = 64  # at most: short texts use fewer streams
    seq_len: int = 128
    dropout: float | None = 0.2  # None: the base model's
    weight_decay: float = 0.3
    grad_clip: float = 1.0
    ema_decay: float = 0.0  # > 0: the weights' moving average is the tuned model
    max_epochs: float = 8.0  # a short text is not read more often than this, whatever the budget
    precision: str = "auto"  # bfloat16 where the device multiplies it natively


RECIPE = Recipe()


@dataclass(frozen=True)
class FineTuneProgress:
    fraction: float  # of the budget spent, 0 to 1
    step: int
    train_bits_per_char: float | None  # mean training loss since the last report
    held_out_bits_per_char: float | None  # the last held-out measure (the base's, until the end)
    seconds_left: float


@dataclass(frozen=True)
class FineTuneResult:
    before_bits_per_char: float  # the base model on the held-out text
    after_bits_per_char: float | None  # the tuned model on it; None when cancelled
    seconds: float  # the whole call
    steps: int
    train_chars: int
    held_out_chars: int
    cancelled: bool = False
    written: Path | None = None  # out_path, when the tuned model was better and was written

    @property
    def improved(self) -> bool:
        """True when the tuned model reads the held-out text better than the base model."""
        return self.after_bits_per_char is not None and self.after_bits_per_char < self.before_bits_per_char


def learning_rate_at(recipe: Recipe, progress: float) -> float:
    """Linear warm-up over `warmup_fraction` of the budget, then cosine or linear decay to 0 at 1."""
    if progress < recipe.warmup_fraction:
        return recipe.learning_rate * max(progress / recipe.warmup_fraction, 0.01)
    left = min(1.0, (progress - recipe.warmup_fraction) / (1 - recipe.warmup_fraction))
    shape = 1 - left if recipe.decay == "linear" else 0.5 * (1 + math.cos(math.pi * left))
    return recipe.learning_rate * shape


def _check(budget_seconds: float, threads: int | None, out_path: Path | None, recipe: Recipe) -> None:
    if isinstance(budget_seconds, bool) or not 0 < budget_seconds < math.inf:
        raise TrainingError(f"budget_seconds must be positive and finite, not {budget_seconds!r}.")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise TrainingError(f"threads must be a whole number of at least 1, not {threads!r}.")
    if out_path is not None and not Path(out_path).parent.is_dir():
        raise TrainingError(f"Cannot write {out_path}: its folder does not exist.")
    if recipe.decay not in ("cosine", "linear") or not 0 < recipe.warmup_fraction < 1:
        raise TrainingError("A recipe's decay is cosine or linear, its warmup_fraction in (0, 1).")


def fine_tune(base: Path, text: str, *, budget_seconds: float, threads: int | None = None,
              progress: Callable[[FineTuneProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, out_path: Path | None = None,
              seed: int = 0, device: str = "cpu", recipe: Recipe = RECIPE) -> FineTuneResult:
    """Tune the checkpoint `base` on `text` for at most `budget_seconds`; see the module's doc.

    `progress` is called every PROGRESS_EVERY_SECONDS and once at the end; `should_stop` is asked
    before every step, and when it says True the call returns at once, marked cancelled, having
    written nothing. `threads` sets torch's thread count for the call (restored after it). The
    global random generator is left as it was; `seed` fixes the run's own draws.
    """
    _check(budget_seconds, threads, out_path, recipe)
    started = time.perf_counter()
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _fine_tune(Path(base), text, started, budget_seconds, progress, should_stop,
                              None if out_path is None else Path(out_path), seed,
                              resolve_device(device), recipe)
    finally:
        torch.set_num_threads(saved_threads)


def _fine_tune(base: Path, text: str, started: float, budget: float,
               progress: Callable[[FineTuneProgress], None] | None,
               should_stop: Callable[[], bool] | None, out_path: Path | None, seed: int,
               device: torch.device, recipe: Recipe) -> FineTuneResult:
    loaded = load_checkpoint(base, device)
    ids = encode_corpus(text, loaded.alphabet, source="The text")
    if len(ids) < MIN_CHARACTERS:
        raise TrainingError(f"The text has {len(ids):,} characters once normalised; a voice needs at "
                            f"least {MIN_CHARACTERS:,}.")
    train_ids, held_out = split_ids(ids)
    before = evaluate(loaded.model, held_out).bits_per_char
    # The evaluation after training reads the same text as the one before and takes about as long;
    # the margin covers a slower second reading and the write (one thread: 299.97 s of 300 with 1.2x).
    deadline = budget - 1.5 * (time.perf_counter() - started) - 1.0

    config = replace(loaded.config, dropout=loaded.config.dropout if recipe.dropout is None
                     else recipe.dropout)
    model = build_model(config).to(device)
    model.load_state_dict(loaded.model.state_dict())
    model.train()
    batch_size = max(1, min(recipe.batch_size, len(train_ids) // (8 * (recipe.seq_len + 1))))
    batches = StreamBatches(train_ids, batch_size, recipe.seq_len, shift_seed=seed)
    max_steps = max(1, int(recipe.max_epochs * batches.windows))
    optimizer = make_optimizer(model, TrainConfig(model=config.kind, learning_rate=recipe.learning_rate,
                                                  weight_decay=recipe.weight_decay))
    precision = resolve_precision(recipe.precision, device)
    averaging = WeightAverage(model, recipe.ema_decay) if recipe.ema_decay > 0 else None
    training_started = time.perf_counter() - started

    def fraction(step: int) -> float:
        spent = (time.perf_counter() - started - training_started) / max(deadline - training_started, 1e-9)
        return min(1.0, max(spent, step / max_steps))

    def report(step: int, train_bits: float | None, held_out_bits: float | None) -> None:
        if progress is not None:
            progress(FineTuneProgress(fraction(step), step, train_bits, held_out_bits,
                                      max(0.0, budget - (time.perf_counter() - started))))

    step, losses, last_report = 0, [], time.perf_counter()
    hidden = model.initial_state(batch_size, device)
    report(0, None, before)
    while fraction(step) < 1.0:
        if should_stop is not None and should_stop():
            return FineTuneResult(before, None, time.perf_counter() - started, step, len(train_ids),
                                  len(held_out), cancelled=True)
        if batches.starts_epoch(step):
            hidden = model.initial_state(batch_size, device)
        inputs, targets = (part.to(device) for part in batches.window(step))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(recipe, fraction(step))
        loss, hidden = train_step(model, optimizer, inputs, targets, hidden, recipe.grad_clip, precision)
        losses.append(loss)
        step += 1
        if averaging is not None:
            averaging.update()
        if time.perf_counter() - last_report >= PROGRESS_EVERY_SECONDS:
            report(step, float(torch.stack(losses).mean()) / math.log(2), before)
            losses, last_report = [], time.perf_counter()

    with averaging.swapped_in() if averaging is not None else contextlib.nullcontext():
        loaded.model.load_state_dict(model.state_dict())
    after = evaluate(loaded.model, held_out).bits_per_char
    written = None
    if out_path is not None and after < before:
        seconds = time.perf_counter() - started
        # val_* and minutes are the keys the engine's model_info reads from any checkpoint.
        summary = {"fine_tuned_from": base.name, "base_training": loaded.training,
                   "data_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   "train_chars": len(train_ids), "held_out_chars": len(held_out), "steps": step,
                   "minutes": round(seconds / 60, 2), "recipe": asdict(recipe), "precision": precision,
                   "held_out_bits_per_char_before": round(before, 4),
                   "val_bits_per_char": round(after, 4), "val_nats_per_char": round(after * math.log(2), 4)}
        save_checkpoint(out_path, loaded.model, loaded.alphabet, summary)
        written = out_path
    report(step, float(torch.stack(losses).mean()) / math.log(2) if losses else None, after)
    return FineTuneResult(before, after, time.perf_counter() - started, step, len(train_ids),
                          len(held_out), written=written)
