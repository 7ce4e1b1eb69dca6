"""The training loop behind train.py: batched truncated BPTT with the state carried between batches.

One call of the fused recurrent module covers a whole `seq_len` window for `batch_size` streams at
once (the seed post made one call per character with batch 1). AdamW with decoupled weight decay,
gradient-norm clipping, linear warm-up then cosine decay driven by progress through the step or
time budget, periodic validation, and the best checkpoint kept. Under torchrun each process trains
on its own shard of the text with DistributedDataParallel and rank 0 writes the checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from charlm.alphabet import Alphabet
from charlm.checkpoint import atomic_save, save_checkpoint
from charlm.data import StreamBatches, encode_corpus, split_ids
from charlm.errors import TrainingError
from charlm.evaluation import evaluate
from charlm.models import ModelConfig, State, build_model, detach_state
from charlm.training.config import RESUME_MAY_CHANGE, TrainConfig, resolve_precision
from charlm.training.state import Progress, load_train_state, train_state_tensors


class WeightAverage:
    """An exponential moving average of a model's parameters (Polyak averaging, as in AWD-LSTM's
    averaged SGD but with AdamW steps): validation tries the average beside the weights themselves
    and keeps whichever is better. Early updates follow the weights closely, (1 + n) / (10 + n)
    capping the decay, so the random start does not linger in the average."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.named = list(model.named_parameters())
        self.average = {name: value.detach().clone() for name, value in self.named}
        self.updates = 0

    def update(self) -> None:
        self.updates += 1
        weight = 1 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for name, value in self.named:
                self.average[name].lerp_(value.detach(), weight)

    @contextlib.contextmanager
    def swapped_in(self):
        """The model holds the averaged weights inside the block, its own again after it."""
        backup = [value.detach().clone() for _, value in self.named]
        with torch.no_grad():
            for name, value in self.named:
                value.copy_(self.average[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for (_, value), saved in zip(self.named, backup, strict=True):
                    value.copy_(saved)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f"ema.{name}": value.cpu().contiguous() for name, value in self.average.items()}

    def load(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        """Restore from train-state tensors; a state saved without an average starts one here."""
        for name in self.average:
            if f"ema.{name}" in tensors:
                self.average[name].copy_(tensors[f"ema.{name}"])
        self.updates = updates


def learning_rate_at(config: TrainConfig, step: int, progress: float) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    floor = config.learning_rate * config.min_lr_fraction
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return floor + (config.learning_rate - floor) * cosine


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW that decays the weight matrices only (not biases or the embedding table)."""
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 or "embedding" in n]
    return torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=config.learning_rate, betas=(0.9, 0.99))


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor,
               targets: torch.Tensor, state: State, grad_clip: float,
               precision: str = "float32") -> tuple[torch.Tensor, State]:
    """One optimizer step over a whole [batch, seq_len] window; returns the loss and the next state.

    The state comes back detached: it carries into the next window (truncated BPTT) without
    back-propagating into it.
    """
    autocast = (torch.autocast(inputs.device.type, dtype=torch.bfloat16)
                if precision == "bfloat16" else contextlib.nullcontext())
    with autocast:
        logits, state = model(inputs, state)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), detach_state(state)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _drop_metrics_after(metrics_path: Path, step: int) -> None:
    """Forget the records of steps after `step`, the step a resumed run restarts from.

    A run stopped between two saves of its state has logged steps that the resumed run trains
    again; keeping them would draw the curve twice over the same steps."""
    if not metrics_path.exists():
        return
    lines = metrics_path.read_text().splitlines()
    kept = [line for line in lines if line and json.loads(line)["step"] <= step]
    if len(kept) != len(lines):
        temporary = metrics_path.with_name(metrics_path.name + ".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        temporary.replace(metrics_path)


def _write_plot(metrics_path: Path, plot_path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is optional: the `train` extra brings matplotlib
        return
    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line]
    train = [(row["step"], row["train_loss"]) for row in rows if "train_loss" in row]
    val = [(row["step"], row["val_nats_per_char"]) for row in rows if "val_nats_per_char" in row]
    figure, axis = plt.subplots(figsize=(7, 4))
    if train:
        axis.plot(*zip(*train, strict=True), label="train (nats/char)", alpha=0.6)
    if val:
        axis.plot(*zip(*val, strict=True), marker="o", label="validation (nats/char)")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(plot_path, dpi=100)
    plt.close(figure)


def train(config: TrainConfig, text: str, data_sha256: str, out_path: Path,
          command: str = "", resume: bool = False, show_progress: bool = True) -> dict:
    """Train, keep the best checkpoint at `out_path`, and return the training summary."""
    if config.max_steps is None and config.minutes is None:
        raise TrainingError("Give a budget: --steps, --minutes, or both.")
    device = torch.device(config.device)
    config = replace(config, precision=resolve_precision(config.precision, device))  # recorded as run
    rank, world = _distributed()
    torch.manual_seed(config.seed + rank)
    alphabet = Alphabet()
    ids = encode_corpus(text, alphabet)
    train_ids, val_ids = split_ids(ids)
    if len(val_ids) < 2:
        raise TrainingError("The data is too short to hold out a validation part.")
    shard = len(train_ids) // world
    own_part = train_ids[rank * shard : (rank + 1) * shard]
    batches = StreamBatches(own_part, config.batch_size, config.seq_len,
                            config.seed + rank if config.shift_windows else None)

    model_config = ModelConfig(config.model, len(alphabet), config.hidden_size,
                               config.embedding_dim, config.num_layers, config.dropout,
                               config.weight_drop)
    model = build_model(model_config).to(device)
    optimizer = make_optimizer(model, config)
    state_path = out_path.with_name(out_path.name + ".state")
    metrics_path = out_path.with_name(out_path.stem + ".metrics.jsonl")
    averaging = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 and rank == 0 else None
    settings = {name: value for name, value in asdict(config).items() if name not in RESUME_MAY_CHANGE}
    saved = (load_train_state(state_path, model, optimizer, averaging, settings) if resume
             else Progress())
    step, elapsed_before, best_val, best_step = (saved.step, saved.elapsed_seconds, saved.best_val,
                                                 saved.best_step)
    if rank == 0:
        if resume:
            _drop_metrics_after(metrics_path, step)
        else:
            metrics_path.unlink(missing_ok=True)  # a fresh run's curve must not continue an old one
    trainer = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

    summary_base = {"config": asdict(config), "data_sha256": data_sha256, "command": command,
                    "train_chars": len(train_ids), "val_chars": len(val_ids), "world_size": world}
    progress_bar = tqdm(total=config.max_steps, initial=step, disable=not show_progress or rank,
                        unit="step", dynamic_ncols=True)
    first_step = step
    hidden = model.initial_state(config.batch_size, device)
    started = time.perf_counter()
    chars_per_step = config.batch_size * config.seq_len * world
    summary: dict = {}
    last_val = math.nan

    def progress_now() -> float:
        fractions = []
        if config.max_steps:
            fractions.append(step / config.max_steps)
        if config.minutes:
            fractions.append((elapsed_before + time.perf_counter() - started) / (60 * config.minutes))
        return max(fractions)

    def validate_and_save() -> None:
        nonlocal best_val, best_step, last_val, summary
        elapsed = elapsed_before + time.perf_counter() - started
        if rank == 0:
            result = evaluate(model, val_ids)
            record: dict = {"step": step}
            use_average = False
            if averaging is not None:
                with averaging.swapped_in():
                    averaged = evaluate(model, val_ids)
                record.update(val_weights_nats_per_char=result.nats_per_char,
                              val_averaged_nats_per_char=averaged.nats_per_char)
                use_average = averaged.nats_per_char < result.nats_per_char
                result = averaged if use_average else result
            last_val = result.nats_per_char
            improved = result.nats_per_char < best_val
            if improved:
                best_val, best_step = result.nats_per_char, step
            summary = {**summary_base, "steps": step, "minutes": round(elapsed / 60, 2),
                       "chars_per_second": round(step * chars_per_step / max(elapsed, 1e-9)),
                       "best_step": best_step, "val_nats_per_char": round(best_val, 4),
                       "val_bits_per_char": round(best_val / math.log(2), 4),
                       "parameters": model.parameter_count()}
            if improved:
                summary["averaged_weights"] = use_average
                with averaging.swapped_in() if use_average else contextlib.nullcontext():
                    save_checkpoint(out_path, model, alphabet, summary)
            atomic_save(*train_state_tensors(model, optimizer, Progress(step, elapsed, best_val, best_step),
                                             averaging, settings),
                        state_path)
            record.update(val_nats_per_char=result.nats_per_char, val_bits_per_char=result.bits_per_char,
                          minutes=round(elapsed / 60, 3), best=improved)
            with metrics_path.open("a") as metrics:
                metrics.write(json.dumps(record) + "\n")
        if world > 1:
            dist.barrier()

    def agreed_progress() -> float:
        progress = progress_now()
        if world > 1:  # every process must agree on when the budget runs out
            shared = torch.tensor([progress])
            dist.all_reduce(shared, op=dist.ReduceOp.MAX)
            progress = float(shared)
        return progress

    trainer.train()
    while agreed_progress() < 1.0:
        if batches.starts_epoch(step):
            hidden = model.initial_state(config.batch_size, device)
        inputs, targets = (t.to(device) for t in batches.window(step))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(config, step, progress_now())
        loss, hidden = train_step(trainer, optimizer, inputs, targets, hidden, config.grad_clip,
                                  config.precision)
        step += 1
        if averaging is not None:
            averaging.update()
        if rank == 0 and step % 10 == 0:
            elapsed = time.perf_counter() - started
            progress_bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{last_val:.3f}",
                                     chars_s=f"{(step - first_step) * chars_per_step / elapsed:.0f}")
            with metrics_path.open("a") as metrics:
                metrics.write(json.dumps({"step": step, "train_loss": loss.item(),
                                          "lr": optimizer.param_groups[0]["lr"]}) + "\n")
        progress_bar.update(1)
        if step % config.eval_every == 0:
            validate_and_save()
            trainer.train()
    if step % config.eval_every or step == first_step:  # the last step was not validated yet
        validate_and_save()
    if rank == 0:
        _write_plot(metrics_path, out_path.with_name(out_path.stem + ".loss.png"))
    progress_bar.close()
    if world > 1:
        dist.barrier()  # no rank tears the group down while another still writes its files
        dist.destroy_process_group()
    return summary
