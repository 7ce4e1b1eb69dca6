"""Fine-tuning a voice (issue 28) on small texts the tests write, from tiny checkpoints."""

from pathlib import Path

import pytest
import torch

import charlm.training.finetune as finetune
from charlm.alphabet import Alphabet
from charlm.checkpoint import load_checkpoint
from charlm.data import encode_corpus, split_ids
from charlm.errors import TrainingError
from charlm.evaluation import evaluate
from charlm.training.finetune import MIN_CHARACTERS, FineTuneProgress, Recipe, fine_tune
from tests.helpers import TINY_TEXT, tiny_checkpoint

LETTERS = TINY_TEXT * (MIN_CHARACTERS // len(TINY_TEXT) + 2)  # a repetitive text a tiny model learns fast


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tiny_checkpoint(tmp_path / "base.safetensors", "lstm", hidden_size=32)


def test_a_better_voice_is_written_and_loads(base: Path, tmp_path: Path) -> None:
    reports: list[FineTuneProgress] = []
    out = tmp_path / "voice.safetensors"
    result = fine_tune(base, LETTERS, budget_seconds=5, threads=1, progress=reports.append, out_path=out)
    assert not result.cancelled and result.steps > 0
    assert result.improved and result.after_bits_per_char < result.before_bits_per_char
    assert result.written == out and result.seconds <= 5 + 1  # the budget covers the whole call
    loaded = load_checkpoint(out)
    _, held_out = split_ids(encode_corpus(LETTERS, loaded.alphabet))
    assert evaluate(loaded.model, held_out).bits_per_char == pytest.approx(result.after_bits_per_char)
    assert loaded.training["fine_tuned_from"] == "base.safetensors"
    assert loaded.training["held_out_bits_per_char_before"] == round(result.before_bits_per_char, 4)
    assert loaded.config == load_checkpoint(base).config  # the engine loads it as it loads the base
    assert sorted(path.name for path in tmp_path.iterdir()) == ["base.safetensors", "voice.safetensors"]
    fractions = [report.fraction for report in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[0].held_out_bits_per_char == result.before_bits_per_char
    assert reports[-1].held_out_bits_per_char == result.after_bits_per_char


def test_only_the_first_90_percent_is_trained_on_and_the_tail_is_judged(
        base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[torch.Tensor] = []
    original = finetune.StreamBatches

    def recording(ids: torch.Tensor, *args, **kwargs):
        read.append(ids.clone())
        return original(ids, *args, **kwargs)

    monkeypatch.setattr(finetune, "StreamBatches", recording)
    text = LETTERS + "x" * 7  # a length that does not divide by ten
    result = fine_tune(base, text, budget_seconds=1, threads=1)
    ids = encode_corpus(text, Alphabet())
    cut = int(len(ids) * 0.9)
    assert (result.train_chars, result.held_out_chars) == (cut, len(ids) - cut)
    assert len(read) == 1 and torch.equal(read[0], ids[:cut])
    assert result.before_bits_per_char == pytest.approx(
        evaluate(load_checkpoint(base).model, ids[cut:]).bits_per_char)


def test_a_voice_worse_than_its_base_is_refused(base: Path, tmp_path: Path) -> None:
    digits = "3141592653 5897932384 6264338327 9502884197\n" * 300
    knows_digits = tmp_path / "digits.safetensors"
    assert fine_tune(base, digits, budget_seconds=5, threads=1, out_path=knows_digits).written
    # Trained on letters only, then judged on digits it has stopped predicting: worse than before.
    text = LETTERS[: 9 * MIN_CHARACTERS // 10] + digits[: MIN_CHARACTERS // 10 + 100]
    out = tmp_path / "voice.safetensors"
    result = fine_tune(knows_digits, text, budget_seconds=5, threads=1, out_path=out,
                       recipe=Recipe(learning_rate=1e-2))
    assert result.after_bits_per_char > result.before_bits_per_char
    assert not result.improved and result.written is None and not out.exists()


def test_cancelling_writes_nothing(base: Path, tmp_path: Path) -> None:
    asked = []
    out = tmp_path / "voice.safetensors"
    result = fine_tune(base, LETTERS, budget_seconds=30, threads=1, out_path=out,
                       should_stop=lambda: asked.append(1) or len(asked) > 3)
    assert result.cancelled and result.steps == 3 and result.after_bits_per_char is None
    assert not result.improved and result.written is None and result.seconds < 10
    assert [path.name for path in tmp_path.iterdir()] == ["base.safetensors"]


def test_refusals(base: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match=f"at least {MIN_CHARACTERS:,}"):
        fine_tune(base, "\u201cShort\u201d " * 100, budget_seconds=5)
    # Counted after normalising: characters outside the alphabet do not count.
    with pytest.raises(TrainingError, match="at least"):
        fine_tune(base, "\u4e00" * 2 + "\U0001f600" * MIN_CHARACTERS, budget_seconds=5)
    for budget in (0, -1, float("inf"), float("nan")):
        with pytest.raises(TrainingError, match="budget_seconds"):
            fine_tune(base, LETTERS, budget_seconds=budget)
    with pytest.raises(TrainingError, match="threads"):
        fine_tune(base, LETTERS, budget_seconds=5, threads=0)
    with pytest.raises(TrainingError, match="folder does not exist"):
        fine_tune(base, LETTERS, budget_seconds=5, out_path=tmp_path / "no" / "voice.safetensors")


def test_threads_and_the_global_generator_are_left_as_they_were(base: Path) -> None:
    threads, generator = torch.get_num_threads(), torch.get_rng_state()
    first = fine_tune(base, LETTERS, budget_seconds=30, threads=1, recipe=Recipe(max_epochs=1))
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), generator)
    again = fine_tune(base, LETTERS, budget_seconds=30, threads=1, recipe=Recipe(max_epochs=1))
    assert first.steps == again.steps and first.after_bits_per_char == again.after_bits_per_char
