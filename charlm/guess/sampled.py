"""A synchronous model for /guess: a checkpoint continued with `charlm.sampling.sample`.

The bot passes its generation engine to `draw_round_async` instead; this is for the CLI, the tests
and anyone with a checkpoint and no engine.
"""

from __future__ import annotations

import random

from charlm.checkpoint import LoadedModel
from charlm.sampling import DEFAULT_TEMPERATURE, sample


class SampledContinuation:
    """`continuation(prompt, length)`: `length` characters the model writes after `prompt`.

    Each call draws its sampling seed from `rng`, so a seeded `rng` makes a run reproducible.
    """

    def __init__(self, loaded: LoadedModel, temperature: float = DEFAULT_TEMPERATURE,
                 rng: random.Random | None = None) -> None:
        self.loaded = loaded
        self.temperature = temperature
        self.rng = rng or random.Random()

    def __call__(self, prompt: str, length: int) -> str:
        return sample(self.loaded.model, self.loaded.alphabet, prompt, self.temperature, length,
                      rng_seed=self.rng.getrandbits(63))
