"""The resumable training state (model, AdamW moments, step, clock), saved as safetensors too.

Kept apart from the inference checkpoint: it is larger (optimizer moments) and only train.py
reads it back, through `--resume`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from charlm.errors import TrainingError


@dataclass(frozen=True)
class Progress:
    """Where a run stands: steps taken, training seconds spent, and the best validation so far."""

    step: int = 0
    elapsed_seconds: float = 0.0
    best_val: float = float("inf")
    best_step: int = 0


def train_state_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        progress: Progress, averaging=None,
                        settings: dict | None = None) -> tuple[dict, dict]:
    """Tensors and metadata of the state; `averaging` is a training.WeightAverage or None, and
    `settings` what a resumed run must repeat (`load_train_state` compares them)."""
    tensors = {f"model.{name}": value.detach().cpu().contiguous()
               for name, value in model.state_dict().items()}
    if averaging is not None:
        tensors.update(averaging.tensors())
    optimizer_state = optimizer.state_dict()
    for index, values in optimizer_state["state"].items():
        for key, value in values.items():
            tensors[f"optim.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    metadata = {"step": str(progress.step), "elapsed_seconds": str(progress.elapsed_seconds),
                "best_val": str(progress.best_val), "best_step": str(progress.best_step),
                "param_groups": json.dumps([{k: v for k, v in group.items() if k != "params"}
                                            for group in optimizer_state["param_groups"]])}
    if settings is not None:
        metadata["settings"] = json.dumps(settings, sort_keys=True)
    return tensors, metadata


def load_train_state(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     averaging=None, settings: dict | None = None) -> Progress:
    """Restore model, optimizer and weight average in place; returns where the saved run stood.

    A state that recorded its run's settings is refused, before anything is loaded, when `settings`
    differ from them: continuing a run with another window, dropout or learning rate would make a
    run no command describes.
    """
    if not path.is_file():
        raise TrainingError(f"Nothing to resume: {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt") as reader:
            metadata = reader.metadata() or {}
            if settings is not None:
                _check_settings(path, json.loads(metadata["settings"]), settings)
            tensors = {name: reader.get_tensor(name) for name in reader.keys()}  # noqa: SIM118 (safe_open is not a dict)
        model.load_state_dict({name[len("model."):]: value for name, value in tensors.items()
                               if name.startswith("model.")})
        state: dict[int, dict] = {}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = value
        current = optimizer.state_dict()
        groups = json.loads(metadata["param_groups"])
        for group, saved in zip(current["param_groups"], groups, strict=True):
            group.update(saved)
        optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})
        step = int(metadata["step"])
        if averaging is not None:
            averaging.load(tensors, step)
        return Progress(step, float(metadata["elapsed_seconds"]), float(metadata["best_val"]),
                        int(metadata["best_step"]))
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as error:
        raise TrainingError(
            f"Cannot resume from {path}: it does not match this model ({error})."
        ) from None


def _check_settings(path: Path, saved: dict, asked: dict) -> None:
    differ = sorted(name for name in saved.keys() | asked.keys() if saved.get(name) != asked.get(name))
    if differ:
        then = ", ".join(f"{name}={saved.get(name)}" for name in differ)
        now = ", ".join(f"{name}={asked.get(name)}" for name in differ)
        raise TrainingError(f"Cannot resume from {path}: its run was started with {then}, not {now}; "
                            "give the same settings, or start a new run without --resume.")
