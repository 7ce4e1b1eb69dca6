import math

import pytest
import torch

from charlm.alphabet import Alphabet
from charlm.errors import SamplingError
from charlm.sampling import next_token_probabilities, pick, sample
from tests.helpers import tiny_model


def test_same_rng_seed_same_text_and_other_seeds_differ() -> None:
    model, alphabet = tiny_model("gru"), Alphabet()
    first = sample(model, alphabet, "ROMEO:", 1.0, 60, rng_seed=7)
    assert first == sample(model, alphabet, "ROMEO:", 1.0, 60, rng_seed=7)
    assert len(first) == 60
    assert first != sample(model, alphabet, "ROMEO:", 1.0, 60, rng_seed=8)


def test_the_whole_seed_primes_the_model() -> None:
    """Greedy output follows the whole seed; the seed post fed only its last character."""
    model, alphabet = tiny_model("lstm"), Alphabet()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)  # sharper dynamics, so earlier characters visibly change the state
    seed = "JULIET:"
    whole = model(torch.tensor([alphabet.encode(seed)]))[0][0, -1].argmax().item()
    last_only = model(torch.tensor([alphabet.encode(seed[-1])]))[0][0, -1].argmax().item()
    assert whole != last_only  # otherwise this test could not tell the two apart
    greedy = sample(model, alphabet, seed, 1.0, 1, top_k=1)
    assert greedy == alphabet.characters[whole]


def test_top_k_one_is_greedy() -> None:
    model, alphabet = tiny_model("rnn"), Alphabet()
    greedy = {sample(model, alphabet, "a", 1.0, 30, top_k=1, rng_seed=seed) for seed in range(4)}
    assert len(greedy) == 1


def test_tiny_temperature_stays_finite() -> None:
    logits = torch.tensor([[1000.0, 999.0, -50.0]])
    probabilities = next_token_probabilities(logits, 1e-3)
    assert torch.isfinite(probabilities).all()
    assert pick(probabilities, torch.tensor([0.99])).item() == 0


@pytest.mark.parametrize(
    ("temperature", "length", "top_k", "message"),
    [(0, 10, None, "above 0"), (-1, 10, None, "above 0"), (math.nan, 10, None, "finite"),
     (math.inf, 10, None, "finite"), ("hot", 10, None, "number"), (0.8, 0, None, "Length"),
     (0.8, -5, None, "Length"), (0.8, 10**9, None, "Length"), (0.8, 10, 0, "top-k"),
     (10**400, 10, None, "between"), (0.8, 10**400, None, "Length")],
)
def test_bad_options_are_refused(temperature, length, top_k, message) -> None:
    with pytest.raises(SamplingError, match=message):
        sample(tiny_model("lstm"), Alphabet(), "a", temperature, length, top_k)


@pytest.mark.parametrize("rng_seed", [-1, 2**64, 10**400, 1.5, True])
def test_an_rng_seed_outside_64_bits_is_refused(rng_seed) -> None:
    with pytest.raises(SamplingError, match="RNG seed must be a whole number from 0 to 2"):
        sample(tiny_model("lstm"), Alphabet(), "a", 0.8, 10, rng_seed=rng_seed)


def test_a_seed_with_nothing_left_after_normalising_is_refused() -> None:
    with pytest.raises(SamplingError, match="no characters"):
        sample(tiny_model("lstm"), Alphabet(), "\u200d\u200e", 0.8, 10)


def test_pick_never_returns_a_zero_probability_id() -> None:
    probabilities = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.5, 0.5, 0.0]])
    assert pick(probabilities, torch.tensor([0.0, 0.0])).tolist() == [2, 1]
    assert pick(probabilities, torch.tensor([0.999999, 0.999999])).tolist() == [3, 2]
