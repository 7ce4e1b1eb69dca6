"""The character alphabet and the text normalising every model shares.

Normalising rule: text is first transliterated to ASCII with `unidecode`
(curly quotes become straight ones, accents are stripped, CJK becomes its romanisation), Windows
and old Mac line endings become "\\n", and any character still outside the alphabet is *dropped*.
Nothing is ever silently mapped to index 0, which is what `str.index`-style tutorial code does to
the first alphabet character when a lookup goes wrong.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import torch
from unidecode import unidecode

from charlm.errors import AlphabetError

DEFAULT_CHARACTERS = string.printable  # the seed post's alphabet: 100 characters


class Alphabet:
    """An ordered set of characters; a character's position is its token id."""

    def __init__(self, characters: str = DEFAULT_CHARACTERS) -> None:
        if not characters:
            raise AlphabetError("An alphabet needs at least one character.")
        if len(set(characters)) != len(characters):
            raise AlphabetError("An alphabet must not repeat a character.")
        self.characters = characters
        self._index = {character: i for i, character in enumerate(characters)}

    def __len__(self) -> int:
        return len(self.characters)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and other.characters == self.characters

    def __hash__(self) -> int:
        return hash(self.characters)

    def __repr__(self) -> str:
        return f"Alphabet({self.characters!r})"

    def __contains__(self, character: str) -> bool:
        return character in self._index

    def normalise(self, text: str) -> str:
        """Transliterate to ASCII, unify line endings and drop characters outside the alphabet."""
        ascii_text = unidecode(text).replace("\r\n", "\n").replace("\r", "\n")
        if all(character in self._index for character in ascii_text):
            return ascii_text
        return "".join(character for character in ascii_text if character in self._index)

    def encode(self, text: str) -> list[int]:
        """Token ids of already-normalised text; an unknown character is an error, never id 0."""
        try:
            return [self._index[character] for character in text]
        except KeyError as error:
            raise AlphabetError(
                f"Character {error.args[0]!r} is not in the alphabet; normalise the text first."
            ) from None

    def encode_tensor(self, text: str) -> torch.Tensor:
        """Token ids as a 1-D int64 tensor (fast path for long texts such as a whole corpus)."""
        if not text:
            return torch.zeros(0, dtype=torch.int64)
        raw = text.encode("latin-1", errors="strict") if text.isascii() else None
        if raw is not None and len(self.characters) <= 256:
            lookup = torch.full((256,), -1, dtype=torch.int64)
            for character, index in self._index.items():
                if ord(character) < 256:
                    lookup[ord(character)] = index
            ids = lookup[torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()]
            if bool((ids < 0).any()):
                bad = text[int((ids < 0).nonzero()[0])]
                raise AlphabetError(
                    f"Character {bad!r} is not in the alphabet; normalise the text first."
                )
            return ids
        return torch.tensor(self.encode(text), dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.characters[i] for i in ids)
