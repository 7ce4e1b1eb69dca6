"""Building the /shakespeare reply: seed plus text in a code block that nothing can break out of.

Inside a code block Discord renders no markdown, links, headings or mention chips, so the seed a
user typed and the text a model produced are shown exactly as written. The one way out of a code
block is a run of backticks; a zero-width space after every backtick means two never meet.
Pings are prevented separately: every message is sent with allowed mentions off.
"""

from __future__ import annotations

from discord.utils import escape_markdown

from bot.i18n import Phrase, localize

MESSAGE_LIMIT = 2000  # Discord's limit on a message's content
ZERO_WIDTH_SPACE = "\u200b"
ELLIPSIS = "\u2026"
_OPEN = "```\n"  # the newline keeps the seed's first word from being read as a language name
_CLOSE = "\n```"
# However short the room, this much of a long seed stays visible before the text is cut instead.
SEED_SHOWN_AT_LEAST = 200
SHORTENED, CUT = Phrase("seed shortened"), Phrase("text cut to fit")
ATTACHED = Phrase("the whole text is in shakespeare.txt")


def discord_length(text: str) -> int:
    """Length in UTF-16 code units, never less than the count Discord checks against its limit."""
    return len(text) + sum(1 for character in text if ord(character) > 0xFFFF)


def neutralise_code(text: str) -> str:
    """Text that cannot close the code block it is put in."""
    return text.replace("`", "`" + ZERO_WIDTH_SPACE)


def _head(text: str, room: int) -> str:
    """The longest start of `text` whose discord_length is at most `room`."""
    used = 0
    for index, character in enumerate(text):
        used += discord_length(character)
        if used > room:
            return text[:index]
    return text


def _tail(text: str, room: int) -> str:
    return _head(text[::-1], room)[::-1]


def fits_whole(seed: str, text: str, *, model: str, temperature: float, locale: object = "en") -> bool:
    """Whether `generation_reply` would show all of `text` (the seed may still be shortened)."""
    reply = generation_reply(seed, text, model=model, temperature=temperature, locale=locale)
    header = reply.split("\n", 1)[0]
    return localize(CUT, locale) not in header


def continuation_reply(text: str, *, model: str, temperature: float, locale: object = "en",
                       attached: bool = False) -> str:
    """A message that goes on from the one it replies to: the header says so, the text is cut at
    its end if it does not fit (it never does not: a continuation is at most MAX_LENGTH)."""
    header = _header(model, temperature, [Phrase("continued"), *([ATTACHED] if attached else [])], locale)
    room = MESSAGE_LIMIT - discord_length(header) - len("\n") - len(_OPEN) - len(_CLOSE)
    shown = neutralise_code(text)
    if discord_length(shown) > room:
        shown = _head(shown, room - len(ELLIPSIS)) + ELLIPSIS
    return f"{header}\n{_OPEN}{shown}{_CLOSE}"


def generation_reply(seed: str, text: str, *, model: str, temperature: float, locale: object = "en",
                     attached: bool = False) -> str:
    """The message for one generation: a small header, then seed and text in a code block.

    When the whole does not fit in MESSAGE_LIMIT, the seed is shown by its end (what the model continued
    from), then the text is cut at its end; the header says which happened.
    """
    shown_seed, shown_text = neutralise_code(seed), neutralise_code(text)
    notes: list[str] = []
    # The longest header this reply can have, so the room below holds whatever notes are added.
    room = MESSAGE_LIMIT - discord_length(_header(model, temperature, [SHORTENED, CUT, ATTACHED], locale))
    room -= len("\n") + len(_OPEN) + len(_CLOSE)
    if discord_length(shown_seed) + discord_length(shown_text) > room:
        seed_floor = min(SEED_SHOWN_AT_LEAST, room // 2)
        seed_room = max(seed_floor, room - discord_length(shown_text)) - len(ELLIPSIS)
        if discord_length(shown_seed) > seed_room:
            shown_seed = ELLIPSIS + _tail(shown_seed, seed_room)
            notes.append(SHORTENED)
        text_room = room - discord_length(shown_seed)
        if discord_length(shown_text) > text_room:
            shown_text = _head(shown_text, text_room - len(ELLIPSIS)) + ELLIPSIS
            notes.append(ATTACHED if attached else CUT)
    return f"{_header(model, temperature, notes, locale)}\n{_OPEN}{shown_seed}{shown_text}{_CLOSE}"


def _header(model: str, temperature: float, notes: list[str], locale: object) -> str:
    said = [localize(Phrase("temperature {value}", value=f"{temperature:g}"), locale),
            *(localize(note, locale) for note in notes)]
    details = ", ".join([escape_markdown(model), *said])
    return f"*{details}*"
