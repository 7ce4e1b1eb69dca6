"""The four character-level models, behind one interface.

Every model maps token ids `[batch, time]` and a recurrent state to logits `[batch, time, vocab]`
and the next state, and can build the all-zero initial state for a batch:

    logits, state = model(ids, state)
    state = model.initial_state(batch_size, device)

`scratch` is the seed post's first model: one-hot input and a hand-written Elman cell with the
three weights U (input->hidden), W (hidden->hidden) and V (hidden->output), stepping through time
in Python. `rnn`, `lstm` and `gru` embed the ids and call PyTorch's fused whole-sequence module,
so the time loop runs inside one kernel call instead of one Python call per character.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from charlm.errors import CheckpointError
from charlm.torch_private import flat_weight_names, layer_kernels_work, recurrent_kernel

MODEL_KINDS = ("scratch", "rnn", "lstm", "gru")

# An LSTM's state is (hidden, cell); the others carry a single hidden tensor.
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]  # noqa: UP007 (runtime alias on 3.10)


@dataclass(frozen=True)
class ModelConfig:
    kind: str
    vocab_size: int
    hidden_size: int
    embedding_dim: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    weight_drop: float = 0.0  # training only: DropConnect on the hidden-to-hidden weights

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"Unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}.")
        if self.vocab_size < 1 or self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError("vocab_size, hidden_size and num_layers must all be at least 1.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1).")
        if not 0.0 <= self.weight_drop < 1.0:
            raise ValueError("weight_drop must be in [0, 1).")
        if self.weight_drop and self.kind == "scratch":
            raise ValueError("weight_drop applies to rnn, lstm and gru only.")

    def to_dict(self) -> dict:
        return asdict(self)


class CharModel(nn.Module):
    """Shared interface; subclasses implement `forward` and `initial_state`."""

    config: ModelConfig

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        raise NotImplementedError

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


class ScratchRNN(CharModel):
    """The seed's hand-written Elman cell: h_t = tanh(U x_t + W h_{t-1}), y_t = V h_t."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.U = nn.Linear(config.vocab_size, config.hidden_size)
        self.W = nn.Linear(config.hidden_size, config.hidden_size)
        self.V = nn.Linear(config.hidden_size, config.vocab_size)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch_size, self.config.hidden_size, device=device)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        batch_size, steps = ids.shape
        hidden = self.initial_state(batch_size, ids.device) if state is None else state
        one_hot = F.one_hot(ids, self.config.vocab_size).to(self.U.weight.dtype)
        outputs = []
        for t in range(steps):  # one Python step per character, exactly as the seed post
            hidden = torch.tanh(self.U(one_hot[:, t]) + self.W(hidden))
            outputs.append(self.V(hidden))
        return torch.stack(outputs, dim=1), hidden


_RECURRENT_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentLM(CharModel):
    """Embedding -> fused nn.RNN / nn.LSTM / nn.GRU -> dropout -> linear decoder.

    With `weight_drop` > 0, training also drops hidden-to-hidden weights (DropConnect, as in
    Merity et al.'s AWD-LSTM): one mask per weight matrix per call, shared by every time step and
    every sequence of the batch, so the fused kernel still runs the whole sequence in one call.

    Dropout (on the embeddings, between layers and before the decoder) draws its masks with
    `cpu_dropout` when training on CPU, which is why a multi-layer model trains through
    `layer_by_layer` there; elsewhere the module and F.dropout do it all.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.rnn = _RECURRENT_MODULES[config.kind](
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        hidden = torch.zeros(shape, device=device, dtype=self.decoder.weight.dtype)
        if self.config.kind == "lstm":
            return hidden, torch.zeros_like(hidden)
        return hidden

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.initial_state(ids.shape[0], ids.device)
        embedded = self._dropout(self.embedding(ids))
        weights = None
        if self.training and self.config.weight_drop > 0:
            weights = {name: self._dropout(value, self.config.weight_drop) if name.startswith("weight_hh")
                       else value for name, value in self.rnn.named_parameters()}
        if (self.training and self.config.dropout > 0 and self.config.num_layers > 1
                and ids.device.type == "cpu" and layer_kernels_work()):
            output, state = self.layer_by_layer(embedded, state, weights, self.config.dropout)
        elif weights is None:
            output, state = self.rnn(embedded, state)
        else:
            output, state = torch.func.functional_call(self.rnn, weights, (embedded, state))
        return self.decoder(self._dropout(output)), state

    def _dropout(self, inputs: torch.Tensor, p: float | None = None) -> torch.Tensor:
        """Training-time dropout: `cpu_dropout` on CPU, PyTorch's fused kernel elsewhere."""
        p = self.config.dropout if p is None else p
        if not self.training or p == 0:
            return inputs
        return cpu_dropout(inputs, p) if inputs.device.type == "cpu" else F.dropout(inputs, p)

    def layer_by_layer(self, inputs: torch.Tensor, state: State,
                       weights: dict[str, torch.Tensor] | None, between: float) -> tuple[torch.Tensor, State]:
        """The recurrent module one layer at a time, with `between` dropout on each layer's output
        but the last (`cpu_dropout` while training).

        It computes what `self.rnn(inputs, state)` does with that dropout. On CPU the module runs
        one oneDNN call per layer anyway (measured); making the calls here lets the mask between
        layers be drawn the faster way. The calls are the module's own (what nn.RNN, nn.LSTM and
        nn.GRU call: charlm.torch_private.recurrent_kernel), so autocast treats them the same.
        """
        self.rnn.check_forward_args(inputs, state, None)  # the module's own shape checks
        weights = weights if weights is not None else dict(self.rnn.named_parameters())
        names = flat_weight_names(self.rnn)
        per_layer = len(names) // self.config.num_layers
        run = recurrent_kernel(self.config.kind)
        hidden, cell = state if isinstance(state, tuple) else (state, None)
        outputs = inputs
        finals: list[list[torch.Tensor]] = [[], []]
        for layer in range(self.config.num_layers):
            if layer:
                outputs = self._dropout(outputs, between)
            params = [weights[name] for name in names[layer * per_layer:(layer + 1) * per_layer]]
            layer_state = hidden[layer:layer + 1]
            if cell is not None:
                outputs, new_hidden, new_cell = run(outputs, (layer_state, cell[layer:layer + 1]), params,
                                                    True, 1, 0.0, self.training, False, True)
                finals[1].append(new_cell)
            else:
                outputs, new_hidden = run(outputs, layer_state, params, True, 1, 0.0, self.training,
                                          False, True)
            finals[0].append(new_hidden)
        new_state = torch.cat(finals[0])
        return outputs, ((new_state, torch.cat(finals[1])) if cell is not None else new_state)


def cpu_dropout(inputs: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout with a cheaper mask: 16 random bits per element instead of a Bernoulli draw.

    PyTorch's CPU dropout draws one Bernoulli sample per element with `bernoulli_`, a large share
    of a bf16 training step. Here each 64-bit draw of the generator gives four elements their
    16-bit uniform numbers, and the kept elements are multiplied by the boolean mask, then the
    scale, without building a float mask first (the timings behind this: docs/experiments.md). An element
    is dropped with probability round(65536 p) / 65536 (within 1/131072 of p) and the kept ones are
    scaled by the inverse of the exact keep probability, so the expected value is unchanged.
    Gradients flow through the kept elements only, as with F.dropout.
    """
    dropped_below = min(round(p * 65536), 65535)
    if dropped_below == 0:
        return inputs
    count = inputs.numel()
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=inputs.device)
    words.random_(-2**63, 2**63 - 1)  # the full 64-bit range: every 16-bit part is uniform
    uniform16 = words.view(torch.int16)[:count].view(inputs.shape)
    return inputs.mul(uniform16 >= dropped_below - 32768).mul_(65536 / (65536 - dropped_below))


def build_model(config: ModelConfig) -> CharModel:
    if config.kind == "scratch":
        return ScratchRNN(config)
    return RecurrentLM(config)


def detach_state(state: State) -> State:
    """Cut the autograd history of a state carried from one batch to the next (truncated BPTT)."""
    if isinstance(state, tuple):
        return tuple(part.detach() for part in state)  # type: ignore[return-value]
    return state.detach()


def config_from_dict(values: dict) -> ModelConfig:
    """Build a ModelConfig from checkpoint metadata, turning any mismatch into a CheckpointError."""
    try:
        return ModelConfig(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(str(error)) from None
