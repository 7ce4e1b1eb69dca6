"""One character per call for many streams at once: the generation engine's step functions.

A stepper keeps the recurrent state of up to `capacity` rows in buffers allocated once, and
`stepper.step(ids, rows)` advances rows `[0, rows)` by one character, returning their next-character
logits `[rows, vocab]` in float32. Row `i` of every buffer belongs to one stream; the engine moves a
stream to another row with `move_row` when a stream before it leaves, and `clear_row` starts a new
stream from the all-zero state the models were trained from.

For LSTM and GRU models the cell is written out here instead of calling `nn.LSTM` once per
character: on CPU a one-character call of the fused module costs several milliseconds for the
shipped LSTM, nearly all of it fixed per-call cost of PyTorch's oneDNN RNN path rather than
arithmetic (measured), and that is most of what made the seed post's loop slow. Layer 0's input
projection does not depend on the state, so it is precomputed as one table row per character
(embedding @ W_ih^T + biases) and a step is: a table lookup, one recurrent matrix product per layer
(plus the input product for layers above the first), the gates and the decoder.

Every tanh is computed as 2 * sigmoid(2x) - 1: PyTorch's CPU tanh is several times slower per
element than its sigmoid (measured). For the tanh gates the 2x comes free from their weights and
biases, scaled by 2 when the stepper is built (exact in floating point), so an LSTM's four gates take
one sigmoid over one contiguous block; the LSTM's tanh(c) doubles c first.

The recurrent matrix products can run with bfloat16 weights (`weight_dtype`). Everything carried from
step to step (the LSTM cell, the GRU hidden state) and the decoder stay float32; only the operands of
the big products are rounded, which is what training under bf16 autocast did as well.

With int8 weights (`weight_dtype=torch.int8`, CPU) the products run on integers: each weight row
(one gate unit) is rounded to int8 with its own scale, and the state that feeds a product - an
LSTM's or GRU's h, always within [-1, 1] - is rounded to a multiple of 1/127. The scale of h is
fixed, not measured per batch, so a row's result never depends on its neighbours, and the int32
sums are exact. `torch._int_mm` on AVX512-VNNI does a 64 x 1024 by 1024 x 2048 product in about
half the time of the packed bf16 one (671 vs 1,212 us on one thread, measured while a training run
shared the CPU); the gates, the carried LSTM cell and GRU state, and the decoder stay float32.
bench/stepper_quality.py measures what the rounding costs: +0.0001 nats/char for the shipped models.

On CPU the product weights are packed once into oneDNN's blocked layout (the prepacked linear that
PyTorch's inductor uses for frozen CPU models). For a few rows that halves the time of a product
against `torch.mm` on the same weights (bf16, 4 x 1024 by 1024 x 2048: 102 vs 205 us on one thread;
float32: 191 vs 618 us, measured), and a row's result is bit-identical whatever the number of rows or
threads (tests/charlm/test_engine.py), so a stepper that packs needs no minimum batch (`min_rows`).

`ModuleStepper` serves the other kinds (`scratch`, `rnn`) by calling the model once per character.
"""

from __future__ import annotations

import torch

from charlm.models import CharModel, RecurrentLM
from charlm.torch_private import int8_works, int_mm, pack_linear_weight, packed_linear, packing_works


class Stepper:
    """Shared interface of the three steppers."""

    capacity: int
    vocab_size: int
    # The fewest rows a step computes. MKL's float32 matrix products sum a row in a different order
    # when the product has fewer than 4 rows (a matrix-vector kernel); computing at least 4 (idle
    # rows hold a zero state) keeps every row's arithmetic independent of its neighbours, so a
    # stream gets the same text alone or in a full batch. Packed products need no such floor, and
    # the element-wise kernels treat rows independently when hidden_size is a multiple of 32.
    min_rows: int = 4

    def clear_row(self, row: int) -> None:
        raise NotImplementedError

    def move_row(self, source: int, target: int) -> None:
        raise NotImplementedError

    def step(self, ids: torch.Tensor, rows: int) -> torch.Tensor:
        raise NotImplementedError

    def prime(self, row: int, ids: list[int]) -> None:
        """Put row `row` in the state the model reaches after reading `ids` from the zero state,
        in one whole-sequence call of the trained module (its fused kernel) instead of one step
        per character: a long seed costs one call, not hundreds of steps of the whole batch."""
        with torch.inference_mode():
            _, state = self.module(torch.tensor([ids], dtype=torch.int64, device=self.device), None)
        self.load_row(row, state if isinstance(state, tuple) else (state,))

    def load_row(self, row: int, state: tuple[torch.Tensor, ...]) -> None:
        raise NotImplementedError

    def save_row(self, row: int) -> tuple[torch.Tensor, ...]:
        """Row `row`'s state as the module returns it (`load_row` puts it back exactly)."""
        raise NotImplementedError


def build_stepper(model: CharModel, capacity: int, device: torch.device,
                  weight_dtype: torch.dtype = torch.float32) -> Stepper:
    """The fastest stepper for `model`: hand-written cells for lstm and gru, the module otherwise."""
    if isinstance(model, RecurrentLM) and model.config.kind == "lstm":
        return LSTMStepper(model, capacity, device, weight_dtype)
    if isinstance(model, RecurrentLM) and model.config.kind == "gru":
        return GRUStepper(model, capacity, device, weight_dtype)
    return ModuleStepper(model, capacity, device)


def _rnn_weight(model: RecurrentLM, name: str, layer: int) -> torch.Tensor:
    return getattr(model.rnn, f"{name}_l{layer}").detach().float()


H_LEVELS = 127.0  # int8 products: h in [-1, 1] is stored as round(127 h)
# One row runs fastest on the column-major int8 weight (a matrix-vector kernel: 32 against 92 us for
# 1024 x 2048 on one thread), two or more on the row-major one (96 against 174 us for two rows,
# 669 against 747 us for 64; measured).
INT8_FEW_ROWS = 1


class _Int8Weight:
    """A [gates, in] float weight as int8 rows with one scale each, for inputs of round(127 h).

    Kept in both layouts of the [in, gates] operand: `_int_mm` runs one row fastest on the
    column-major one and more rows on the row-major one (see INT8_FEW_ROWS); integer sums are
    exact, so either gives the same result.
    """

    def __init__(self, matrix: torch.Tensor, device: torch.device) -> None:
        matrix = matrix.double()
        scale = matrix.abs().amax(dim=1).clamp_min(1e-12) / 127.0
        quantized = torch.round(matrix / scale[:, None]).clamp_(-127, 127).to(torch.int8)
        self.column_major = quantized.contiguous().to(device).t()
        self.row_major = quantized.t().contiguous().to(device)
        self.scale = (scale / H_LEVELS).float().to(device)

    def sums(self, inputs: torch.Tensor) -> torch.Tensor:
        """The int32 products of int8 `inputs` [rows, in]; times `scale` they are inputs @ W^T."""
        weight = self.column_major if inputs.shape[0] <= INT8_FEW_ROWS else self.row_major
        return int_mm(inputs, weight)


def _tanh_from_doubled(doubled: torch.Tensor) -> torch.Tensor:
    """tanh(x), in place, given 2x: 2 * sigmoid(2x) - 1 (see the module docstring)."""
    return doubled.sigmoid_().mul_(2).sub_(1)


class _CellStepper(Stepper):
    """What the LSTM and GRU steppers share: the input table, the decoder, mixed-precision products."""

    # Every per-row buffer a subclass keeps (states, cells, bf16 operands) is in row_buffers.
    row_buffers: list[torch.Tensor]

    def clear_row(self, row: int) -> None:
        for buffer in self.row_buffers:
            buffer[row].zero_()

    def move_row(self, source: int, target: int) -> None:
        for buffer in self.row_buffers:
            buffer[target] = buffer[source]

    def __init__(self, model: RecurrentLM, capacity: int, device: torch.device,
                 weight_dtype: torch.dtype, gates: int, tanh_gate: slice) -> None:
        config = model.config
        self.module = model
        self.capacity = capacity
        self.vocab_size = config.vocab_size
        self.hidden_size = config.hidden_size
        self.num_layers = config.num_layers
        self.device = device
        self.weight_dtype = weight_dtype
        self.quantized = weight_dtype == torch.int8
        if self.quantized and not int8_works(device):
            raise ValueError("int8 weights need a CPU where torch._int_mm runs.")
        # The float32 decoder is packed too: MKL's product would otherwise need the 4-row floor.
        self.packed = ((self.quantized or packing_works(device, weight_dtype))
                       and packing_works(device, torch.float32))
        self.min_rows = 1 if self.packed else Stepper.min_rows
        self.gate_scale = torch.ones(gates * config.hidden_size, dtype=torch.float64)
        self.gate_scale[tanh_gate] = 2.0
        with torch.no_grad():
            embedding = model.embedding.weight.detach().float()
            # Computed in float64 so the table is the float32 rounding of the exact sum.
            table = (embedding.double() @ _rnn_weight(model, "weight_ih", 0).double().t()
                     + self._table_bias(model).double())
            self.table = self._gates(table.t()).t().float().contiguous().to(device)
            decoder = model.decoder.weight.detach().float().contiguous().to(device)
            self.decoder_weight = pack_linear_weight(decoder) if self.packed else decoder.t().contiguous()
            self.decoder_bias = model.decoder.bias.detach().float().to(device)
        # The unpacked decoder writes here; the packed one returns a fresh tensor.
        self.logits = None if self.packed else torch.zeros(capacity, self.vocab_size, device=device)

    def _table_bias(self, model: RecurrentLM) -> torch.Tensor:
        raise NotImplementedError

    def _gates(self, values: torch.Tensor) -> torch.Tensor:
        """A [gates, ...] weight or bias with the rows of its tanh gate doubled."""
        return values * self.gate_scale.to(values.dtype).view(-1, *[1] * (values.dim() - 1))

    def _weight(self, matrix: torch.Tensor) -> torch.Tensor:
        """A [gates, in] weight as `_product` takes it: packed (see the module docstring), or else
        the [in, gates] right-hand operand of `x @ W`, kept [gates, in] in memory as nn.Linear does
        (oneDNN's unpacked bf16 product is about 1.6x faster for a few rows that way, measured)."""
        if self.quantized:
            return _Int8Weight(self._gates(matrix), self.device)
        weight = self._gates(matrix).contiguous().to(self.device, self.weight_dtype)
        return pack_linear_weight(weight) if self.packed else weight.t()

    def _product(self, inputs: torch.Tensor, weight) -> torch.Tensor:
        """inputs @ W, in the weights' dtype (not for int8 weights: see _project)."""
        return packed_linear(inputs, weight) if self.packed else torch.mm(inputs, weight)

    def _stored(self, operand: torch.Tensor) -> torch.Tensor:
        """An operand as the float h that `_store` rounds to it again, exactly."""
        return operand.float() / H_LEVELS if self.quantized else operand.float()

    def _store(self, operand: torch.Tensor, value: torch.Tensor) -> None:
        """operand = value (an h in float32), rounded to the operand's dtype (see H_LEVELS)."""
        if self.quantized:
            value = torch.mul(value, H_LEVELS).round_()
        operand.copy_(value)

    def _bias(self, vector: torch.Tensor) -> torch.Tensor:
        return self._gates(vector).contiguous().to(self.device)

    def _state(self, width: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.zeros(self.capacity, width, device=self.device, dtype=dtype or torch.float32)

    def _project(self, out: torch.Tensor, bias: torch.Tensor, inputs: torch.Tensor,
                 weight: torch.Tensor) -> None:
        """out = bias + inputs @ weight, with `out` float32 whatever the weights' dtype."""
        if self.quantized:  # the int32 sums converted, scaled and added in one pass
            torch.addcmul(bias, weight.sums(inputs), weight.scale, out=out)
        elif self.packed or self.weight_dtype != torch.float32:
            torch.add(bias, self._product(inputs, weight), out=out)
        else:
            torch.addmm(bias, inputs, weight, out=out)

    def _accumulate(self, out: torch.Tensor, inputs: torch.Tensor, weight: torch.Tensor) -> None:
        """out += inputs @ weight."""
        if self.quantized:
            out.addcmul_(weight.sums(inputs), weight.scale)
        elif self.packed or self.weight_dtype != torch.float32:
            out.add_(self._product(inputs, weight))
        else:
            out.addmm_(inputs, weight)

    def _decode(self, top: torch.Tensor, rows: int) -> torch.Tensor:
        if self.packed:
            return packed_linear(top, self.decoder_weight, self.decoder_bias)
        return torch.addmm(self.decoder_bias, top, self.decoder_weight, out=self.logits[:rows])


class LSTMStepper(_CellStepper):
    """Multi-layer LSTM, PyTorch's equations and gate order i, f, g, o (g doubled, see above).

    For layers above the first, the input and recurrent products are one product: the layer's
    operand buffer holds [h of the layer below, this layer's previous h] side by side, and the layer
    below writes its new h straight into the left half.
    """

    def __init__(self, model: RecurrentLM, capacity: int, device: torch.device,
                 weight_dtype: torch.dtype) -> None:
        hidden = model.config.hidden_size
        super().__init__(model, capacity, device, weight_dtype, 4, slice(2 * hidden, 3 * hidden))
        layers = self.num_layers
        with torch.no_grad():
            self.weights = [self._weight(_rnn_weight(model, "weight_hh", 0))]
            self.biases: list[torch.Tensor | None] = [None]
            for layer in range(1, layers):
                both = torch.cat([_rnn_weight(model, "weight_ih", layer),
                                  _rnn_weight(model, "weight_hh", layer)], dim=1)
                self.weights.append(self._weight(both))
                bias = _rnn_weight(model, "bias_ih", layer) + _rnn_weight(model, "bias_hh", layer)
                self.biases.append(self._bias(bias))
        # operands[l]: what layer l multiplies by its weights; outputs[l]: where its new h goes.
        # Layer 0's previous h lives in layer 1's operand (left half), so it is written once per step.
        if layers == 1:
            own = self._state(hidden, weight_dtype)
            self.operands, self.outputs = [own], [own]
        else:
            pairs = [self._state(2 * hidden, weight_dtype) for _ in range(1, layers)]
            self.operands = [pairs[0][:, :hidden], *pairs]
            self.outputs = [pairs[0][:, :hidden]] + [pair[:, hidden:] for pair in pairs]
            self.inputs_above = [pair[:, :hidden] for pair in pairs[1:]] + [None]
        self.cells = [self._state(hidden) for _ in range(layers)]
        self.gates = self._state(4 * hidden)
        self.squashed = self._state(hidden)
        self.top = self._state(hidden)  # float32 copy of the top layer's h, for the decoder
        self.row_buffers = [*self.cells, *(pairs if layers > 1 else [own])]

    def _table_bias(self, model: RecurrentLM) -> torch.Tensor:
        return _rnn_weight(model, "bias_ih", 0) + _rnn_weight(model, "bias_hh", 0)

    def load_row(self, row: int, state: tuple[torch.Tensor, ...]) -> None:
        hidden, cell = state  # each [layers, 1, hidden], as nn.LSTM returns them
        for layer in range(self.num_layers):
            self._store(self.outputs[layer][row:row + 1], hidden[layer].float())
            if 0 < layer < self.num_layers - 1:
                self.inputs_above[layer - 1][row:row + 1].copy_(self.outputs[layer][row:row + 1])
            self.cells[layer][row] = cell[layer, 0].float()

    def save_row(self, row: int) -> tuple[torch.Tensor, ...]:
        layers = range(self.num_layers)
        hidden = torch.stack([self._stored(self.outputs[layer][row:row + 1]) for layer in layers])
        cell = torch.stack([self.cells[layer][row:row + 1].clone() for layer in range(self.num_layers)])
        return hidden, cell

    def step(self, ids: torch.Tensor, rows: int) -> torch.Tensor:
        hidden = self.hidden_size
        top_layer = self.num_layers - 1
        gates = self.gates[:rows]
        for layer in range(self.num_layers):
            if layer == 0:
                torch.index_select(self.table, 0, ids, out=gates)
                self._accumulate(gates, self.operands[0][:rows], self.weights[0])
            else:
                self._project(gates, self.biases[layer], self.operands[layer][:rows], self.weights[layer])
            gates.sigmoid_()  # i, f, o, and sigmoid(2g) for the doubled candidate gate g
            candidate = gates[:, 2 * hidden:3 * hidden].mul_(2).sub_(1)  # tanh(g)
            cell = self.cells[layer][:rows]
            cell.mul_(gates[:, hidden:2 * hidden]).addcmul_(gates[:, :hidden], candidate)
            squashed = _tanh_from_doubled(torch.mul(cell, 2, out=self.squashed[:rows]))
            output = self.outputs[layer][:rows]
            if layer == top_layer:
                torch.mul(gates[:, 3 * hidden:], squashed, out=self.top[:rows])
                self._store(output, self.top[:rows])
            else:
                if self.quantized:
                    self._store(output, squashed.mul_(gates[:, 3 * hidden:]))
                else:
                    torch.mul(gates[:, 3 * hidden:], squashed, out=output)
                if layer > 0:
                    self.inputs_above[layer - 1][:rows].copy_(output)
        return self._decode(self.top[:rows], rows)


class GRUStepper(_CellStepper):
    """Multi-layer GRU, PyTorch's equations (gates r, z, n):

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   h' = (1 - z) * n + z * h = lerp(n, h, z)

    The hidden state is carried in float32; with bf16 weights a rounded copy feeds the products.
    """

    def __init__(self, model: RecurrentLM, capacity: int, device: torch.device,
                 weight_dtype: torch.dtype) -> None:
        hidden = model.config.hidden_size
        super().__init__(model, capacity, device, weight_dtype, 3, slice(2 * hidden, 3 * hidden))
        layers = self.num_layers
        with torch.no_grad():
            self.recurrent_weights = [self._weight(_rnn_weight(model, "weight_hh", layer))
                                      for layer in range(layers)]
            self.recurrent_biases = [self._bias(_rnn_weight(model, "bias_hh", layer))
                                     for layer in range(layers)]
            self.input_weights = [None] + [self._weight(_rnn_weight(model, "weight_ih", layer))
                                           for layer in range(1, layers)]
            self.input_biases = [None] + [self._bias(_rnn_weight(model, "bias_ih", layer))
                                          for layer in range(1, layers)]
        self.states = [self._state(hidden) for _ in range(layers)]
        if weight_dtype == torch.float32:
            self.operands = self.states
        else:
            self.operands = [self._state(hidden, weight_dtype) for _ in range(layers)]
        self.input_gates = self._state(3 * hidden)
        self.hidden_gates = self._state(3 * hidden)
        self.row_buffers = self.states if self.operands is self.states else [*self.states, *self.operands]

    def _table_bias(self, model: RecurrentLM) -> torch.Tensor:
        return _rnn_weight(model, "bias_ih", 0)  # b_hn must stay inside r * (...): see step()

    def load_row(self, row: int, state: tuple[torch.Tensor, ...]) -> None:
        (hidden,) = state  # [layers, 1, hidden]
        for layer in range(self.num_layers):
            self.states[layer][row] = hidden[layer, 0].float()
            if self.operands is not self.states:
                self._store(self.operands[layer][row:row + 1], hidden[layer].float())

    def save_row(self, row: int) -> tuple[torch.Tensor, ...]:
        return (torch.stack([self.states[layer][row:row + 1].clone() for layer in range(self.num_layers)]),)

    def step(self, ids: torch.Tensor, rows: int) -> torch.Tensor:
        hidden = self.hidden_size
        input_gates, hidden_gates = self.input_gates[:rows], self.hidden_gates[:rows]
        for layer in range(self.num_layers):
            state = self.states[layer][:rows]
            self._project(hidden_gates, self.recurrent_biases[layer], self.operands[layer][:rows],
                          self.recurrent_weights[layer])
            if layer == 0:
                torch.index_select(self.table, 0, ids, out=input_gates)
            else:
                self._project(input_gates, self.input_biases[layer], self.operands[layer - 1][:rows],
                              self.input_weights[layer])
            reset_update = input_gates[:, :2 * hidden].add_(hidden_gates[:, :2 * hidden]).sigmoid_()
            candidate = _tanh_from_doubled(input_gates[:, 2 * hidden:].addcmul_(
                reset_update[:, :hidden], hidden_gates[:, 2 * hidden:]))
            torch.lerp(candidate, state, reset_update[:, hidden:], out=state)
            if self.operands is not self.states:
                self._store(self.operands[layer][:rows], state)
        return self._decode(self.states[-1][:rows], rows)


class ModuleStepper(Stepper):
    """Any CharModel, one `model(ids, state)` call per character (the scratch and rnn kinds)."""

    def __init__(self, model: CharModel, capacity: int, device: torch.device) -> None:
        self.model = self.module = model
        self.device = device
        self.capacity = capacity
        self.vocab_size = model.config.vocab_size
        state = model.initial_state(capacity, device)
        # ScratchRNN's state is [batch, hidden]; the nn modules' is [layers, batch, hidden].
        self.batch_dim = 0 if model.config.kind == "scratch" else 1
        self.parts = list(state) if isinstance(state, tuple) else [state]

    def clear_row(self, row: int) -> None:
        for part in self.parts:
            part.select(self.batch_dim, row).zero_()

    def move_row(self, source: int, target: int) -> None:
        for part in self.parts:
            part.select(self.batch_dim, target).copy_(part.select(self.batch_dim, source))

    def load_row(self, row: int, state: tuple[torch.Tensor, ...]) -> None:
        for part, value in zip(self.parts, state, strict=True):
            part.select(self.batch_dim, row).copy_(value.select(self.batch_dim, 0))

    def save_row(self, row: int) -> tuple[torch.Tensor, ...]:
        return tuple(part.narrow(self.batch_dim, row, 1).clone() for part in self.parts)

    def step(self, ids: torch.Tensor, rows: int) -> torch.Tensor:
        views = [part.narrow(self.batch_dim, 0, rows) for part in self.parts]
        state = tuple(view.contiguous() for view in views) if len(views) > 1 else views[0].contiguous()
        logits, new_state = self.model(ids.view(rows, 1), state)
        new_parts = new_state if isinstance(new_state, tuple) else [new_state]
        for view, new_part in zip(views, new_parts, strict=True):
            view.copy_(new_part)
        return logits[:, -1].float()
