"""train.py as a user runs it, on a small text the test writes itself."""

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from charlm.checkpoint import atomic_save, load_checkpoint
from charlm.data import StreamBatches, encode_corpus, split_ids
from charlm.devices import bf16_is_native
from charlm.errors import TrainingError
from charlm.evaluation import evaluate
from charlm.models import ModelConfig, build_model
from charlm.training import TrainConfig, TrainConfigError, WeightAverage, resolve_precision
from charlm.training.state import Progress, load_train_state, train_state_tensors
from tests.helpers import load_script, run_main, write_corpus

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--hidden-size", "32", "--embedding-dim", "8", "--layers", "1", "--batch-size", "8",
         "--seq-len", "32", "--warmup", "5", "--lr", "0.01", "--no-progress"]


TRAIN_PY = load_script(REPO / "train.py")


def train(*args: str) -> subprocess.CompletedProcess:
    """`python train.py ARGS`, run in this process (tests/helpers.py: run_main); the distributed
    test below runs the real script under torchrun."""
    return run_main(TRAIN_PY.main, args, "train.py")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metrics(out: Path) -> list[dict]:
    path = out.with_name(out.stem + ".metrics.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus.txt")


def test_loss_falls_and_the_checkpoint_carries_its_summary(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "gru.safetensors"
    result = train("--model", "gru", "--data", str(corpus), "--out", str(out), "--steps", "60",
                   "--eval-every", "20", *SMALL)
    assert result.returncode == 0, result.stderr
    val = [row["val_nats_per_char"] for row in metrics(out) if "val_nats_per_char" in row]
    assert val[-1] < val[0] < 4.7
    loaded = load_checkpoint(out)
    assert loaded.config.kind == "gru"
    assert loaded.training["steps"] == 60
    assert loaded.training["val_nats_per_char"] == pytest.approx(min(val), abs=1e-4)
    assert loaded.training["command"].startswith("python train.py --model gru")
    assert len(loaded.training["data_sha256"]) == 64
    assert out.with_name("gru.loss.png").stat().st_size > 1000


def test_resume_continues_from_the_saved_step(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "lstm.safetensors"
    assert train("--data", str(corpus), "--out", str(out), "--steps", "20", "--eval-every", "10",
                 *SMALL).returncode == 0
    # As if that run had gone on past its last saved state and then been killed: its later
    # records describe steps the resumed run trains again, so they must not stay in the curve.
    with out.with_name("lstm.metrics.jsonl").open("a") as log:
        log.write(json.dumps({"step": 25, "train_loss": 99.0, "lr": 0.0}) + "\n")
    result = train("--data", str(corpus), "--out", str(out), "--steps", "40", "--eval-every", "10",
                   "--resume", *SMALL)
    assert result.returncode == 0, result.stderr
    steps = [row["step"] for row in metrics(out) if "val_nats_per_char" in row]
    assert steps == [10, 20, 30, 40]  # resumed at 20, not restarted from 0
    every_step = [row["step"] for row in metrics(out)]
    assert every_step == sorted(every_step) and 99.0 not in [row.get("train_loss") for row in metrics(out)]
    kept = load_checkpoint(out).training
    assert kept["steps"] in (30, 40)
    with safe_open(str(out.with_name(out.name + ".state")), framework="pt") as state:
        assert int(state.metadata()["best_step"]) == kept["steps"] == kept["best_step"]
    # A fresh run into the same file starts a fresh curve instead of continuing the old one.
    assert train("--data", str(corpus), "--out", str(out), "--steps", "10", "--eval-every", "10",
                 *SMALL).returncode == 0
    assert [row["step"] for row in metrics(out) if "val_nats_per_char" in row] == [10]


def test_resume_with_other_settings_is_refused_and_changes_nothing(corpus: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "lstm.safetensors"
    assert train("--data", str(corpus), "--out", str(out), "--steps", "10", "--eval-every", "10",
                 *SMALL).returncode == 0
    files = {path: path.read_bytes() for path in tmp_path.iterdir() if path.name != "corpus.txt"}
    # --seq-len 16 and --dropout 0.1 instead of the run's 32 and default 0.35; a longer budget and
    # another validation interval alone would be allowed.
    result = train("--data", str(corpus), "--out", str(out), "--steps", "20", "--eval-every", "5",
                   "--resume", *SMALL, "--seq-len", "16", "--dropout", "0.1")
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "started with dropout=0.35, seq_len=32, not dropout=0.1, seq_len=16" in message
    assert {path: path.read_bytes() for path in tmp_path.iterdir() if path.name != "corpus.txt"} == files


def test_the_best_checkpoint_is_the_one_kept(corpus: Path, tmp_path: Path) -> None:
    """A learning rate far too high makes validation worse later; the file keeps the best step."""
    out = tmp_path / "rnn.safetensors"
    result = train("--model", "rnn", "--data", str(corpus), "--out", str(out), "--steps", "40",
                   "--eval-every", "4", "--min-lr-fraction", "1", *SMALL[:-5], "--lr", "1",
                   "--warmup", "1", "--grad-clip", "100", "--no-progress")
    assert result.returncode == 0, result.stderr
    val = {row["step"]: row["val_nats_per_char"] for row in metrics(out) if "val_nats_per_char" in row}
    best_step = min(val, key=val.get)
    assert best_step != max(val), "the run did not get worse, so this test would prove nothing"
    assert load_checkpoint(out).training["steps"] == best_step


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"", [], "no characters"),
        (b"\x00\x01\x02binary\x00", [], "binary"),
        (b"\xff\xfe\xfa not utf-8", [], "not UTF-8"),
        (b"Too short for one batch.\n", [], "shorter than one batch"),
        (b"text", ["--model", "transformer"], "invalid choice"),
        (b"text", ["--out", "/nonexistent-dir/x.safetensors"], "cannot write"),
        (b"text", ["--steps", "0"], "must be positive"),
        (b"text", ["--minutes", "inf"], "must be positive and finite"),
        (b"text", ["--grad-clip", "-1"], "--grad-clip must be positive"),
        (b"text", ["--grad-clip", "nan"], "--grad-clip must be positive"),
        (b"text", ["--weight-decay", "-0.1"], "--weight-decay must be 0 or more"),
        (b"text", ["--min-lr-fraction", "2"], "--min-lr-fraction must be in [0, 1]"),
        (b"text", ["--ema-decay", "1"], "--ema-decay must be in [0, 1)"),
        (b"text", ["--weight-drop", "1"], "--weight-drop must be in [0, 1)"),
        (b"text", ["--weight-drop", "0.2", "--model", "scratch"], "rnn, lstm and gru only"),
        (b"text", ["--ema-decay", "nan"], "--ema-decay must be in [0, 1)"),
        (b"text", ["--device", "cuda:99"], "cuda:99"),
        (b"text", ["--device", "toaster"], "'toaster' is not a device name"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_checkpoint(tmp_path, content, extra, message) -> None:
    data = tmp_path / "data.txt"
    data.write_bytes(content)
    out = tmp_path / "out" / "m.safetensors"
    out.parent.mkdir()
    result = train("--data", str(data), "--out", str(out), "--steps", "5", *SMALL, *extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert list(out.parent.iterdir()) == []


def test_missing_data_file_is_one_line(tmp_path: Path) -> None:
    result = train("--data", str(tmp_path / "absent.txt"), "--out", str(tmp_path / "m.safetensors"),
                   "--steps", "5", *SMALL)
    assert result.returncode == 2 and "does not exist" in result.stderr


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
                    reason="torchrun is not installed next to this Python")
def test_two_process_distributed_run_writes_one_checkpoint(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp.safetensors"
    torchrun = str(Path(sys.executable).parent / "torchrun")
    result = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--master_port", str(free_port()), str(REPO / "train.py"),
         "--model", "lstm", "--data", str(corpus), "--out", str(out), "--steps", "12",
         "--eval-every", "6", "--weight-drop", "0.3", *SMALL],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = load_checkpoint(out)
    assert loaded.training["world_size"] == 2
    assert loaded.config.weight_drop == 0.3
    assert loaded.training["steps"] == 12
    assert loaded.training["command"].startswith("torchrun --nproc_per_node 2 train.py --model lstm ")
    assert sorted(p.name for p in tmp_path.glob("ddp*.safetensors")) == ["ddp.safetensors"]


def test_shifted_windows_move_each_epoch_stay_inside_and_repeat_on_resume() -> None:
    ids = torch.arange(4 * 251)
    plain = StreamBatches(ids, batch_size=4, seq_len=10)
    shifted = StreamBatches(ids, batch_size=4, seq_len=10, shift_seed=5)
    assert shifted.windows == plain.windows - 1  # room for a shift of up to 9 characters costs one
    shifts = [shifted.shift(epoch) for epoch in range(40)]
    assert all(0 <= shift < 10 for shift in shifts) and len(set(shifts)) > 3
    assert [StreamBatches(ids, 4, 10, shift_seed=5).shift(epoch) for epoch in range(40)] == shifts
    for epoch in range(40):
        first_inputs, _ = shifted.window(epoch * shifted.windows)
        _, last_targets = shifted.window((epoch + 1) * shifted.windows - 1)
        # every row stays inside its own stream: inputs continue from the shifted start, targets
        # are the next characters, and the last window ends within the stream
        assert first_inputs[:, 0].tolist() == [row * 251 + shifts[epoch] for row in range(4)]
        assert (last_targets[:, -1] < torch.arange(1, 5) * 251).all()
        inputs, targets = shifted.window(epoch * shifted.windows + 3)
        assert torch.equal(targets[:, :-1], inputs[:, 1:]) and inputs.shape == (4, 10)
    assert [plain.shift(epoch) for epoch in range(3)] == [0, 0, 0]
    with pytest.raises(TrainingError, match="shorter than one batch"):
        StreamBatches(torch.arange(4 * 15), batch_size=4, seq_len=10, shift_seed=1)
    assert StreamBatches(torch.arange(4 * 15), batch_size=4, seq_len=10).windows == 1


def test_the_same_seed_repeats_a_run_and_another_seed_does_not(corpus: Path, tmp_path: Path) -> None:
    """--seed makes a run repeatable: every weight and every logged loss, dropout masks (drawn by
    cpu_dropout between two layers) and shifted windows included; another seed is another run."""
    def run(name: str, seed: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
        out = tmp_path / name
        result = train("--data", str(corpus), "--out", str(out), "--steps", "16", "--eval-every", "8",
                       "--seed", seed, *SMALL, "--layers", "2", "--dropout", "0.3", "--ema-decay", "0")
        assert result.returncode == 0, result.stderr
        tensors = load_file(out)
        rows = [{key: value for key, value in row.items() if key != "minutes"} for row in metrics(out)]
        return tensors, rows

    first, first_rows = run("a.safetensors", "7")
    again, again_rows = run("b.safetensors", "7")
    other, other_rows = run("c.safetensors", "8")
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert first_rows == again_rows and len(first_rows) >= 3
    assert not all(torch.equal(first[key], other[key]) for key in first)
    assert [row.get("train_loss") for row in first_rows] != [row.get("train_loss") for row in other_rows]


def test_shifted_window_training_lowers_the_loss_and_records_the_choice(corpus: Path,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "shifted.safetensors"
    result = train("--data", str(corpus), "--out", str(out), "--steps", "40", "--eval-every", "20",
                   "--shift-windows", *SMALL)
    assert result.returncode == 0, result.stderr
    val = [row["val_nats_per_char"] for row in metrics(out) if "val_nats_per_char" in row]
    assert val[-1] < val[0] < 4.7
    assert load_checkpoint(out).training["config"]["shift_windows"] is True


@pytest.mark.parametrize(("extra", "dropout", "shifted"), [
    (["--model", "lstm"], 0.35, True),
    (["--model", "gru"], 0.3, True),
    (["--model", "rnn"], 0.25, True),
    (["--model", "lstm", "--no-shift-windows"], 0.35, False),
    (["--model", "gru", "--no-shift-windows"], 0.3, False),
])
def test_the_defaults_are_the_shipped_recipe_and_are_recorded_as_run(
        corpus: Path, tmp_path: Path, extra: list[str], dropout: float, shifted: bool) -> None:
    out = tmp_path / "defaults.safetensors"
    result = train("--data", str(corpus), "--out", str(out), "--steps", "3", "--hidden-size", "32",
                   "--embedding-dim", "8", "--layers", "1", "--batch-size", "8", "--no-progress", *extra)
    assert result.returncode == 0, result.stderr
    config = load_checkpoint(out).training["config"]
    assert config["dropout"] == dropout
    assert config["weight_decay"] == (0.1 if config["model"] == "rnn" else 0.3)
    assert config["shift_windows"] is shifted
    assert (config["seq_len"], config["ema_decay"]) == (64, 0.998)
    # "auto" is never what a checkpoint records: it says which precision this machine trained in.
    assert config["precision"] == ("bfloat16" if bf16_is_native(torch.device("cpu")) else "float32")


def test_precision_names_are_resolved_or_refused() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("float32", cpu) == "float32"
    assert resolve_precision("bfloat16", cpu) == "bfloat16"
    assert resolve_precision("auto", cpu) in ("float32", "bfloat16")
    with pytest.raises(TrainingError, match="precision must be one of auto, float32, bfloat16"):
        resolve_precision("fp16", cpu)


def test_a_train_config_checks_itself_as_train_py_does() -> None:
    # Code that calls training directly gets train.py's refusals, field by field, in one error.
    with pytest.raises(TrainConfigError) as refused:
        TrainConfig(hidden_size=0, dropout=1.5, grad_clip=math.nan, precision="fp16", max_steps=0)
    assert [name for name, _ in refused.value.problems] == [
        "hidden_size", "max_steps", "dropout", "grad_clip", "precision"]
    assert "hidden_size must be at least 1" in str(refused.value)
    with pytest.raises(TrainConfigError, match="weight_drop applies to rnn, lstm and gru only"):
        TrainConfig(model="scratch", weight_drop=0.2)
    with pytest.raises(TrainConfigError, match="model must be one of"):
        TrainConfig(model="transformer")
    assert TrainConfig(model="gru").dropout == 0.3  # the kind's default still fills in


def test_train_py_takes_the_short_precision_names_of_older_commands(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "short.safetensors"
    result = train("--data", str(corpus), "--out", str(out), "--steps", "2", "--hidden-size", "16",
                   "--embedding-dim", "8", "--layers", "1", "--batch-size", "4", "--no-progress",
                   "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    assert load_checkpoint(out).training["config"]["precision"] == "float32"


def test_the_weight_average_is_validated_and_the_better_weights_are_kept(corpus: Path,
                                                                        tmp_path: Path) -> None:
    out = tmp_path / "lstm.safetensors"
    result = train("--data", str(corpus), "--out", str(out), "--steps", "60", "--eval-every", "10",
                   "--ema-decay", "0.9", *SMALL)
    assert result.returncode == 0, result.stderr
    records = [row for row in metrics(out) if "val_nats_per_char" in row]
    for row in records:
        assert row["val_weights_nats_per_char"] != row["val_averaged_nats_per_char"]
        assert row["val_nats_per_char"] == min(row["val_weights_nats_per_char"],
                                               row["val_averaged_nats_per_char"])
    best = min(records, key=lambda row: row["val_nats_per_char"])
    loaded = load_checkpoint(out)
    assert loaded.training["averaged_weights"] == (
        best["val_averaged_nats_per_char"] < best["val_weights_nats_per_char"])
    # The file holds the weights that scored best (the two candidates score differently).
    ids = encode_corpus(corpus.read_text(), loaded.alphabet)
    assert evaluate(loaded.model, split_ids(ids)[1]).nats_per_char == pytest.approx(
        best["val_nats_per_char"], abs=1e-5)


def test_the_weight_average_survives_a_resume(tmp_path: Path) -> None:
    model = build_model(ModelConfig("gru", 20, 16, 8, 1, 0.0))
    optimizer = torch.optim.AdamW(model.parameters())
    averaging = WeightAverage(model, 0.99)
    for _ in range(5):
        with torch.no_grad():
            for value in model.parameters():
                value.add_(0.1)
        averaging.update()
    before = {name: value.clone() for name, value in model.named_parameters()}
    with averaging.swapped_in():
        assert not torch.equal(next(model.parameters()), next(iter(before.values())))
    assert all(torch.equal(value, before[name]) for name, value in model.named_parameters())
    path = tmp_path / "state.safetensors"
    atomic_save(*train_state_tensors(model, optimizer, Progress(step=5), averaging), path)
    restored = WeightAverage(model, 0.99)
    assert load_train_state(path, model, optimizer, restored).step == 5
    assert restored.updates == 5
    assert all(torch.equal(restored.average[name], averaging.average[name]) for name in before)
