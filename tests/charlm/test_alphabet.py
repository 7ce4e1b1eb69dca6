import string

import pytest

from charlm.alphabet import Alphabet
from charlm.errors import AlphabetError


def test_default_alphabet_is_string_printable() -> None:
    alphabet = Alphabet()
    assert alphabet.characters == string.printable
    assert len(alphabet) == 100


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\u201cTo be\u201d \u2014 that\u2019s it", '"To be" -- that\'s it'),
        ("Caf\u00e9 na\u00efve \u00c5ngstr\u00f6m", "Cafe naive Angstrom"),
        ("\u5317\u4eac", "Bei Jing "),
        ("line one\r\nline two\rthree", "line one\nline two\nthree"),
    ],
)
def test_normalise_transliterates_to_ascii(raw: str, expected: str) -> None:
    assert Alphabet().normalise(raw) == expected


def test_characters_outside_the_alphabet_are_dropped_not_mapped_to_zero() -> None:
    alphabet = Alphabet("abc ")
    assert alphabet.normalise("a-b!c d") == "abc "
    assert 0 not in alphabet.encode(alphabet.normalise("!!b"))
    assert alphabet.normalise("\u200d\u200e\ufeff\a") == ""  # zero-width, bidi marks, bell


def test_encode_refuses_unknown_characters() -> None:
    with pytest.raises(AlphabetError, match="not in the alphabet"):
        Alphabet("abc").encode("abd")
    with pytest.raises(AlphabetError, match="not in the alphabet"):
        Alphabet("abc").encode_tensor("abd")


def test_encode_tensor_matches_encode_and_decode_round_trips() -> None:
    alphabet = Alphabet()
    text = "ROMEO:\nBut soft! what light through yonder window breaks?\t~"
    assert alphabet.encode_tensor(text).tolist() == alphabet.encode(text)
    assert alphabet.decode(alphabet.encode(text)) == text


def test_bad_alphabets_are_refused() -> None:
    with pytest.raises(AlphabetError):
        Alphabet("")
    with pytest.raises(AlphabetError):
        Alphabet("aa")
