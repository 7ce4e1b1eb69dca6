"""/guess passages: the real side ships with the package, both kinds are laid out by one builder,
the coin is fair, and a real checkpoint's text makes a passage."""

import asyncio
import random
from importlib import resources
from pathlib import Path

import pytest

from charlm import cli
from charlm.checkpoint import load_checkpoint
from charlm.guess import (
    GENERATION_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    PassageError,
    SampledContinuation,
    build_passage,
    draw_round,
    draw_round_async,
    finish_round,
    fooled_share,
    held_out_part,
    load_held_out,
    plan_round,
    shipped_openings,
)
from charlm.guess.passages import MAX_LINE_LENGTH, is_speaker_line, layout_features
from tests.helpers import run_main

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
LSTM = REPO / "checkpoints" / "lstm.safetensors"

OPENING = "PETRUCHIO:\nThus have I politicly begun my reign,"
VERSE = ["And 'tis my hope to end successfully.", "My falcon now is sharp and passing empty;",
         "And till she stoop she must not be full-gorged,", "For then she never looks upon her lure.",
         "Another way I have to man my haggard,", "To make her come and know her keeper's call,",
         "That is, to watch her, as we watch these kites", "That bate and beat and will not be obedient."]
CLEAN = "\n".join(VERSE) + "\n\nKATHARINA:\nI pray you, husband, be not so disquiet:\nThe meat was"
# What a model may write: stray spaces, doubled blank lines, a speaker with no speech, a line
# longer than any verse line, and an unfinished last line.
MESSY = ("  " + VERSE[0] + "   \n\n\n" + "\n".join(VERSE[1:]) + "\n\n\nLUCIO:\n\nDUKE VINCENTIO:\n"
         + "x" * (MAX_LINE_LENGTH + 1) + "\nand the rest is unfin")


@pytest.fixture(scope="module")
def openings():
    return shipped_openings()


def test_the_held_out_text_ships_inside_the_package_and_loads_without_the_data_folder(openings) -> None:
    shipped = resources.files("charlm.guess").joinpath("held_out.txt")
    assert Path(str(shipped)).parent == REPO / "charlm" / "guess"
    assert 100_000 < len(load_held_out()) < 150_000
    assert len(openings) >= 100
    # In the wheel and the container too: setuptools copies only declared package data.
    assert '"charlm.guess" = ["held_out.txt"]' in (REPO / "pyproject.toml").read_text()


@pytest.mark.skipif(not CORPUS.is_file(), reason=f"{CORPUS} is absent (it is not part of the repo)")
def test_the_shipped_text_is_exactly_what_the_shipped_models_held_out(openings) -> None:
    whole = CORPUS.read_text()
    cut = int(len(whole) * 0.9)  # charlm.data.TRAIN_FRACTION on the ASCII corpus
    assert load_held_out() == held_out_part(whole) == whole[cut:]
    trained_on = whole[:cut]
    for opening in openings:
        assert opening.text in load_held_out()
        assert opening.context + opening.text + "\n" + opening.continuation not in trained_on


def test_both_kinds_are_laid_out_alike() -> None:
    clean, messy = build_passage(OPENING, CLEAN), build_passage(OPENING, MESSY)
    for passage in (clean, messy):
        lines = passage.split("\n")
        assert passage.startswith(OPENING + "\n")
        assert MIN_LENGTH <= len(passage) <= MAX_LENGTH
        assert all(line == line.strip() and line for line in lines)
        assert [is_speaker_line(line) for line in lines] == [True] + [False] * (len(lines) - 1)
        assert passage.endswith(".")  # a full stop was in the window
    # Both were cut from the same verse: the same lines, so the same layout features.
    assert clean == messy
    assert layout_features(clean) == layout_features(messy)


def test_a_passage_is_cut_at_a_line_end_of_its_text() -> None:
    unfinished = "\n".join(VERSE) + "\nThe last line has no newline and is long enough alone......"
    passage = build_passage(OPENING, unfinished)
    assert (OPENING + "\n" + unfinished).startswith(passage + "\n")
    assert "no newline" not in passage


@pytest.mark.parametrize("text", ["", "no newline at all, however long " * 20, "\n\n\n",
                                  "KATHARINA:\n" + "\n".join(VERSE)])
def test_text_that_makes_no_passage_is_one_clear_error(text: str) -> None:
    with pytest.raises(PassageError, match="no line end between"):
        build_passage(OPENING, text)


def test_a_model_that_writes_nothing_is_asked_again_then_refused(openings) -> None:
    calls: list[tuple[str, int]] = []

    def silent(prompt: str, length: int) -> str:
        calls.append((prompt, length))
        return ""

    with pytest.raises(PassageError, match="no passage in 5 tries"):
        draw_round(random.Random(0), silent, "lstm", openings, kind="model", attempts=5)
    assert len(calls) == 5 and len({prompt for prompt, _ in calls}) > 1  # a new opening each time
    assert all(length == GENERATION_LENGTH and prompt.endswith("\n") for prompt, length in calls)
    calls.clear()
    assert draw_round(random.Random(0), silent, "lstm", openings, kind="real").kind == "real"
    assert calls == []  # a real round never calls the model


def test_a_model_that_writes_once_a_passage_is_taken(openings) -> None:
    texts = iter(["no line end", "", CLEAN])
    passage = draw_round(random.Random(0), lambda prompt, length: next(texts), "lstm", openings,
                         kind="model")
    assert passage.kind == "model" and passage.text == build_passage(passage.opening, CLEAN)


def test_the_coin_is_fair_and_openings_are_all_used(openings) -> None:
    rng = random.Random(11)
    plans = [plan_round(rng, openings) for _ in range(4000)]
    share = sum(plan.kind == "model" for plan in plans) / len(plans)
    assert 0.47 < share < 0.53
    assert len({plan.opening.text for plan in plans}) > 0.9 * len(openings)


def test_every_real_round_is_a_passage(openings) -> None:
    for opening in openings:
        passage = build_passage(opening.text, opening.continuation)
        assert passage.startswith(opening.text + "\n")
        assert MIN_LENGTH <= len(passage) <= MAX_LENGTH


def test_the_shipped_lstm_continues_an_opening_into_a_passage(openings) -> None:
    rng = random.Random(3)
    plan = plan_round(rng, openings, kind="model")
    continuation = SampledContinuation(load_checkpoint(LSTM), rng=rng)
    text = continuation(plan.prompt, GENERATION_LENGTH)
    assert len(text) == GENERATION_LENGTH
    passage = finish_round(plan, "lstm", text)
    assert passage.kind == "model" and passage.model == "lstm"
    assert passage.text.startswith(plan.opening.text + "\n") and passage.opening == plan.opening.text
    assert passage.text != build_passage(plan.opening.text, plan.opening.continuation)
    assert MIN_LENGTH <= len(passage.text) <= MAX_LENGTH


def test_draw_round_async_asks_for_several_texts_at_once(openings) -> None:
    asked: list[str] = []

    async def verse_on_the_third(prompt: str, length: int) -> str:
        asked.append(prompt)
        number = len(asked)
        await asyncio.sleep(0)
        return CLEAN if number == 3 else ""

    rng = random.Random(0)
    passage = asyncio.run(draw_round_async(rng, verse_on_the_third, "gru", openings, kind="model",
                                           at_once=4))
    assert len(asked) == 4  # one batch of four
    assert passage.kind == "model" and passage.model == "gru"
    assert passage.text == build_passage(passage.opening, CLEAN)
    with pytest.raises(PassageError):
        asyncio.run(draw_round_async(rng, verse_on_the_third, "gru", openings, kind="model",
                                     attempts=6, at_once=4))
    assert len(asked) == 10  # four, then the two left


def test_fooled_share_needs_enough_votes() -> None:
    assert fooled_share(5, 19) is None
    assert fooled_share(5, 20) == 0.25
    assert fooled_share(0, 3, minimum=3) == 0.0
    assert fooled_share(0, 0, minimum=0) is None
    with pytest.raises(ValueError):
        fooled_share(21, 20)


def test_the_cli_plays_one_round(openings) -> None:
    seed = next(seed for seed in range(100) if plan_round(random.Random(seed), openings).kind == "real")
    result = run_main(cli.main, ("guess", "--checkpoint", str(LSTM), "--rng-seed", str(seed),
                                 "--reveal"), "python -m charlm")
    assert result.returncode == 0, result.stderr
    passage, answer = result.stdout.rstrip("\n").rsplit("\n\n", 1)
    assert is_speaker_line(passage.split("\n")[0])
    assert answer == "After the first line, this was Shakespeare."
