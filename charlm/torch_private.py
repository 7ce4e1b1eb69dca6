"""Every private PyTorch call charlm makes, each beside the probe that guards it.

A torch upgrade may rename or drop any of these; this is the one place to look. Each probe runs
the call on a tiny input, checks the answer, and says False (never raises) where it does not work,
so callers fall back to public APIs:

- oneDNN's prepacked linear (`torch.ops.mkldnn._reorder_linear_weight` / `_linear_pointwise`, what
  PyTorch's inductor uses for frozen CPU models): the engine's steppers pack their weights with it.
- `torch._int_mm`: int8 x int8 -> int32 matrix products, the engine's int8 steppers.
- `torch._VF.rnn_tanh / lstm / gru` and `nn.RNNBase._flat_weights_names`: the calls nn.RNN,
  nn.LSTM and nn.GRU make inside `forward`, which training makes one layer at a time
  (`charlm.models.RecurrentLM.layer_by_layer`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import _VF, nn


def pack_linear_weight(weight: torch.Tensor) -> torch.Tensor:
    """A [out, in] weight in oneDNN's blocked layout, for `packed_linear`."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def packed_linear(inputs: torch.Tensor, packed: torch.Tensor,
                  bias: torch.Tensor | None = None) -> torch.Tensor:
    """inputs @ W^T (+ bias) for a weight from `pack_linear_weight`, in the inputs' dtype."""
    return torch.ops.mkldnn._linear_pointwise(inputs, packed, bias, "none", [], "")


def packing_works(device: torch.device, dtype: torch.dtype) -> bool:
    """True where oneDNN's prepacked linear runs here (a CPU build with oneDNN; not CUDA)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        out = packed_linear(torch.ones(1, 8, dtype=dtype), pack_linear_weight(torch.ones(8, 8, dtype=dtype)))
    except (AttributeError, RuntimeError):
        return False
    return bool(out.float().eq(8).all())


def int_mm(inputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The exact int32 product of int8 `inputs` [rows, in] and int8 `weight` [in, out]."""
    return torch._int_mm(inputs, weight)


def int8_works(device: torch.device) -> bool:
    """True where `torch._int_mm` runs here on the CPU."""
    if device.type != "cpu":
        return False
    try:
        ones = torch.ones(1, 32, dtype=torch.int8)
        return bool(int_mm(ones, torch.ones(32, 32, dtype=torch.int8).t()).eq(32).all())
    except (AttributeError, RuntimeError):
        return False


def recurrent_kernel(kind: str) -> Callable:
    """The function nn.RNN ("rnn"), nn.LSTM ("lstm") or nn.GRU ("gru") calls for its whole sequence.

    Called as kernel(inputs, state, params, has_biases, num_layers, dropout, train, bidirectional,
    batch_first); an LSTM's state is (h, c) and it returns (output, h, c), the others (output, h)."""
    return {"rnn": _VF.rnn_tanh, "lstm": _VF.lstm, "gru": _VF.gru}[kind]


def flat_weight_names(module: nn.RNNBase) -> list[str]:
    """The module's parameter names in the order its kernel takes them, layer by layer."""
    return list(module._flat_weights_names)


@functools.cache
def layer_kernels_work() -> bool:
    """True where running a 2-layer LSTM and GRU one layer at a time through `recurrent_kernel` and
    `flat_weight_names` gives what the modules give; training then falls back to the modules."""
    try:
        # fork_rng: the probe's modules draw their weights from the global generator, which must
        # not move (a seeded training run that probes first would otherwise differ from the next).
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            generator = torch.Generator().manual_seed(0)
            inputs = torch.randn(2, 3, 4, generator=generator)
            for module in (nn.LSTM(4, 4, num_layers=2, batch_first=True),
                           nn.GRU(4, 4, num_layers=2, batch_first=True)):
                expected, _ = module(inputs)
                names, outputs = flat_weight_names(module), inputs
                per_layer = len(names) // 2
                kernel = recurrent_kernel("lstm" if isinstance(module, nn.LSTM) else "gru")
                for layer in range(2):
                    layer_names = names[layer * per_layer:(layer + 1) * per_layer]
                    params = [getattr(module, name) for name in layer_names]
                    zeros = torch.zeros(1, 2, 4)
                    state = (zeros, zeros) if isinstance(module, nn.LSTM) else zeros
                    outputs = kernel(outputs, state, params, True, 1, 0.0, False, False, True)[0]
                if not torch.allclose(outputs, expected, atol=1e-6):
                    return False
    except (AttributeError, RuntimeError, TypeError, IndexError):
        return False
    return True
