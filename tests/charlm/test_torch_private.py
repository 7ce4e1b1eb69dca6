"""charlm.torch_private: the private PyTorch calls work on this build, and each probe says so
truthfully (a probe that always said True would let a torch upgrade break serving or training)."""

import torch

from charlm import torch_private
from charlm.models import ModelConfig, build_model


def test_the_probes_answer_for_this_cpu_build() -> None:
    cpu = torch.device("cpu")
    assert torch_private.layer_kernels_work()
    assert torch_private.packing_works(cpu, torch.float32) == torch.backends.mkldnn.is_available()
    assert torch_private.packing_works(torch.device("meta"), torch.float32) is False
    assert torch_private.int8_works(torch.device("meta")) is False


def test_packed_and_int8_products_are_the_products_they_stand_for() -> None:
    generator = torch.Generator().manual_seed(0)
    inputs, weight = torch.randn(3, 16, generator=generator), torch.randn(8, 16, generator=generator)
    if torch_private.packing_works(torch.device("cpu"), torch.float32):
        packed = torch_private.pack_linear_weight(weight)
        assert torch.allclose(torch_private.packed_linear(inputs, packed), inputs @ weight.t(), atol=1e-5)
    if torch_private.int8_works(torch.device("cpu")):
        small = torch.randint(-5, 5, (2, 32), dtype=torch.int8, generator=generator)
        other = torch.randint(-5, 5, (32, 4), dtype=torch.int8, generator=generator)
        assert torch.equal(torch_private.int_mm(small, other), small.int() @ other.int())


def test_a_probe_that_finds_the_kernels_broken_sends_training_through_the_module(monkeypatch) -> None:
    # With the layer kernels refused, a multi-layer model with dropout trains through the module
    # itself (PyTorch's own dropout), instead of calling what no longer works.
    model = build_model(ModelConfig("lstm", 10, 8, 4, num_layers=2, dropout=0.2)).train()
    called = []
    monkeypatch.setattr(type(model), "layer_by_layer", lambda *args: called.append(args))
    monkeypatch.setattr("charlm.models.layer_kernels_work", lambda: False)
    logits, _ = model(torch.zeros(2, 5, dtype=torch.long))
    assert logits.shape == (2, 5, 10) and not called
    monkeypatch.setattr("charlm.models.layer_kernels_work", lambda: True)
    monkeypatch.setattr(type(model), "layer_by_layer", lambda self, inputs, state, *rest: called.append(1)
                        or (inputs.new_zeros(2, 5, 8), state))
    model(torch.zeros(2, 5, dtype=torch.long))
    assert called == [1]


def test_the_probes_leave_the_global_random_generator_where_it_was() -> None:
    torch_private.layer_kernels_work.cache_clear()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    assert torch_private.layer_kernels_work()
    assert torch.equal(torch.rand(3), expected)
