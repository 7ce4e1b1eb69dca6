"""Validation loss in nats and bits per character, computed in batched chunks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charlm.data import as_streams
from charlm.models import CharModel


@dataclass(frozen=True)
class EvalResult:
    nats_per_char: float
    chars: int

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    def to_dict(self) -> dict:
        return {"nats_per_char": self.nats_per_char, "bits_per_char": self.bits_per_char,
                "chars": self.chars}


def stream_count(ids: torch.Tensor, batch_size: int = 32, seq_len: int = 256) -> int:
    """How many streams `evaluate` reads `ids` as: `batch_size`, fewer when the text is too short
    to give each stream one full chunk, and at least one."""
    return max(1, min(batch_size, len(ids) // (seq_len + 1) or 1))


@torch.inference_mode()
def evaluate(model: CharModel, ids: torch.Tensor, batch_size: int = 32,
             seq_len: int = 256) -> EvalResult:
    """Mean next-character loss over `ids`, read as `batch_size` streams with the state carried.

    Each stream's first character has no context and is only read, never predicted; `chars`
    counts the predicted characters. Short texts use fewer streams so nothing is wasted.
    """
    batch_size = stream_count(ids, batch_size, seq_len)
    streams = as_streams(ids, batch_size)
    if streams.shape[1] < 2:
        raise ValueError("The text is too short to evaluate: it needs at least two characters.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    state = model.initial_state(batch_size, device)
    total, count = 0.0, 0
    for start in range(0, streams.shape[1] - 1, seq_len):
        chunk = streams[:, start : start + seq_len + 1].to(device)
        logits, state = model(chunk[:, :-1], state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               chunk[:, 1:].reshape(-1), reduction="sum")
        total += float(loss)
        count += chunk[:, 1:].numel()
    model.train(was_training)
    return EvalResult(nats_per_char=total / count, chars=count)
