"""`python -m charlm` as a user runs it: real checkpoint files; real subprocesses where the process
itself matters (its exit status, a reader that leaves), its main() in this process elsewhere."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charlm import cli
from tests.helpers import run_main, tiny_checkpoint, write_corpus


def charlm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "charlm", *args], capture_output=True, text=True,
                          timeout=120)


def charlm_here(*args: str) -> subprocess.CompletedProcess:
    """`python -m charlm ARGS` run in this process (tests/helpers.py: run_main)."""
    return run_main(cli.main, args, "python -m charlm")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("cli") / "tiny.safetensors", "gru")


def test_sample_is_reproducible_with_an_rng_seed(checkpoint: Path) -> None:
    args = ("sample", "--checkpoint", str(checkpoint), "--seed", "ROMEO:", "--length", "50",
            "--rng-seed", "3")
    first, second = charlm(*args), charlm(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("ROMEO:") and len(first.stdout.rstrip("\n")) >= 50


def test_a_reader_that_stops_early_is_not_an_error(checkpoint: Path) -> None:
    """`python -m charlm sample ... | head -c 5`: the closed pipe ends the command quietly."""
    process = subprocess.Popen([sys.executable, "-m", "charlm", "sample", "--checkpoint", str(checkpoint),
                                "--length", "3000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    # The reader left before anything was written, so the first write fails whatever its size.
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_eval_prints_json_and_uses_the_validation_cut(checkpoint: Path, tmp_path: Path) -> None:
    text = write_corpus(tmp_path / "corpus.txt", repeats=20)
    whole = json.loads(charlm_here("eval", "--checkpoint", str(checkpoint), "--text", str(text),
                              "--json").stdout)
    tail = json.loads(charlm_here("eval", "--checkpoint", str(checkpoint), "--text", str(text),
                             "--json", "--last", "0.1").stdout)
    assert set(whole) == {"nats_per_char", "bits_per_char", "chars"}
    assert tail["chars"] < whole["chars"] / 5
    assert 0 < whole["nats_per_char"] < 6  # a random 100-way model sits near ln(100) = 4.6


def test_info_shows_the_metadata(checkpoint: Path) -> None:
    result = charlm_here("info", "--checkpoint", str(checkpoint))
    assert result.returncode == 0
    assert "gru" in result.stdout and "val_nats_per_char" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "--temp", "0"], "above 0"),
        (["sample", "--temp", "-1"], "above 0"),
        (["sample", "--temp", "nan"], "not a finite number"),
        (["sample", "--length", "0"], "Length"),
        (["sample", "--rng-seed", str(2**70)], "RNG seed"),
        (["sample", "--rng-seed", "-1"], "RNG seed"),
        (["sample", "--temp", "1" + "0" * 400], "not a finite number"),
        (["sample", "--checkpoint", "/nonexistent/model.safetensors"], "does not exist"),
        (["eval", "--text", "/nonexistent/text.txt"], "does not exist"),
        (["eval", "--text", "TEXT", "--last", "0"], "--last"),
        (["info", "--checkpoint", "/nonexistent/model.safetensors"], "does not exist"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args, message, checkpoint, tmp_path) -> None:
    if "--checkpoint" not in args:
        args = [args[0], "--checkpoint", str(checkpoint), *args[1:]]
    args = [str(write_corpus(tmp_path / "t.txt")) if arg == "TEXT" else arg for arg in args]
    result = charlm_here(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
