"""The real side of /guess: tinyshakespeare's held-out last tenth, shipped with the package.

The shipped models trained on the first 90% of the normalised text and held out the rest
(`charlm.data.split_ids` with `TRAIN_FRACTION`). `held_out.txt` beside this module is exactly that
rest, so every real passage and every opening comes from text no shipped model saw. It is public
domain and about 110 KB; regenerate it with

    python -m charlm.guess --data ../shared/data/tinyshakespeare.txt

Openings (`charlm.guess.passages.find_openings`) are the first lines of its speeches.
"""

from __future__ import annotations

from importlib import resources

from charlm.alphabet import Alphabet
from charlm.data import TRAIN_FRACTION
from charlm.guess.passages import Opening, find_openings

HELD_OUT_FILE = "held_out.txt"


def held_out_part(text: str, alphabet: Alphabet | None = None) -> str:
    """The part of `text` the shipped models held out: the last tenth of the normalised text,
    cut where `charlm.data.split_ids` cuts it."""
    normalised = (alphabet or Alphabet()).normalise(text)
    return normalised[int(len(normalised) * TRAIN_FRACTION):]


def load_held_out() -> str:
    """The shipped held-out text (from the installed package, no data folder needed)."""
    return resources.files(__package__).joinpath(HELD_OUT_FILE).read_text(encoding="utf-8")


def shipped_openings() -> list[Opening]:
    """Every opening of the shipped held-out text (about a thousand; built in a few milliseconds)."""
    return find_openings(load_held_out())
