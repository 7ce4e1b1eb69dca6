import pytest
import torch
import torch.nn.functional as F

from charlm.alphabet import Alphabet
from charlm.hello import HELLO_SENTENCE, recite, train_hello
from charlm.models import MODEL_KINDS, ModelConfig, build_model
from tests.helpers import TINY_TEXT, tiny_model


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_forward_shapes_and_state(kind: str, num_layers: int) -> None:
    model = tiny_model(kind, num_layers=num_layers)
    ids = torch.randint(0, 100, (3, 7))
    logits, state = model(ids, model.initial_state(3))
    assert logits.shape == (3, 7, 100)
    parts = state if isinstance(state, tuple) else (state,)
    initial = model.initial_state(3)
    for part, zero in zip(parts, initial if isinstance(initial, tuple) else (initial,), strict=True):
        assert part.shape == zero.shape
        assert not torch.equal(part, zero)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_carrying_state_equals_one_long_call(kind: str) -> None:
    """Two consecutive windows with the state carried give the same logits as one window."""
    model = tiny_model(kind, num_layers=2)
    ids = torch.randint(0, 100, (2, 10))
    whole, _ = model(ids, None)
    first, state = model(ids[:, :4], None)
    second, _ = model(ids[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, rtol=1e-5, atol=1e-5)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown model kind"):
        ModelConfig("transformer", 100, 32)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_weight_drop_masks_recurrent_weights_only_while_training(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind, 100, 32, 8, 2, weight_drop=0.4))
    before = {name: value.clone() for name, value in model.state_dict().items()}
    ids = torch.randint(0, 100, (3, 9))
    model.eval()
    plain = build_model(ModelConfig(kind, 100, 32, 8, 2)).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(ids)[0], plain(ids)[0])  # no effect when not training

    model.train()
    first, _ = model(ids)
    first.sum().backward()
    assert not torch.allclose(first, model(ids)[0])  # a fresh mask each call
    for name, value in model.rnn.named_parameters():
        zero_gradient = (value.grad == 0).float().mean().item()
        if name.startswith("weight_hh"):
            assert 0.3 < zero_gradient < 0.5  # dropped entries get no gradient
        else:
            assert zero_gradient < 0.05
    for name, value in model.state_dict().items():  # the mask never touches the stored weights
        torch.testing.assert_close(value, before[name])


def test_weight_drop_is_validated() -> None:
    with pytest.raises(ValueError, match=r"weight_drop must be in \[0, 1\)"):
        ModelConfig("lstm", 100, 32, weight_drop=1.0)
    with pytest.raises(ValueError, match="rnn, lstm and gru only"):
        ModelConfig("scratch", 100, 32, weight_drop=0.2)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_a_short_training_run_lowers_the_loss(kind: str) -> None:
    torch.manual_seed(0)
    alphabet = Alphabet()
    model = build_model(ModelConfig(kind, len(alphabet), 48, 16, 1)).train()
    ids = torch.tensor(alphabet.encode(TINY_TEXT)).unfold(0, 33, 32)[:8]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_now() -> torch.Tensor:
        logits, _ = model(ids[:, :-1], None)
        return F.cross_entropy(logits.reshape(-1, 100), ids[:, 1:].reshape(-1))

    first = loss_now().item()
    for _ in range(40):
        loss = loss_now()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss_now().item() < 0.7 * first


def test_the_seed_posts_hello_demo_is_reproduced_exactly() -> None:
    model, alphabet = train_hello(epochs=150)
    assert recite(model, alphabet) == HELLO_SENTENCE
