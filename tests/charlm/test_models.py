import pytest
import torch
import torch.nn.functional as F

from charlm.alphabet import Alphabet
from charlm.hello import HELLO_SENTENCE, recite, train_hello
from charlm.models import MODEL_KINDS, ModelConfig, build_model, cpu_dropout
from charlm.training import TrainConfig, make_optimizer, train_step
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


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_by_layer_computes_what_the_module_does(kind: str) -> None:
    """Training on CPU runs the layers one call each (to draw the dropout between them itself);
    without dropout that must be exactly the fused module, outputs and final state."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind, 100, 32, 8, 3, dropout=0.3)).train()
    inputs = torch.randn(4, 9, 8)
    state = model.initial_state(4)
    state = tuple(part.normal_() for part in state) if isinstance(state, tuple) else state.normal_()
    outputs, final = model.layer_by_layer(inputs, state, None, 0.0)
    model.rnn.dropout = 0.0
    expected_outputs, expected_final = model.rnn(inputs, state)
    torch.testing.assert_close(outputs, expected_outputs, rtol=0, atol=0)
    finals = final if isinstance(final, tuple) else (final,)
    expected = expected_final if isinstance(expected_final, tuple) else (expected_final,)
    for part, expected_part in zip(finals, expected, strict=True):
        torch.testing.assert_close(part, expected_part, rtol=0, atol=0)
    # Weights passed in (DropConnect's) are the ones used: zeroed recurrent weights change the result.
    weights = {name: value * 0 if name.startswith("weight_hh") else value
               for name, value in model.rnn.named_parameters()}
    other, _ = model.layer_by_layer(inputs, state, weights, 0.0)
    assert not torch.allclose(other, outputs)
    dropped, _ = model.layer_by_layer(inputs, state, None, 0.5)  # dropout between the layers
    assert not torch.allclose(dropped, outputs)
    # The module's shape checks hold here too: a state for another batch size is refused.
    with pytest.raises(RuntimeError, match="Expected hidden"):
        model.layer_by_layer(inputs[:3], state, None, 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cpu_dropout_drops_p_and_keeps_the_expected_value(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    inputs = torch.ones(3, 66_667, dtype=dtype, requires_grad=True)  # an odd number of elements
    dropped = cpu_dropout(inputs, 0.3)
    assert dropped.shape == inputs.shape and dropped.dtype == dtype
    kept = dropped != 0
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.005
    scale = 65536 / (65536 - round(0.3 * 65536))
    assert torch.equal(dropped[kept], torch.full_like(dropped[kept], scale))
    dropped.sum().backward()  # the gradient is the same mask and scale
    assert torch.equal(inputs.grad, dropped.detach())
    assert not torch.equal(cpu_dropout(inputs, 0.3), dropped)  # a fresh mask each call
    torch.manual_seed(1)
    first = cpu_dropout(inputs, 0.5)
    torch.manual_seed(1)
    assert torch.equal(cpu_dropout(inputs, 0.5), first)  # drawn from torch's seeded generator
    assert cpu_dropout(inputs, 1e-7) is inputs  # below 1/65536 nothing is dropped


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_dropout_only_while_training(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind, 100, 32, 8, 2, dropout=0.4))
    ids = torch.randint(0, 100, (3, 9))
    model.train()
    first, second = model(ids)[0], model(ids)[0]
    assert not torch.allclose(first, second)
    model.eval()
    plain = build_model(ModelConfig(kind, 100, 32, 8, 2)).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(ids)[0], plain(ids)[0], rtol=0, atol=0)


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


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_two_layers_with_dropout_train_through_train_step(kind: str, precision: str) -> None:
    """train.py's step on a 2-layer model with dropout (the layer-by-layer path, under autocast for
    bf16): the loss falls and the carried state keeps its shape."""
    torch.manual_seed(0)
    alphabet = Alphabet()
    model = build_model(ModelConfig(kind, len(alphabet), 48, 16, 2, dropout=0.2)).train()
    ids = torch.tensor(alphabet.encode(TINY_TEXT)).unfold(0, 33, 32)
    config = TrainConfig(model=kind, learning_rate=1e-2, warmup_steps=0)
    optimizer = make_optimizer(model, config)
    state = model.initial_state(len(ids))
    losses = []
    for _ in range(40):
        loss, state = train_step(model, optimizer, ids[:, :-1], ids[:, 1:], state, 1.0, precision)
        losses.append(loss.item())
    parts = state if isinstance(state, tuple) else (state,)
    assert all(part.shape == (2, len(ids), 48) and not part.requires_grad for part in parts)
    assert sum(losses[-5:]) / 5 < 0.75 * losses[0]


def test_the_seed_posts_hello_demo_is_reproduced_exactly() -> None:
    model, alphabet = train_hello(epochs=150)
    assert recite(model, alphabet) == HELLO_SENTENCE
