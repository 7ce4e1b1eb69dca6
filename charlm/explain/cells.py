"""Which single cells of a model follow simple properties of the text (after Karpathy's char-rnn
post): each cell's activation, character by character, is correlated with each property, and the
best cell for each property is reported and can be drawn over the passage.

    report = find_cells(loaded, passage)
    for match in report.matches: print(match.feature, match.layer, match.unit, match.correlation)
    png = render_cells(report)

The properties (FEATURES): the position in the line (0 at its first character); inside a speaker's
name (the characters of a line such as "ROMEO:"); after the end of a sentence (from a . ! or ?
through the first letter of the next sentence); inside round or square brackets. A property that
never varies in the passage has no correlation and is left out.

An LSTM's cells are its memory c: the activation drawn is tanh(c), in [-1, 1]. A GRU (or an RNN,
or the seed's hand-written cell) has no separate memory; its hidden units are its memory, so
those are used, and `report.note` says so in one sentence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch

from charlm.alphabet import Alphabet
from charlm.checkpoint import LoadedModel
from charlm.errors import AlphabetError
from charlm.explain.style import INK, activation_colour, pillow_font
from charlm.explain.text_picture import (
    LINE_HEIGHT,
    MARGIN,
    SMALL_FONT_SIZE,
    draw_grid,
    new_canvas,
    rows_needed,
    to_png,
)
from charlm.models import CharModel

MAX_PASSAGE = 20_000  # characters read; stepping one character at a time is ~0.1 ms each
PANEL_CHARACTERS = 360  # the part of the passage each drawn cell is shown over
PANEL_LINES = 9
NO_CELLS_NOTE = ("A {kind} has no memory cells separate from its hidden state, so its hidden units "
                 "(its memory) are compared instead.")


def _line_position(text: str) -> list[float]:
    values, column = [], 0
    for character in text:
        values.append(float(column))
        column = 0 if character == "\n" else column + 1
    return values


_SPEAKER = re.compile(r"^[A-Za-z][A-Za-z' ]*:$", re.MULTILINE)


def _speaker_name(text: str) -> list[float]:
    values = [0.0] * len(text)
    for match in _SPEAKER.finditer(text):
        for index in range(match.start(), match.end()):
            values[index] = 1.0
    return values


def _after_sentence_end(text: str) -> list[float]:
    values, after = [], False
    for character in text:
        values.append(1.0 if after else 0.0)
        if character in ".!?":
            after = True
        elif character.isalpha():
            after = False
    return values


def _inside_brackets(text: str) -> list[float]:
    values, depth = [], 0
    for character in text:
        if character in ")]":
            depth = max(0, depth - 1)
        values.append(1.0 if depth else 0.0)
        if character in "([":
            depth += 1
    return values


FEATURES: dict[str, Callable[[str], list[float]]] = {
    "position in the line": _line_position,
    "inside a speaker's name": _speaker_name,
    "after the end of a sentence": _after_sentence_end,
    "inside brackets": _inside_brackets,
}


@dataclass(frozen=True)
class CellMatch:
    feature: str
    layer: int  # from 1
    unit: int  # from 0, within its layer
    correlation: float  # Pearson's r of the activation with the property, -1 to 1

    def label(self) -> str:
        """The panel's title: numbers and symbols only (no words to translate)."""
        return f"L{self.layer} #{self.unit}  r = {self.correlation:+.2f}"


@dataclass(frozen=True)
class CellReport:
    kind: str
    text: str  # the normalised passage read
    activations: torch.Tensor  # [characters, layers * units]
    units_per_layer: int
    matches: tuple[CellMatch, ...]  # the best cell per property, in FEATURES order
    note: str | None  # one sentence when the model has no LSTM cells

    def activation(self, match: CellMatch) -> list[float]:
        column = (match.layer - 1) * self.units_per_layer + match.unit
        return self.activations[:, column].tolist()


@torch.inference_mode()
def _memory_by_step(model: CharModel, alphabet: Alphabet, text: str) -> torch.Tensor:
    """The memory after each character: tanh(c) for an LSTM, the hidden state otherwise."""
    device = next(model.parameters()).device
    ids = alphabet.encode_tensor(text).to(device)
    was_training = model.training
    model.eval()
    rows, state = [], None
    try:
        for step in range(len(ids)):
            _, state = model(ids[None, step:step + 1], state)
            memory = torch.tanh(state[1]) if isinstance(state, tuple) else state
            rows.append(memory.reshape(-1).float().cpu())
    finally:
        model.train(was_training)
    return torch.stack(rows)


def _correlations(activations: torch.Tensor, values: list[float]) -> torch.Tensor | None:
    target = torch.tensor(values, dtype=torch.float64)
    if float(target.std()) == 0:
        return None
    acts = activations.double()
    centred = acts - acts.mean(dim=0)
    target = target - target.mean()
    denominator = centred.norm(dim=0) * target.norm()
    return torch.where(denominator > 0, (centred * target[:, None]).sum(dim=0) / denominator,
                       torch.zeros_like(denominator))


def find_cells(loaded: LoadedModel, text: str) -> CellReport:
    """Read `text` (normalised, at most MAX_PASSAGE characters) and find the best cell per property."""
    normalised = loaded.alphabet.normalise(text)[:MAX_PASSAGE]
    if len(normalised) < 2:
        raise AlphabetError("The passage needs at least two characters the model knows.")
    activations = _memory_by_step(loaded.model, loaded.alphabet, normalised)
    units = loaded.config.hidden_size
    matches = []
    for feature, measure in FEATURES.items():
        correlations = _correlations(activations, measure(normalised))
        if correlations is None:
            continue
        best = int(correlations.abs().argmax())
        matches.append(CellMatch(feature, best // units + 1, best % units, float(correlations[best])))
    note = None if loaded.config.kind == "lstm" else NO_CELLS_NOTE.format(kind=loaded.config.kind.upper())
    return CellReport(loaded.config.kind, normalised, activations, units, tuple(matches), note)


def render_cells(report: CellReport, matches: tuple[CellMatch, ...] | None = None) -> bytes:
    """One panel per match (default: all): its title (numbers only), then the passage's start with
    each character on its activation's colour (-1 blue, 0 white, +1 red)."""
    chosen = report.matches if matches is None else matches
    text = report.text[:PANEL_CHARACTERS]
    rows = min(rows_needed(text), PANEL_LINES)
    panel_height = SMALL_FONT_SIZE + 12 + rows * LINE_HEIGHT + 20
    image, draw = new_canvas(MARGIN * 2 + max(1, len(chosen)) * panel_height)
    title_font = pillow_font(SMALL_FONT_SIZE, mono=False)
    for number, match in enumerate(chosen):
        top = MARGIN + number * panel_height
        draw.text((MARGIN, top), f"{number + 1}.  {match.label()}", font=title_font, fill=INK)
        values = report.activation(match)[:len(text)]
        draw_grid(draw, text, [activation_colour(value) for value in values], top + SMALL_FONT_SIZE + 4,
                  PANEL_LINES)
    return to_png(image)
