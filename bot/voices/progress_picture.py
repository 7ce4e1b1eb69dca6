"""The picture of a voice's training (charlm.explain.render_loss_curve), as /voice train's progress
reply and /voice status show it.

The trainer (another process) records only the latest figures in the job's row (bot/storage/
voices.py): progress, the held-out loss before training, the training loss now, the seconds left.
`TrainingCurves` keeps, per job, each (seconds into the budget, training loss) this process has read
from that row, so the line grows with every progress edit; a process that did not follow the job
(one started since) draws what it reads from then on, and always the held-out loss before, and
after once the job is done, as the circles. The x axis is the whole time budget from the start.

Words in the picture follow the reader's language: English labels, or none for Korean (the bundled
font has no Hangul), where the message says what the line and the circles are.
"""

from __future__ import annotations

from collections import OrderedDict

from bot.storage.voices import Job
from charlm.explain import CurveLabels, render_loss_curve

PROGRESS_FILE = "training.png"
KEPT_JOBS = 64  # jobs whose curves are remembered, the least recently read dropped first
MAX_POINTS = 2_000  # per job: a 15-minute budget read every 5 s is 180


class TrainingCurves:
    """Per job, the (seconds, training bits/char) points this process has read; see the module doc."""

    def __init__(self) -> None:
        self._points: OrderedDict[int, list[tuple[float, float]]] = OrderedDict()

    def read(self, job: Job, budget_seconds: float) -> list[tuple[float, float]]:
        """Add the point `job` shows now (if it shows a new one) and return the job's points so far."""
        points = self._points.setdefault(job.id, [])
        self._points.move_to_end(job.id)
        while len(self._points) > KEPT_JOBS:
            self._points.popitem(last=False)
        if job.bits_now is not None and job.bits_before is not None and job.state == "running":
            left = budget_seconds if job.seconds_left is None else job.seconds_left
            point = (min(budget_seconds, max(0.0, budget_seconds - left)), float(job.bits_now))
            if (not points or point[0] > points[-1][0]) and len(points) < MAX_POINTS:
                points.append(point)
        return list(points)


def progress_png(job: Job, points: list[tuple[float, float]], budget_seconds: float,
                 words: bool) -> bytes | None:
    """The picture of `job` (None before the held-out loss before training is measured): the
    training loss over the budget, the held-out loss before, and after once it is done. `words`:
    English labels; False leaves every word out. Blocking: call it on the picture thread."""
    if job.bits_before is None:
        return None
    after = job.bits_now if job.state == "done" else None
    seconds = max(budget_seconds, max((point[0] for point in points), default=0.0), 1.0)
    return render_loss_curve(points, seconds, job.bits_before, after,
                             labels=CurveLabels() if words else None)
