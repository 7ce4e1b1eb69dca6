"""Read a text through a model and say how likely the model found each character.

    reading = read_through(loaded.model, loaded.alphabet, "ROMEO:\nI will.", temperature=0.8)
    reading.text[i], reading.probabilities[i], reading.bits[i], reading.expected[i]

The text is normalised as sampling normalises a seed (charlm.alphabet: transliterated, characters
outside the alphabet dropped); `changed` says whether that altered it. The model first reads
`context` (not scored: by default a newline, the CLI's default seed), then the text in one forward
pass. Each character's probability is the one sampling would have given it at that place, from
the same softmax with the same temperature and top-k (charlm.sampling.next_token_probabilities),
so a reply explained with its own settings is scored by the distribution it was drawn from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from charlm.alphabet import Alphabet
from charlm.errors import AlphabetError
from charlm.models import CharModel
from charlm.sampling import DEFAULT_TEMPERATURE, check_sampling_options, next_token_probabilities

TOP_ALTERNATIVES = 3
DEFAULT_CONTEXT = "\n"


@dataclass(frozen=True)
class Reading:
    """One text as the model read it: per character, its probability, bits and the model's top 3."""

    text: str  # normalised: what the model read and what is scored
    probabilities: tuple[float, ...]
    expected: tuple[tuple[tuple[str, float], ...], ...]  # per character: the top 3 (char, probability)
    temperature: float
    top_k: int | None
    changed: bool  # normalising altered the text (transliterated or dropped characters)

    @property
    def bits(self) -> tuple[float, ...]:
        """-log2 of each probability; infinite where top-k ruled the character out."""
        return tuple(-math.log2(p) if p > 0 else math.inf for p in self.probabilities)

    @property
    def bits_per_char(self) -> float:
        return sum(self.bits) / len(self.text)

    def most_surprising(self, count: int, apart: int = 3) -> list[int]:
        """Positions of the `count` least likely characters at least `apart` characters from each
        other (so their marks do not overlap), in text order; ties go to the earlier."""
        chosen: list[int] = []
        for index in sorted(range(len(self.text)), key=lambda i: (self.probabilities[i], i)):
            if len(chosen) == count:
                break
            if all(abs(index - other) >= apart for other in chosen):
                chosen.append(index)
        return sorted(chosen)


def _fallback_context(alphabet: Alphabet) -> str:
    """A context that normalises to nothing becomes a newline (or the alphabet's first character)."""
    return DEFAULT_CONTEXT if DEFAULT_CONTEXT in alphabet else alphabet.characters[0]


@torch.inference_mode()
def read_through(model: CharModel, alphabet: Alphabet, text: str,
                 temperature: float = DEFAULT_TEMPERATURE, top_k: int | None = None,
                 context: str = DEFAULT_CONTEXT, max_characters: int | None = None) -> Reading:
    """Score `text` (normalised, then cut to `max_characters`) after `context`; see the module doc.

    A context that normalises to nothing (or "") is read as a newline.
    """
    check_sampling_options(temperature, 1, top_k)
    normalised = alphabet.normalise(text)
    changed = normalised != text
    if max_characters is not None:
        normalised = normalised[:max_characters]
    if not normalised:
        raise AlphabetError("The text has no characters the model knows, even after normalising.")
    primer = alphabet.normalise(context) or _fallback_context(alphabet)
    device = next(model.parameters()).device
    ids = alphabet.encode_tensor(primer + normalised).to(device)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(ids[None, :-1], None)
    finally:
        model.train(was_training)
    logits = logits[0, len(primer) - 1:]
    probabilities = next_token_probabilities(logits, temperature, top_k).cpu()
    targets = ids[len(primer):].cpu()
    chosen = probabilities.gather(1, targets[:, None])[:, 0].tolist()
    top = torch.topk(probabilities, min(TOP_ALTERNATIVES, probabilities.shape[1]), dim=1)
    expected = tuple(
        tuple((alphabet.characters[int(index)], float(value))
              for value, index in zip(values, indices, strict=True))
        for values, indices in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    )
    return Reading(normalised, tuple(chosen), expected, float(temperature), top_k, changed)
