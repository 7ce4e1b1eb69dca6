"""The voice training's progress sentence and picture, from job rows as the trainer leaves them
(the whole path, trainer included, is in test_voice_commands.py)."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image

from bot.commands.voice import describe_job
from bot.i18n import localize
from bot.storage.voices import Job
from bot.voices.progress_picture import TrainingCurves, progress_png
from charlm.explain import CurveLabels, render_loss_curve

BUDGET = 300.0
CLAIMED = Job(id=1, guild_id=2, name="lore", base="lstm", requester_id=3, text_file=None, state="running",
              attempts=1, progress=0.0, bits_before=None, bits_now=None, seconds_left=None, reason=None,
              created_at=0.0, updated_at=0.0)


def test_the_first_progress_edit_says_the_time_budget():
    assert describe_job(CLAIMED, budget_seconds=BUDGET) == "Training voice lore: 0% done, about 300 s left."
    measured = dataclasses.replace(CLAIMED, bits_before=2.9, seconds_left=298.6)
    assert describe_job(measured, budget_seconds=BUDGET) == "Training voice lore: 0% done, about 299 s left."


def test_the_curve_grows_with_each_new_training_loss_and_is_drawn_over_the_whole_budget():
    curves = TrainingCurves()
    assert curves.read(CLAIMED, BUDGET) == []
    assert progress_png(CLAIMED, [], BUDGET, words=True) is None  # nothing measured yet
    first = dataclasses.replace(CLAIMED, bits_before=2.9, bits_now=2.5, seconds_left=290.0, progress=0.03)
    assert curves.read(first, BUDGET) == [(10.0, 2.5)]
    assert curves.read(first, BUDGET) == [(10.0, 2.5)]  # read again: no new point
    later = dataclasses.replace(first, bits_now=2.1, seconds_left=200.0)
    points = curves.read(later, BUDGET)
    assert points == [(10.0, 2.5), (100.0, 2.1)]
    png = progress_png(later, points, BUDGET, words=True)
    assert png == render_loss_curve(points, BUDGET, 2.9, None, labels=CurveLabels())
    done = dataclasses.replace(later, state="done", bits_now=2.2, seconds_left=0.0)
    assert curves.read(done, BUDGET) == points  # the held-out loss after is a circle, not the line
    finished = progress_png(done, points, BUDGET, words=False)  # Korean: no words in the picture
    assert finished == render_loss_curve(points, BUDGET, 2.9, 2.2, labels=None)
    assert Image.open(io.BytesIO(finished)).size == (1000, 550)


def test_korean_readers_are_told_what_the_picture_shows():
    from bot.commands.voice_progress import CURVE_EXPLAINED

    said = localize(CURVE_EXPLAINED, "ko")
    assert said.startswith("그림 설명") and said != CURVE_EXPLAINED
