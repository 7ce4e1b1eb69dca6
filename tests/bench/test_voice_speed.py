"""bench/voice_speed.py still runs and reports its figures (a tiny model, a tiny budget: no figure is
judged here)."""

import json
from pathlib import Path

from tests.bench.harness import refuse_bench, run_bench
from tests.helpers import tiny_checkpoint, write_corpus


def test_voice_speed_reports_before_after_and_the_target(tmp_path: Path) -> None:
    base = tiny_checkpoint(tmp_path / "base.safetensors", "lstm", hidden_size=32)
    text = write_corpus(tmp_path / "voice.txt", repeats=60)
    result = run_bench("voice_speed.py", "--base", str(base), "--text", str(text), "--budget", "4",
                       "--threads", "1", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["after_bits_per_char"] < figures["before_bits_per_char"]
    assert figures["improved"] and figures["written"] and figures["steps"] > 0
    assert 0 < figures["seconds"] <= 4 + 1 and figures["threads"] == 1
    target = figures["target"]
    assert target["met"] == (figures["after_bits_per_char"] <= target["bits_per_char_at_most"]
                             and figures["seconds"] <= target["seconds_at_most"])


def test_voice_speed_skips_without_its_text_and_refuses_bad_options(tmp_path: Path) -> None:
    skipped = refuse_bench("voice_speed.py", "--text", str(tmp_path / "absent.txt"))
    assert skipped.returncode == 0 and "skipped" in skipped.stdout and "absent.txt" in skipped.stdout
    for args in (["--budget", "0"], ["--threads", "0"], ["--budget", "nan"]):
        refused = refuse_bench("voice_speed.py", *args)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
    short = tmp_path / "short.txt"
    short.write_text("too short")
    refused = refuse_bench("voice_speed.py", "--text", str(short), "--base",
                           str(tiny_checkpoint(tmp_path / "base.safetensors")))
    assert refused.returncode == 2 and "at least" in refused.stderr
