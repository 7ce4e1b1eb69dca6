"""The voice-training picture: training loss over the time budget, held-out loss before and after.

    points = [curve_point(progress, budget) for progress in reports]   # FineTuneProgress reports
    png = render_loss_curve(points, budget_seconds=300, held_out_before=result.before_bits_per_char,
                            held_out_after=result.after_bits_per_char)

The x axis is the whole budget, 0 to `budget_seconds`, ticked as m:ss; the y axis is bits per
character. Training loss is a line; the held-out loss before training is a hollow circle at 0 and
the one after (when given) a filled circle where the last point is. Words are the caller's:
`labels` (English by default) names the y axis and the legend; labels=None leaves every word out
(numbers and marks only), for a caller whose language the bundled DejaVu Sans cannot draw, who
then says in its message what the line and the circles are.

matplotlib's object API only (Figure and its Agg canvas, never pyplot): no global state, so any
thread may draw. Fonts are matplotlib's bundled DejaVu Sans, by file path.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from charlm.errors import PictureError
from charlm.explain.style import check_drawable, font_path

WIDTH_INCHES, HEIGHT_INCHES, DPI = 10.0, 5.5, 100  # 1000 x 550 px
FONT_POINTS = 16  # 22 px at DPI 100: 11-12 px in Discord's half-width preview
TRAIN_COLOUR, HELD_OUT_COLOUR = "#1f6fb4", "#c2361b"


@dataclass(frozen=True)
class CurveLabels:
    """The picture's only words; pass them in the reader's language (DejaVu Sans must draw them)."""

    bits: str = "bits/char"
    train: str = "training"
    held_out_before: str = "held-out, before"
    held_out_after: str = "held-out, after"


def curve_point(progress, budget_seconds: float) -> tuple[float, float] | None:
    """(seconds since the start, training bits/char) of a FineTuneProgress report, or None for a
    report that carries no training loss (the first one, before any step)."""
    if progress.train_bits_per_char is None:
        return None
    return (max(0.0, budget_seconds - progress.seconds_left), float(progress.train_bits_per_char))


def _clock(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _time_ticks(budget: float) -> list[float]:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if budget / step <= 6:
            break
    count = int(budget // step)
    return [step * i for i in range(count + 1)]


def _check(points: Sequence[tuple[float, float]], budget: float, before: float, after: float | None) -> None:
    if isinstance(budget, bool) or not 0 < budget < math.inf:
        raise PictureError(f"The time budget must be a positive number of seconds, not {budget!r}.")
    values = [before] + ([after] if after is not None else []) + [v for point in points for v in point]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        raise PictureError("A loss curve's points and held-out losses must be finite numbers.")


def render_loss_curve(points: Sequence[tuple[float, float]], budget_seconds: float, held_out_before: float,
                      held_out_after: float | None = None,
                      labels: CurveLabels | None = CurveLabels()) -> bytes:  # noqa: B008 (frozen)
    """A PNG (1000 x 550 px) of training progress; `points` are (seconds, bits/char) pairs."""
    _check(points, budget_seconds, held_out_before, held_out_after)
    if labels is not None:
        for label in (labels.bits, labels.train, labels.held_out_before, labels.held_out_after):
            check_drawable(label, mono=False)
    try:
        return _draw(points, budget_seconds, held_out_before, held_out_after, labels)
    except PictureError:
        raise
    except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as error:
        raise PictureError(f"The loss curve could not be drawn ({error}).") from None


def _draw(points: Sequence[tuple[float, float]], budget: float, before: float, after: float | None,
          labels: CurveLabels | None) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=str(font_path(mono=False)), size=FONT_POINTS)
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.1, 0.14, 0.86, 0.8) if labels is None else (0.11, 0.14, 0.85, 0.8))
    axes.set_facecolor("white")
    seconds = [point[0] for point in points]
    bits = [point[1] for point in points]
    axes.plot(seconds, bits, color=TRAIN_COLOUR, linewidth=2.5,
              label=None if labels is None else labels.train)
    axes.plot([0], [before], "o", markersize=13, markerfacecolor="white", markeredgecolor=HELD_OUT_COLOUR,
              markeredgewidth=3, label=None if labels is None else labels.held_out_before, clip_on=False)
    if after is not None:
        end = seconds[-1] if seconds else budget
        axes.plot([end], [after], "o", markersize=13, color=HELD_OUT_COLOUR, clip_on=False,
                  label=None if labels is None else labels.held_out_after)
    axes.set_xlim(0, budget)
    ticks = _time_ticks(budget)
    axes.set_xticks(ticks, [_clock(tick) for tick in ticks], fontproperties=font)
    low = min(bits + [before] + ([after] if after is not None else []))
    high = max(bits + [before] + ([after] if after is not None else []))
    pad = max(0.05, (high - low) * 0.08)
    axes.set_ylim(low - pad, high + pad)
    y_ticks = [tick for tick in axes.get_yticks() if low - pad <= tick <= high + pad]
    axes.set_yticks(y_ticks, [f"{tick:g}" for tick in y_ticks], fontproperties=font)
    axes.grid(True, color="#dddddd", linewidth=1)
    axes.tick_params(colors="#222222", length=6, width=1.2)
    for spine in axes.spines.values():
        spine.set_color("#888888")
    if labels is not None:
        axes.set_ylabel(labels.bits, fontproperties=font)
        axes.legend(prop=font, loc="upper right", framealpha=0.9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()
