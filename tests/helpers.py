"""Small real models and texts for tests (no shared data, no shipped checkpoints needed)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

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


def run_main(main: Callable[[list[str]], int], argv: Sequence[str],
             program: str) -> subprocess.CompletedProcess:
    """A command line's `main(argv)` run in this process as `program argv...`: its exit status and
    what it wrote to stdout and stderr, shaped like subprocess.run's result.

    Starting Python and importing torch costs about 1.5 s per subprocess, most of what a test of a
    refused option takes; where the process boundary is not what a test is about, this runs the
    same code. An exception main() does not handle is not turned into a status: it fails the test,
    as the traceback would have in a real run."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_threads = sys.argv, torch.get_num_threads()
    sys.argv = [program, *argv]  # argparse names the program after argv[0]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(argv))
            except SystemExit as exit_:  # argparse's refusals, and --help
                status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        sys.argv = saved_argv
        torch.set_num_threads(saved_threads)  # a bench sets its own count
    return subprocess.CompletedProcess([program, *argv], status, out.getvalue(), err.getvalue())


def load_script(path: Path) -> ModuleType:
    """A script such as train.py or a bench, imported as a module (its `__main__` block does not run)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first, as an import would: dataclasses look their module up while it runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
