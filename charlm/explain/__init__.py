"""Pictures of what a model does: why it wrote a text, how a voice trained, what its cells track.

    png, info = explain_png(loaded, reply_text, temperature=0.8)      # the Why? picture
    png = render_loss_curve(points, budget_seconds=300, held_out_before=2.1, held_out_after=1.9)
    found = find_cells(loaded, passage); png = render_cells(found, passage)

Every function here is synchronous and CPU-bound (tens to a few hundred ms): a bot calls it in a
worker thread (`await asyncio.to_thread(explain_png, ...)`), never on its event loop. Nothing
touches matplotlib's global state (no pyplot), so pictures can be drawn on several threads at once.
Every failure to draw is a PictureError (charlm.errors) with one sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charlm.checkpoint import LoadedModel, load_checkpoint
from charlm.errors import PictureError
from charlm.explain.cells import CellReport, find_cells, render_cells
from charlm.explain.loss_curve import CurveLabels, curve_point, render_loss_curve
from charlm.explain.probabilities import DEFAULT_CONTEXT, Reading, read_through
from charlm.explain.text_picture import MAX_LINES, Box, fits, render_reading
from charlm.sampling import DEFAULT_TEMPERATURE

__all__ = [
    "CellReport", "CurveLabels", "ExplainInfo", "PictureError", "Reading", "curve_point",
    "explain_png", "find_cells", "read_through", "render_cells", "render_loss_curve",
]

ANNOTATED_PLACES = 3  # the most surprising places numbered and listed under the text
MAX_EXPLAINED_CHARACTERS = 1_600  # and at most MAX_LINES rows: what reads as one picture


@dataclass(frozen=True)
class ExplainInfo:
    """What the Why? picture shows, for the caller's message (and for tests)."""

    reading: Reading  # the drawn text as the model read it
    total_characters: int  # of the whole text once normalised
    surprising: tuple[int, ...]  # positions of the annotated places, numbered 1.. in this order
    boxes: tuple[Box, ...]  # pixel box of each drawn character
    width: int
    height: int

    @property
    def shown_characters(self) -> int:
        return len(self.reading.text)

    @property
    def truncated(self) -> bool:
        """The picture shows only the first `shown_characters` of the text."""
        return self.shown_characters < self.total_characters

    @property
    def changed(self) -> bool:
        """Normalising altered the text (transliterated it or dropped characters outside the alphabet)."""
        return self.reading.changed

    def notice(self) -> str | None:
        """One English sentence for a reader when the picture is not the text as given, else None."""
        parts = []
        if self.truncated:
            parts.append(f"Only the first {self.shown_characters:,} of {self.total_characters:,} "
                         f"characters are drawn")
        if self.changed:
            parts.append("characters the model does not know were transliterated or left out")
        if not parts:
            return None
        sentence = "; ".join(parts)
        return sentence[0].upper() + sentence[1:] + "."


def explain_png(model: LoadedModel | str | Path, text: str, temperature: float = DEFAULT_TEMPERATURE,
                *, top_k: int | None = None, context: str = DEFAULT_CONTEXT,
                annotate: int = ANNOTATED_PLACES, unit: str = "bits") -> tuple[bytes, ExplainInfo]:
    """The Why? picture of `text` read through `model` (a LoadedModel or a checkpoint path).

    Give the temperature and top-k the text was sampled with, and as `context` what the model
    read before it (the seed when `text` is only the generated part). The text is normalised as
    sampling does and cut to what one picture shows (MAX_EXPLAINED_CHARACTERS, MAX_LINES rows):
    `info.truncated` and `info.changed` say so, `info.notice()` in one English sentence. `unit`
    labels the legend (the only word in the picture). Raises AlphabetError when no character of the
    text is in the alphabet, SamplingError for a bad temperature or top-k, PictureError when
    drawing fails, CheckpointError for a bad checkpoint path.
    """
    loaded = model if isinstance(model, LoadedModel) else load_checkpoint(model)
    normalised = loaded.alphabet.normalise(text)
    shown = fits(normalised[:MAX_EXPLAINED_CHARACTERS], MAX_LINES)
    reading = read_through(loaded.model, loaded.alphabet, text, temperature, top_k, context,
                           max_characters=shown)
    surprising = reading.most_surprising(max(0, annotate))
    picture = render_reading(reading, surprising, truncated=shown < len(normalised), unit=unit)
    info = ExplainInfo(reading, len(normalised), tuple(surprising), picture.boxes, picture.width,
                       picture.height)
    return picture.png, info
