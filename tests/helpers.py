"""Small real models and texts for tests (no shared data, no shipped checkpoints needed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from charlm.alphabet import Alphabet
from charlm.checkpoint import save_checkpoint
from charlm.models import CharModel, ModelConfig, build_model

TINY_TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
)


def tiny_model(kind: str = "lstm", hidden_size: int = 32, num_layers: int = 1,
               seed: int = 0) -> CharModel:
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind, len(Alphabet()), hidden_size, 16, num_layers)).eval()


def tiny_checkpoint(path: Path, kind: str = "lstm", **kwargs) -> Path:
    save_checkpoint(path, tiny_model(kind, **kwargs), Alphabet(), {"val_nats_per_char": 4.5})
    return path


def write_corpus(path: Path, repeats: int = 60) -> Path:
    path.write_text(TINY_TEXT * repeats, encoding="utf-8")
    return path


@contextmanager
def held_write_lock(database: Path) -> Iterator[None]:
    """Another process's open write transaction on `database` (an operator's sqlite3 shell, say):
    it takes SQLite's write lock and keeps it until the block ends, then commits."""
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("COMMIT")
        holder.close()
