"""The benchmarks still run and report every figure the issues ask for (tiny settings: no timing
is judged here; speed targets are judged by running the benchmarks themselves)."""

import json
import statistics
from pathlib import Path

from tests.bench.harness import refuse_bench, run_bench


def test_generate_speed_reports_every_figure() -> None:
    result = run_bench("generate_speed.py", "--random", "--hidden-size", "64", "--json", "--runs", "2",
                       "--baseline-runs", "1", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    single = figures["single_request"]
    assert single["engine_p50_s"] > 0 and single["seed_loop_p50_s"] > 0
    assert single["speedup"] == single["seed_loop_p50_s"] / single["engine_p50_s"]
    assert set(figures["concurrency"]) == {"1", "8", "64"}
    ratio = figures["concurrent_64_vs_1"]
    assert ratio["ratio"] == figures["concurrency"]["64"]["seconds"] / figures["concurrency"]["1"]["seconds"]
    assert ratio["met"] == (ratio["ratio"] <= ratio["target_at_most"])
    assert figures["event_loop_lag"]["ticks"] > 0
    assert figures["threads"] >= 1


def test_generate_speed_refuses_bad_options_in_one_line() -> None:
    for args in (["--threads", "0"], ["--repeats", "0"], ["--hidden-size", "0"],
                 ["--checkpoint", "missing.safetensors"]):
        result = refuse_bench("generate_speed.py", *args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr and result.stderr.strip().splitlines()[-1].startswith(
            "generate_speed.py: error:")


def test_train_speed_reports_both_precisions() -> None:
    result = run_bench("train_speed.py", "--hidden-size", "32", "--layers", "1", "--steps", "1",
                       "--seed-chunks", "1", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["seed_loop_chars_per_s"] > 0
    assert [run["precision"] for run in figures["runs"]] == ["float32", "bfloat16"]
    for run in figures["runs"]:
        assert run["chars_per_s"] > 0 and run["matmul_peak_gflops"] > 0 and run["fraction_of_peak"] > 0
        # The peak is timed in every round, beside the step, and its median is the one compared.
        assert len(run["matmul_peak_rounds"]) == len(run["rounds"]) == figures["rounds"]
        assert run["matmul_peak_gflops"] == round(statistics.median(run["matmul_peak_rounds"]), 1)


def test_train_speed_refuses_sizes_below_one_in_one_line() -> None:
    result = refuse_bench("train_speed.py", "--batch-size", "0", "--seq-len", "-1")
    assert result.returncode == 2
    assert "--batch-size must be at least 1; --seq-len must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_stepper_quality_matches_the_module_in_float32_and_refuses_bad_input(tmp_path: Path) -> None:
    from charlm.checkpoint import load_checkpoint
    from charlm.data import encode_corpus, split_ids
    from charlm.evaluation import evaluate
    from tests.helpers import tiny_checkpoint, write_corpus

    checkpoint = tiny_checkpoint(tmp_path / "gru.safetensors", "gru", hidden_size=32, num_layers=2)
    corpus = write_corpus(tmp_path / "corpus.txt")
    result = run_bench("stepper_quality.py", "--checkpoint", str(checkpoint), "--text", str(corpus), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)[str(checkpoint)]
    loaded = load_checkpoint(checkpoint)
    _, validation = split_ids(encode_corpus(corpus.read_text(), loaded.alphabet))
    # The same streams as evaluate() reads, so the float32 step must give the module's loss.
    assert abs(figures["float32"]["nats_per_char"] - evaluate(loaded.model, validation).nats_per_char) < 1e-4
    for figure in figures.values():
        assert abs(figure["nats_per_char"] - figures["float32"]["nats_per_char"]) < 0.01
    missing = refuse_bench("stepper_quality.py", "--checkpoint", str(checkpoint),
                        "--text", str(tmp_path / "none"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("stepper_quality.py: error:")


def test_replies_speed_reports_every_figure(tmp_path: Path) -> None:
    from tests.bot.harness import make_checkpoints

    checkpoints = make_checkpoints(tmp_path / "checkpoints")
    result = run_bench("replies_speed.py", "--checkpoint-dir", str(checkpoints), "--presses", "2",
                       "--burst", "4", "--length", "20", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    for name in ("shakespeare", "again", "continue"):
        assert figures[name]["count"] == 2 and 0 < figures[name]["p50_s"] <= figures[name]["p99_s"]
    for name in ("again", "continue"):
        ratio = figures[f"{name}_vs_shakespeare_p50"]
        assert ratio["met"] == (ratio["ratio"] <= ratio["target_at_most"])
    burst = figures["autocomplete_under_burst"]
    assert burst["count"] >= 1 and burst["burst"] == 4
    assert burst["within_ack_window"] == (burst["p99_s"] < 3.0)


def test_acknowledge_speed_reports_every_figure() -> None:
    result = run_bench("acknowledge_speed.py", "--runs", "1", "--rounds", "2", "--length", "5",
                       "--commands", "4", "--json")
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: the target missed (not judged here)
    figures = json.loads(result.stdout)
    [run] = figures["runs"]
    assert run["continue_presses"]["count"] == 2 * 4 and run["stalled_database"]["count"] == 4
    for part in ("continue_presses", "stalled_database"):
        values = run[part]
        assert 0 < values["p50_s"] <= values["p99_s"] <= values["max_s"]
        assert figures["over_runs"][part]["max_s"] == {"median": values["max_s"], "spread": 0}
    assert figures["met"] == (figures["worst_max_s"] < figures["target_max_s"])
    assert (result.returncode == 0) == figures["met"]


def test_acknowledge_speed_refuses_bad_options_in_one_line() -> None:
    result = refuse_bench("acknowledge_speed.py", "--rounds", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_replies_speed_refuses_bad_options_in_one_line() -> None:
    result = refuse_bench("replies_speed.py", "--presses", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_shard_capacity_reports_every_rate_and_the_burst(tmp_path: Path) -> None:
    from tests.bot.harness import make_checkpoints

    checkpoints = make_checkpoints(tmp_path / "checkpoints")
    result = run_bench("shard_capacity.py", "--checkpoint-dir", str(checkpoints), "--rates", "20", "40",
                       "--seconds", "0.25", "--burst", "5", "--length", "10", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    assert [row["label"] for row in rows] == ["20.0/s", "40.0/s", "5 at once"]
    for row in rows:
        assert row["sent"] == row["acked"] == row["answered"] > 0
        assert row["within_window"] == (row["late"] == 0) and 0 <= row["ack_p50_s"] <= row["ack_max_s"]


def test_voice_serving_reports_every_figure(tmp_path: Path) -> None:
    from tests.bot.harness import make_checkpoints

    checkpoints = make_checkpoints(tmp_path / "checkpoints")
    result = run_bench("voice_serving.py", "--checkpoint-dir", str(checkpoints), "--requests", "3",
                       "--length", "20", "--voices", "4", "--cached", "2", "--train-seconds", "60", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout)
    assert figures["idle"]["count"] == figures["while_training"]["count"] == 3
    assert figures["met"] == (max(figures["ratio_p50"], figures["ratio_p99"]) <= figures["target_at_most"])
    assert figures["voice_requests_answered"] == 8 and figures["voice_mb"] > 0
    assert figures["within_bound"] == (figures["peak_rss_mb"] <= figures["rss_bound_mb"])


def test_voice_serving_refuses_bad_options_in_one_line() -> None:
    result = refuse_bench("voice_serving.py", "--voices", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr
