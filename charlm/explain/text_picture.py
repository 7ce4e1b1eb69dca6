"""Text drawn on a grid, each character on a coloured box: the Why? picture and the cells' panels.

The grid is monospaced (DejaVu Sans Mono, FONT_SIZE px, in a PICTURE_WIDTH px picture): Discord
shows a picture about half as wide on a phone, and FONT_SIZE / 2 is still 12 px. A line longer
than the grid wraps at its last column; a newline is drawn as "↵" in the box of its own and a
space as an empty box, since both are characters the model predicted. At most MAX_LINES rows are
drawn; `fits` says how many characters of a text that is.

Every drawing returns the boxes it drew, one (left, top, right, bottom) per character, so a
caller (or a test) can find any character's pixels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from charlm.errors import PictureError
from charlm.explain.probabilities import Reading
from charlm.explain.style import (
    BACKGROUND,
    BITS_SCALE_TOP,
    FAINT_INK,
    INK,
    bits_colour,
    check_drawable,
    ink_on,
    pillow_font,
)

PICTURE_WIDTH = 1000
FONT_SIZE = 24
SMALL_FONT_SIZE = 20
MARGIN = 24
LINE_HEIGHT = 38  # a box of FONT_SIZE + 8 and a gap where a place's number badge sits
BOX_HEIGHT = FONT_SIZE + 8
MAX_LINES = 64  # ~2,700 px tall: a 1,500-character reply (the bot's longest) of verse fits
# Whitespace the model knows, drawn as a sign (raqm cannot lay out a bare "\r", "\v" or "\f").
SHOWN_AS = {"\n": "↵", "\t": "⇥", " ": "", "\r": "←", "\x0b": "↓", "\x0c": "§"}

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class TextPicture:
    """A PNG and where each drawn character sits in it."""

    png: bytes
    boxes: tuple[Box, ...]  # one per drawn character, in text order
    width: int
    height: int


def advance() -> int:
    """The width of one grid column in pixels."""
    return round(pillow_font(FONT_SIZE).getlength("M"))


def columns() -> int:
    return (PICTURE_WIDTH - 2 * MARGIN) // advance()


def _cells(text: str, max_lines: int) -> list[tuple[int, int]]:
    """(row, column) of each character that fits in `max_lines` rows."""
    width, row, column, placed = columns(), 0, 0, []
    for character in text:
        if column >= width:
            row, column = row + 1, 0
        if row >= max_lines:
            break
        placed.append((row, column))
        if character == "\n":
            row, column = row + 1, 0
        else:
            column += 1
    return placed


def fits(text: str, max_lines: int = MAX_LINES) -> int:
    """How many leading characters of `text` a grid of `max_lines` rows shows."""
    return len(_cells(text, max_lines))


def rows_needed(text: str) -> int:
    cells = _cells(text, 10**9)
    return cells[-1][0] + 1 if cells else 0


def draw_grid(draw, text: str, backgrounds: Sequence[tuple[int, int, int]], top: int,
              max_lines: int = MAX_LINES) -> list[Box]:
    """Draw `text` from pixel row `top`, character i on `backgrounds[i]`; returns the boxes."""
    font, step, boxes = pillow_font(FONT_SIZE), advance(), []
    for index, (row, column) in enumerate(_cells(text, max_lines)):
        left, box_top = MARGIN + column * step, top + row * LINE_HEIGHT + (LINE_HEIGHT - BOX_HEIGHT)
        box = (left, box_top, left + step, box_top + BOX_HEIGHT)
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=backgrounds[index])
        character = text[index]
        shown = SHOWN_AS.get(character, character)
        if shown:
            ink = FAINT_INK if character in SHOWN_AS else ink_on(backgrounds[index])
            draw.text((left + step / 2, box_top + BOX_HEIGHT / 2), shown, font=font, fill=ink, anchor="mm")
        boxes.append(box)
    return boxes


def new_canvas(height: int):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (PICTURE_WIDTH, height), BACKGROUND)
    return image, ImageDraw.Draw(image)


def to_png(image) -> bytes:
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG", compress_level=1)  # 10% larger than level 6, 20% faster
    except (OSError, ValueError) as error:
        raise PictureError(f"The picture could not be encoded as PNG ({error}).") from None
    return buffer.getvalue()


def _badge(draw, x: float, y: float, number: int) -> None:
    """A dark round badge with `number`, centred at (x, y)."""
    font = pillow_font(SMALL_FONT_SIZE, mono=False)
    radius = SMALL_FONT_SIZE * 0.62
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=INK)
    draw.text((x, y), str(number), font=font, fill=BACKGROUND, anchor="mm")


def _character_chip(draw, x: int, y: int, character: str, probability: float) -> int:
    """One character on its bits colour, then its probability in percent; returns the next x."""
    font, step = pillow_font(FONT_SIZE), advance()
    background = bits_colour(_bits(probability))
    draw.rectangle((x, y, x + step + 8, y + BOX_HEIGHT - 1), fill=background, outline=FAINT_INK)
    shown = {**SHOWN_AS, " ": "␣"}.get(character, character)
    draw.text((x + (step + 8) / 2, y + BOX_HEIGHT / 2), shown, font=font, fill=ink_on(background),
              anchor="mm")
    draw.text((x + step + 16, y + BOX_HEIGHT / 2), _percent(probability), font=font, fill=INK, anchor="lm")
    return x + step + 16 + round(font.getlength("00.0%")) + 28


def _bits(probability: float) -> float:
    import math

    return -math.log2(probability) if probability > 0 else BITS_SCALE_TOP


def _percent(probability: float) -> str:
    percent = probability * 100
    if percent >= 9.95:
        return f"{percent:.0f}%"
    return f"{percent:.1f}%" if percent >= 0.05 else "<0.1%"


def _legend(draw, top: int, unit: str) -> None:
    """The bits scale: a gradient from 0 to BITS_SCALE_TOP bits with its ticks and `unit`."""
    font = pillow_font(SMALL_FONT_SIZE, mono=False)
    left, width, height = MARGIN, 480, 22
    for x in range(width):
        colour = bits_colour(BITS_SCALE_TOP * x / (width - 1))
        draw.line((left + x, top, left + x, top + height), fill=colour)
    draw.rectangle((left, top, left + width, top + height), outline=FAINT_INK)
    for tick in range(0, int(BITS_SCALE_TOP) + 1, 2):
        x = left + width * tick / BITS_SCALE_TOP
        draw.line((x, top + height, x, top + height + 6), fill=INK)
        label = f"{tick}+" if tick == BITS_SCALE_TOP else str(tick)
        draw.text((x, top + height + 8), label, font=font, fill=INK, anchor="mt")
    draw.text((left + width + 24, top + height / 2), unit, font=font, fill=INK, anchor="lm")


def render_reading(reading: Reading, surprising: Sequence[int], truncated: bool,
                   unit: str = "bits") -> TextPicture:
    """The Why? picture of a Reading: the text on its bits colours, the `surprising` places
    numbered and listed with the model's top three there, and the legend labelled `unit`."""
    check_drawable(unit, mono=False)
    text = reading.text
    rows = min(rows_needed(text), MAX_LINES)
    text_bottom = MARGIN + rows * LINE_HEIGHT + (FONT_SIZE if truncated else 0)
    row_height = BOX_HEIGHT + 14
    list_top = text_bottom + 24
    legend_top = list_top + len(surprising) * row_height + 16
    height = legend_top + 22 + 8 + SMALL_FONT_SIZE + MARGIN
    try:
        image, draw = new_canvas(height)
        backgrounds = [bits_colour(bits) for bits in reading.bits]
        boxes = draw_grid(draw, text, backgrounds, MARGIN)
        if truncated:
            last = boxes[-1]
            draw.text((MARGIN, last[3] + 4), "…", font=pillow_font(FONT_SIZE), fill=INK)
        for number, index in enumerate(surprising, start=1):
            left, box_top, right, bottom = boxes[index]
            draw.rectangle((left - 1, box_top - 1, right, bottom), outline=INK, width=3)
            _badge(draw, left, box_top - 2, number)
            y = list_top + (number - 1) * row_height
            _badge(draw, MARGIN + SMALL_FONT_SIZE * 0.62, y + BOX_HEIGHT / 2, number)
            x = _character_chip(draw, MARGIN + 40, y, text[index], reading.probabilities[index])
            draw.text((x - 12, y + BOX_HEIGHT / 2), "→", font=pillow_font(FONT_SIZE), fill=INK, anchor="lm")
            x += 28
            for character, probability in reading.expected[index]:
                x = _character_chip(draw, x, y, character, probability)
        _legend(draw, legend_top, unit)
        png = to_png(image)
    except PictureError:
        raise
    except (OSError, ValueError, TypeError, MemoryError) as error:
        raise PictureError(f"The picture could not be drawn ({error}).") from None
    return TextPicture(png, tuple(boxes), PICTURE_WIDTH, height)
