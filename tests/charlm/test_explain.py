"""The Why? picture and the voice-training curve, drawn from the shipped checkpoints: the PNGs
decode, their colours say what the model's probabilities say, and the annotated alternatives are
the model's own top three."""

import io
import math
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from charlm.checkpoint import LoadedModel, load_checkpoint
from charlm.errors import AlphabetError, PictureError, SamplingError
from charlm.explain import CurveLabels, curve_point, explain_png, read_through, render_loss_curve
from charlm.explain.style import BITS_SCALE_TOP, bits_colour
from charlm.explain.text_picture import MAX_LINES, PICTURE_WIDTH
from charlm.training.finetune import FineTuneProgress

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
REPLY = ("ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet "
         "is the sun.\n\nJULIET:\nAy me! zqxj.\n")


@pytest.fixture(scope="module")
def lstm() -> LoadedModel:
    return load_checkpoint(CHECKPOINTS / "lstm.safetensors")


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def background_at(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The commonest colour inside a character's box (past any outline): its background, since the
    glyph and a number badge cover less of it."""
    left, top, right, bottom = box
    pixels = Counter(image.getpixel((x, y))
                     for x in range(left + 2, right - 2) for y in range(top + 2, bottom - 2))
    return pixels.most_common(1)[0][0]


def test_a_likely_character_is_pale_and_an_unlikely_one_dark(lstm: LoadedModel) -> None:
    png, info = explain_png(lstm, REPLY, temperature=0.8)
    image = decoded(png)
    assert image.size == (PICTURE_WIDTH, info.height) and 200 < info.height < 4000
    probabilities = info.reading.probabilities
    likely = max(range(len(probabilities)), key=probabilities.__getitem__)
    unlikely = min(range(len(probabilities)), key=probabilities.__getitem__)
    assert probabilities[likely] > 0.9 and probabilities[unlikely] < 2 ** -BITS_SCALE_TOP
    pale, dark = bits_colour(0), bits_colour(BITS_SCALE_TOP)
    assert background_at(image, info.boxes[likely]) == pytest.approx(pale, abs=12)
    assert background_at(image, info.boxes[unlikely]) == dark
    assert info.reading.text == REPLY and not info.truncated and info.notice() is None


def test_the_annotated_alternatives_are_the_models_own_top_three(lstm: LoadedModel) -> None:
    temperature = 0.6
    _, info = explain_png(lstm, REPLY, temperature=temperature)
    assert len(info.surprising) == 3
    ids = lstm.alphabet.encode_tensor("\n" + REPLY)
    with torch.inference_mode():
        logits, _ = lstm.model(ids[None, :-1])
    distribution = torch.softmax(logits[0] / temperature, dim=-1)
    for index in info.surprising:
        top = torch.topk(distribution[index], 3)
        expected = [(lstm.alphabet.characters[int(i)], float(p))
                    for p, i in zip(top.values, top.indices, strict=True)]
        shown = info.reading.expected[index]
        assert [character for character, _ in shown] == [character for character, _ in expected]
        assert [p for _, p in shown] == pytest.approx([p for _, p in expected], abs=1e-5)
        assert info.reading.probabilities[index] == pytest.approx(
            float(distribution[index, ids[index + 1]]), abs=1e-6)
    # the three are the least likely places, apart from each other
    rest = [p for i, p in enumerate(info.reading.probabilities)
            if all(abs(i - place) >= 3 for place in info.surprising)]
    assert max(info.reading.probabilities[i] for i in info.surprising) <= min(rest)


def test_the_temperature_changes_the_probabilities(lstm: LoadedModel) -> None:
    cold = read_through(lstm.model, lstm.alphabet, REPLY, temperature=0.5)
    warm = read_through(lstm.model, lstm.alphabet, REPLY, temperature=1.0)
    assert cold.bits_per_char != pytest.approx(warm.bits_per_char, abs=0.05)
    with pytest.raises(SamplingError):
        read_through(lstm.model, lstm.alphabet, REPLY, temperature=0)


def test_a_long_text_is_cut_to_one_picture_and_says_so(lstm: LoadedModel) -> None:
    text = ("KING:\nWe will have peace, and then we will have war.\n\n" * 200)[:10_000]
    png, info = explain_png(lstm, text, temperature=0.8)
    assert info.truncated and info.total_characters == 10_000
    assert 0 < info.shown_characters < 10_000
    assert info.notice() == f"Only the first {info.shown_characters:,} of 10,000 characters are drawn."
    assert decoded(png).size[1] < (MAX_LINES + 12) * 40


def test_characters_outside_the_alphabet_are_normalised_as_sampling_does(lstm: LoadedModel) -> None:
    _, info = explain_png(lstm, "\u201cHark!\u201d \U0001F600 quoth he", temperature=0.8)
    assert info.reading.text == '"Hark!"  quoth he' and info.changed
    assert "left out" in (info.notice() or "")
    with pytest.raises(AlphabetError):
        explain_png(lstm, "\U0001F600\U0001F600", temperature=0.8)


def test_the_gru_explains_too_and_a_label_the_font_cannot_draw_is_refused() -> None:
    png, info = explain_png(CHECKPOINTS / "gru.safetensors", REPLY, 0.8, unit="bits")
    assert decoded(png).size == (PICTURE_WIDTH, info.height)
    with pytest.raises(PictureError, match="font cannot draw"):
        explain_png(CHECKPOINTS / "gru.safetensors", REPLY, 0.8, unit="\ube44\ud2b8")


POINTS = [(2.0 * step, 3.0 * math.exp(-step / 40) + 1.6) for step in range(1, 150)]


def test_the_loss_curve_is_a_png_of_the_promised_size() -> None:
    image = decoded(render_loss_curve(POINTS, 300, held_out_before=2.4, held_out_after=2.1))
    assert image.size == (1000, 550)
    wordless = decoded(render_loss_curve(POINTS[:3], 300, held_out_before=2.4, labels=None))
    assert wordless.size == (1000, 550)
    assert decoded(render_loss_curve([], 60, held_out_before=2.4)).size == (1000, 550)


def test_a_curve_that_cannot_be_drawn_is_one_picture_error() -> None:
    with pytest.raises(PictureError, match="budget"):
        render_loss_curve(POINTS, 0, held_out_before=2.4)
    with pytest.raises(PictureError, match="finite"):
        render_loss_curve([(1.0, math.nan)], 60, held_out_before=2.4)
    with pytest.raises(PictureError, match="font cannot draw"):
        render_loss_curve(POINTS, 300, 2.4, labels=CurveLabels(train="\ud559\uc2b5"))


def test_curve_points_come_from_fine_tune_progress_reports() -> None:
    assert curve_point(FineTuneProgress(0.0, 0, None, 2.4, 300.0), 300) is None
    assert curve_point(FineTuneProgress(0.5, 40, 1.9, 2.4, 120.0), 300) == (180.0, 1.9)


def test_pictures_drawn_on_several_threads_at_once_are_the_same_as_one_alone(lstm: LoadedModel) -> None:
    """No pyplot, no global matplotlib state: a bot draws in worker threads, several at a time."""
    from concurrent.futures import ThreadPoolExecutor

    alone_curve = render_loss_curve(POINTS, 300, 2.4, 2.1)
    alone_why, _ = explain_png(lstm, REPLY, 0.8)
    with ThreadPoolExecutor(max_workers=4) as pool:
        curves = list(pool.map(lambda _: render_loss_curve(POINTS, 300, 2.4, 2.1), range(4)))
        whys = list(pool.map(lambda _: explain_png(lstm, REPLY, 0.8)[0], range(4)))
    assert all(curve == alone_curve for curve in curves)
    assert all(why == alone_why for why in whys)


def test_whitespace_the_model_knows_is_drawn_as_a_sign_in_the_text_and_among_the_alternatives() -> None:
    from charlm.explain import Reading
    from charlm.explain.text_picture import render_reading

    # A random model proposes "\r", "\v" or "\f" as often as a letter; raqm cannot lay them out bare.
    text = "a\x0bb\x0cc\td"
    alternatives = (("\r", 0.3), ("\x0b", 0.2), ("\x0c", 0.1))
    reading = Reading(text, (0.5,) * len(text), (alternatives,) * len(text), 0.8, None, changed=False)
    picture = render_reading(reading, [0, 3, 6], truncated=False)
    assert Image.open(io.BytesIO(picture.png)).size == (PICTURE_WIDTH, picture.height)
