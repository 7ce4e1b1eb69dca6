"""What every picture shares: the bundled fonts, the colour scales, and the one error type.

Fonts are the DejaVu files matplotlib ships in its own package data, opened by path, so a picture
is drawn the same on any machine or container whatever fonts its system has. DejaVu has no Hangul:
pictures carry numbers and symbols, and any words come from the caller (`check_drawable` refuses
a label the font cannot show, rather than drawing empty boxes).

Pictures have an opaque white background: they read the same on Discord's dark and light themes.
"""

from __future__ import annotations

import functools
from pathlib import Path

from charlm.errors import PictureError

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
FAINT_INK = (120, 120, 120)
# The bits scale: 0 bits (certain) is the pale end, BITS_SCALE_TOP and above the dark end.
BITS_SCALE_TOP = 8.0
# Sequential pale yellow -> orange -> dark red (ColorBrewer YlOrRd's hues), so surprise stands out
# and the pale end still shows where a character sits; anchors at 0, 1/4, 1/2, 3/4 and 1.
_BITS_ANCHORS = ((255, 250, 205), (254, 217, 118), (253, 141, 60), (227, 26, 28), (128, 0, 38))
# The activation scale (cells): -1 blue, 0 white, +1 red.
_ACTIVATION_ANCHORS = ((33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43))


def _fonts_folder() -> Path:
    try:
        import matplotlib
    except ImportError as error:  # a dependency of the project: missing only in a broken install
        raise PictureError("Pictures need matplotlib, which is not installed.") from error
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_path(mono: bool = True) -> Path:
    """DejaVu Sans Mono (or DejaVu Sans) from matplotlib's package data."""
    path = _fonts_folder() / ("DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf")
    if not path.is_file():
        raise PictureError(f"The bundled font {path.name} is missing from matplotlib's data.")
    return path


@functools.lru_cache(maxsize=16)
def pillow_font(size: int, mono: bool = True):  # -> PIL.ImageFont.FreeTypeFont
    """The font at `size` pixels, opened once per process (read-only afterwards)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(font_path(mono)), size)
    except OSError as error:
        raise PictureError(f"The bundled font could not be opened ({error}).") from None


@functools.lru_cache(maxsize=2)
def _covered(mono: bool) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path(mono)), lazy=True) as font:
        return frozenset(font.getBestCmap())


def check_drawable(label: str, mono: bool = True) -> None:
    """Raise PictureError when `label` has a character the bundled font cannot draw."""
    missing = sorted({character for character in label if ord(character) not in _covered(mono)
                      and character not in "\n"})
    if missing:
        raise PictureError(
            f"The picture's font cannot draw {''.join(missing[:5])!r}; pass labels in a language "
            f"the font covers, or none.")


def _interpolate(anchors: tuple[tuple[int, int, int], ...], position: float) -> tuple[int, int, int]:
    position = min(1.0, max(0.0, position)) * (len(anchors) - 1)
    low = min(int(position), len(anchors) - 2)
    share = position - low
    return tuple(round(a + (b - a) * share) for a, b in zip(anchors[low], anchors[low + 1], strict=True))  # type: ignore[return-value]


def bits_colour(bits: float) -> tuple[int, int, int]:
    """The background of a character the model gave `bits` of surprise (infinite: the top)."""
    return _interpolate(_BITS_ANCHORS, bits / BITS_SCALE_TOP)


def activation_colour(value: float) -> tuple[int, int, int]:
    """The background of a character where a cell's activation is `value` in [-1, 1]."""
    return _interpolate(_ACTIVATION_ANCHORS, (value + 1) / 2)


def ink_on(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on `background`."""
    red, green, blue = background
    return INK if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else BACKGROUND
