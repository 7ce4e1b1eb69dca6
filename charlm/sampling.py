"""Temperature sampling, primed with the whole seed text.

The seed post scaled logits with `output.div(temp).exp()` and fed only the last seed character.
Here the whole seed primes the state, and probabilities come from a max-subtracted softmax, which
gives the same distribution without overflowing for small temperatures.
"""

from __future__ import annotations

import math

import torch

from charlm.alphabet import Alphabet
from charlm.errors import SamplingError
from charlm.models import CharModel

# What a request gets when it names no temperature or length: the engine's, the CLI's and the bot's.
DEFAULT_TEMPERATURE = 0.8
DEFAULT_LENGTH = 400
# What the sampler can compute at all (below 1e-3 the softmax is argmax in all but name); a caller
# that serves people narrows these (the bot's own ranges are in bot/storage/settings.py).
SAMPLER_TEMPERATURE_RANGE = (1e-3, 100.0)
SAMPLER_MAX_LENGTH = 100_000


def check_sampling_options(temperature: float, length: int, top_k: int | None = None,
                           max_length: int = SAMPLER_MAX_LENGTH, rng_seed: int | None = None) -> None:
    """Raise SamplingError with one sentence when an option is outside its range.

    Comparisons, not float(), so an integer too large for a float (10**400) is refused like any
    other value out of range instead of raising OverflowError.
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise SamplingError("Temperature must be a number.")
    if not 0 < temperature < math.inf:  # also false for NaN
        raise SamplingError(f"Temperature must be a finite number above 0, not {_shown(temperature)}.")
    lowest, highest = SAMPLER_TEMPERATURE_RANGE
    if not lowest <= temperature <= highest:
        raise SamplingError(
            f"Temperature must be between {lowest} and {highest:g}, "
            f"not {_shown(temperature)}."
        )
    if isinstance(length, bool) or not isinstance(length, int):
        raise SamplingError("Length must be a whole number.")
    if not 1 <= length <= max_length:
        raise SamplingError(f"Length must be between 1 and {max_length}, not {_shown(length)}.")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise SamplingError(f"top-k must be a whole number of at least 1, not {_shown(top_k)}.")
    if rng_seed is not None and (isinstance(rng_seed, bool) or not isinstance(rng_seed, int)
                                 or not 0 <= rng_seed < 2**64):
        raise SamplingError(
            f"The RNG seed must be a whole number from 0 to 2**64 - 1, not {_shown(rng_seed)}.")


def _shown(value: object) -> str:
    """A value as the user typed it, cut short: a 400-digit number would drown the sentence."""
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


def next_token_probabilities(logits: torch.Tensor, temperature: torch.Tensor | float,
                             top_k: int | None = None) -> torch.Tensor:
    """Probabilities over the alphabet for each row of `logits` ([batch, vocab])."""
    scaled = logits.float() / temperature
    if top_k is not None and top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def pick(probabilities: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: one id per row, given one uniform number in [0, 1) per row.

    Drawing the uniform numbers separately lets every request own its RNG while the pick itself
    runs batched; a request therefore gets the same text alone or inside a batch.
    """
    cumulative = probabilities.cumsum(dim=-1)
    cumulative = cumulative / cumulative[..., -1:]
    # right=True: a uniform of exactly 0 lands after any leading zero-probability (masked) ids.
    ids = torch.searchsorted(cumulative, uniforms.unsqueeze(-1).to(cumulative.dtype), right=True)
    return ids.squeeze(-1).clamp_(max=probabilities.shape[-1] - 1)


def prepare_seed(alphabet: Alphabet, seed: str) -> str:
    normalised = alphabet.normalise(seed)
    if not normalised:
        raise SamplingError("The seed has no characters the model knows, even after normalising.")
    return normalised


@torch.inference_mode()
def sample(model: CharModel, alphabet: Alphabet, seed: str, temperature: float = DEFAULT_TEMPERATURE,
           length: int = DEFAULT_LENGTH, top_k: int | None = None, rng_seed: int | None = None) -> str:
    """Generate `length` characters after `seed`; returns only the generated characters."""
    check_sampling_options(temperature, length, top_k, rng_seed=rng_seed)
    seed = prepare_seed(alphabet, seed)
    generator = torch.Generator()
    if rng_seed is None:
        generator.seed()
    else:
        generator.manual_seed(rng_seed)
    device = next(model.parameters()).device
    ids = torch.tensor([alphabet.encode(seed)], device=device)
    was_training = model.training
    model.eval()
    logits, state = model(ids, None)
    produced: list[int] = []
    for _ in range(length):
        probabilities = next_token_probabilities(logits[:, -1], temperature, top_k)
        uniform = torch.rand(1, generator=generator)
        next_id = pick(probabilities.cpu(), uniform)
        produced.append(int(next_id))
        logits, state = model(next_id.view(1, 1).to(device), state)
    model.train(was_training)
    return alphabet.decode(produced)
