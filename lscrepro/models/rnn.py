"""The stacked recurrent networks of Figure 3 (LSTM, GRU, simple RNNs, maLSNN, maLSNNb).

Reference: ``ModelBuilder`` in stable_spike's ``neural_models/full_model.py``. The graph is

    x -> [embedding E] -> (Dropout -> layer_i) for each layer -> readout, at every step

with no dropout after the last layer. Language tasks (token ids) embed with a learned
E (vocab x embedding) and read out with the tied projection h @ E^T (the reference's
``embproj``: the last layer's width must equal the embedding's); other tasks feed
floats to layer 0 and read out with Dense(classes). Layers may differ in width: the
reference's PTB "2 layers" are 1300:300 (LSTM 500:300, GRU 625:300) after a 300-wide
embedding (stable_spike@67f1ce7 ``config/config.py``).
Initialisation follows Keras' defaults (see each layer), drawn from one torch.Generator
seeded with the model seed, so the same seed gives bit-identical weights on CPU.

Every layer exposes ``step(x_t, state) -> (h_t, new_state)`` and ``initial_state``: a
pure function of plain tensors that the LSC pre-training differentiates with
torch.func. LSTM trains through the fused nn.LSTM, GRU on the CPU through ``GRUSequence``
(gru_sequence.py) on its nn.GRU's parameters and elsewhere through the nn.GRU, all with the
same parameters as ``step``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog.cells import cell_entry, register_cell  # noqa: F401 (register_cell: its old home)
from ..catalog.entrypoints import load
from ..lsc.views import RecurrentLSCView, diagonal_rows
from .gru_sequence import gru_sequence
from .spiking import ALIFLayer, glorot_uniform
from .stack import SequenceStack, UniformDropout, input_projection, time_major_projection

CONFIG_KEYS = ("name", "cell", "depth", "width", "widths", "embedding", "dropout", "activation")
SIMPLE_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "swish": F.silu,  # Keras swish = x * sigmoid(x)
    "sigmoid": torch.sigmoid,
}
State = tuple[torch.Tensor, ...]


def keras_orthogonal(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """Keras' Orthogonal() of a (rows, cols) kernel: QR of a (max, min) normal draw, signs
    fixed by diag(R), transposed when rows < cols (then the rows are orthonormal)."""
    draw = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(draw)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    return q.to(torch.float32).contiguous()


def _keras_gate_blocks(kernel: torch.Tensor, n: int, order: tuple[int, ...]) -> torch.Tensor:
    """A Keras (n_in, k*n) gate kernel as a PyTorch (k*n, n_in) weight, with the gate
    blocks reordered: PyTorch block j is Keras block order[j]."""
    blocks = [kernel[:, g * n:(g + 1) * n] for g in order]
    return torch.cat(blocks, dim=1).T.contiguous()


def _zeros_state(batch: int, n: int, count: int, device, dtype) -> State:
    return tuple(torch.zeros(batch, n, device=device, dtype=dtype) for _ in range(count))


class LSTMLayer(nn.Module):
    """Keras LSTMCell(n): glorot_uniform kernel, orthogonal recurrent kernel, zero bias
    but forget gate 1. Gate order i, f, c, o in both Keras and PyTorch."""

    def __init__(self, n_in: int, n: int, generator: torch.Generator):
        super().__init__()
        self.n = n
        self.fused = nn.LSTM(n_in, n, batch_first=True)
        same_order = (0, 1, 2, 3)
        kernel = glorot_uniform((n_in, 4 * n), generator)
        recurrent_kernel = keras_orthogonal(n, 4 * n, generator)
        with torch.no_grad():
            self.fused.weight_ih_l0.copy_(_keras_gate_blocks(kernel, n, same_order))
            self.fused.weight_hh_l0.copy_(_keras_gate_blocks(recurrent_kernel, n, same_order))
            # Keras has one bias; PyTorch adds two, so the forget-gate 1 goes in one only
            self.fused.bias_ih_l0.zero_()
            self.fused.bias_ih_l0[n:2 * n] = 1.0
            self.fused.bias_hh_l0.zero_()
        # ... and only that one learns: two trained biases would get the same gradient, so
        # each optimiser step would move their sum twice as far as Keras moves its one
        # (the reference's rec_lsc_update_LSTM golden, tests/test_golden_rec_lsc.py)
        self.fused.bias_hh_l0.requires_grad_(False)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        return _zeros_state(batch, self.n, 2, device, dtype)

    def gates(self, x_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Pre-activations of the gates i, f, g, o (``step`` and the LSC view share them)."""
        lstm = self.fused
        gates = x_t @ lstm.weight_ih_l0.T + lstm.bias_ih_l0 + h @ lstm.weight_hh_l0.T + lstm.bias_hh_l0
        return gates.chunk(4, dim=-1)

    def step(self, x_t: torch.Tensor, state: State):
        h, c = state
        i, f, g, o = self.gates(x_t, h)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, (h_new, c_new)

    def forward(self, x: torch.Tensor, state: State | None = None):
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        h0, c0 = (s.unsqueeze(0).contiguous() for s in state)
        out, (h, c) = self.fused(x, (h0, c0))
        return out, (h[0], c[0])

    def lsc_view(self) -> "LSTMView":
        return LSTMView(self)


class LSTMView(RecurrentLSCView):
    """The LSTM's LSC state (h, c), 2n wide, as the reference's tape saw it."""

    state_blocks = 2

    def step(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        _, (h, c) = self.layer.step(x, tuple(s.split(self.n, dim=-1)))
        return torch.cat([h, c], dim=-1)

    def _gates(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        i, f, g, o = self.layer.gates(x, h)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)

    def jacobians(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In closed form: each gate's weight rows scaled by the gate's derivative (a tenth
        of torch.func's time at n = 512; the same numbers to float32 rounding)."""
        h, c = s.split(self.n, dim=-1)
        i, f, g, o = self._gates(x, h)
        tanh_c = torch.tanh(f * c + i * g)
        dc = (i * (1 - i) * g, f * (1 - f) * c, i * (1 - g ** 2))  # dc'/d(i, f, g) pre-activations
        dh_dc = o * (1 - tanh_c ** 2)
        dh_do = tanh_c * o * (1 - o)

        def through(weight: torch.Tensor) -> torch.Tensor:  # d(h', c') / d(what weight multiplies)
            w_i, w_f, w_g, w_o = weight.chunk(4, dim=0)
            dc_in = diagonal_rows(dc[0], w_i) + diagonal_rows(dc[1], w_f) + diagonal_rows(dc[2], w_g)
            return torch.cat([diagonal_rows(dh_do, w_o) + dh_dc.unsqueeze(-1) * dc_in, dc_in], dim=-2)

        lstm = self.layer.fused
        from_c = torch.cat([torch.diag_embed(dh_dc * f), torch.diag_embed(f)], dim=-2)
        return torch.cat([through(lstm.weight_hh_l0), from_c], dim=-1), through(lstm.weight_ih_l0)

    def c_path_scale(self, x: torch.Tensor, s: torch.Tensor, s_next: torch.Tensor) -> torch.Tensor:
        """dh_{t+1}/dc_{t+1} = o * tanh'(c_{t+1}) (B, n) at the detached points x_{t+1}, s_t,
        s_{t+1}; the gate keeps its graph to the weights."""
        o = self._gates(x, s[..., :self.n])[3]
        return o * (1 - torch.tanh(s_next[..., self.n:]) ** 2)

    def rescale_groups(self, biases: bool = True) -> tuple[list, list]:
        return _fused_rescale_groups(self.layer.fused, biases)


def _fused_rescale_groups(fused: nn.Module, biases: bool) -> tuple[list, list]:
    """PyTorch's bias_ih + bias_hh together are Keras' one bias, which the reference's name
    match put on the input side."""
    return ([fused.weight_ih_l0] + ([fused.bias_ih_l0, fused.bias_hh_l0] if biases else []),
            [fused.weight_hh_l0])


class GRULayer(nn.Module):
    """Keras GRUCell(n) (TF2: reset_after=True, PyTorch's formula). Keras orders the gates
    z, r, h and PyTorch r, z, n, so the Keras-layout draws are reordered. Bias 0."""

    def __init__(self, n_in: int, n: int, generator: torch.Generator):
        super().__init__()
        self.n = n
        self.fused = nn.GRU(n_in, n, batch_first=True)
        keras_to_torch = (1, 0, 2)  # PyTorch (r, z, n) <- Keras blocks (z=0, r=1, h=2)
        kernel = glorot_uniform((n_in, 3 * n), generator)
        recurrent_kernel = keras_orthogonal(n, 3 * n, generator)
        with torch.no_grad():
            self.fused.weight_ih_l0.copy_(_keras_gate_blocks(kernel, n, keras_to_torch))
            self.fused.weight_hh_l0.copy_(_keras_gate_blocks(recurrent_kernel, n, keras_to_torch))
            self.fused.bias_ih_l0.zero_()
            self.fused.bias_hh_l0.zero_()

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        return _zeros_state(batch, self.n, 1, device, dtype)

    def projections(self, x_t: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(x_r, x_z, x_n, h_r, h_z, h_n): the input and recurrent projections of each gate
        (``step`` and the LSC view share them)."""
        gru = self.fused
        x_parts = (x_t @ gru.weight_ih_l0.T + gru.bias_ih_l0).chunk(3, dim=-1)
        return *x_parts, *(h @ gru.weight_hh_l0.T + gru.bias_hh_l0).chunk(3, dim=-1)

    def step(self, x_t: torch.Tensor, state: State):
        (h,) = state
        x_r, x_z, x_n, h_r, h_z, h_n = self.projections(x_t, h)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        candidate = torch.tanh(x_n + r * h_n)
        h_new = (1 - z) * candidate + z * h
        return h_new, (h_new,)

    def forward(self, x: torch.Tensor, state: State | None = None):
        """On the CPU ``forward_sequence`` (nn.GRU's CPU loop is a dozen small autograd ops
        per step), elsewhere ``forward_fused`` (one fused kernel, cuDNN's on CUDA)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        if state[0].device != x.device:  # as nn.GRU: a state on the wrong device is an error, not a copy
            raise RuntimeError("Input and hidden tensors are not at the same device, found input "
                               f"tensor at {x.device} and hidden tensor at {state[0].device}")
        return (self.forward_sequence if x.device.type == "cpu" else self.forward_fused)(x, state)

    def forward_sequence(self, x: torch.Tensor, state: State | None = None):
        """nn.GRU's numbers (to float rounding) from its parameters, through ``GRUSequence``'s
        hand-written backward through time (gru_sequence.py)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        gru = self.fused
        out = gru_sequence(x, gru.weight_ih_l0, gru.bias_ih_l0, gru.weight_hh_l0, gru.bias_hh_l0, state[0])
        return out, (out[:, -1].clone(),)  # a copy: a carried state must not pin the sequence

    def forward_fused(self, x: torch.Tensor, state: State | None = None):
        """``forward`` through nn.GRU itself (off the CPU, and the reference for tests)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        out, h = self.fused(x, state[0].unsqueeze(0).contiguous())
        return out, (h[0],)

    def lsc_view(self) -> "GRUView":
        return GRUView(self)


class GRUView(RecurrentLSCView):
    """The GRU's LSC state h."""

    def step(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.layer.step(x, (s,))[0]

    def jacobians(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In closed form. h' = (1 - z) m + z h, m = tanh(x_n + r * h_n): the reset r
        reaches h' through h_n, the candidate m and the update z through their rows."""
        gru = self.layer.fused
        x_r, x_z, x_n, h_r, h_z, h_n = self.layer.projections(x, s)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        m = torch.tanh(x_n + r * h_n)
        dm = (1 - z) * (1 - m ** 2)  # dh'/d(candidate pre-activation)
        via_r, via_z = dm * h_n * r * (1 - r), (s - m) * z * (1 - z)
        (w_r, w_z, w_n), (u_r, u_z, u_n) = gru.weight_ih_l0.chunk(3), gru.weight_hh_l0.chunk(3)
        rec = (diagonal_rows(via_r, u_r) + diagonal_rows(via_z, u_z) + diagonal_rows(dm * r, u_n)
               + torch.diag_embed(z))
        inp = diagonal_rows(via_r, w_r) + diagonal_rows(via_z, w_z) + diagonal_rows(dm, w_n)
        return rec, inp

    def rescale_groups(self, biases: bool = True) -> tuple[list, list]:
        return _fused_rescale_groups(self.layer.fused, biases)

    def joint_shuffles(self) -> list[list[torch.Tensor]]:
        # Keras' GRU bias is one (2, 3n) matrix, which wshuff permutes as one weight
        return [[self.layer.fused.bias_ih_l0, self.layer.fused.bias_hh_l0]]


class SimpleRNNLayer(nn.Module):
    """Keras SimpleRNNCell(n, activation, bias_initializer='glorot_uniform'):
    h_t = phi(x_t W + h_{t-1} U + b); W glorot_uniform, U orthogonal, and b ~ U(+-sqrt(3/n))
    (Keras' glorot of a 1-D shape takes fan_in = fan_out = n)."""

    def __init__(self, n_in: int, n: int, activation: str, generator: torch.Generator):
        super().__init__()
        self.n = n
        self.activation_name = activation
        self.activation = SIMPLE_ACTIVATIONS[activation]
        self.kernel = nn.Parameter(glorot_uniform((n_in, n), generator))
        self.recurrent_kernel = nn.Parameter(keras_orthogonal(n, n, generator))
        limit = math.sqrt(3.0 / n)
        self.bias = nn.Parameter(torch.empty(n).uniform_(-limit, limit, generator=generator))

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        return _zeros_state(batch, self.n, 1, device, dtype)

    def step(self, x_t: torch.Tensor, state: State):
        h_new = self.activation(x_t @ self.kernel + self.bias + state[0] @ self.recurrent_kernel)
        return h_new, (h_new,)

    def forward(self, x: torch.Tensor, state: State | None = None):
        """Same numbers as looping ``step``, through ``SimpleRNNSequence``'s hand-written
        backward through time (a few ops per step instead of an autograd graph)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        # the input projection of all steps at once
        driven = time_major_projection(x, lambda v: input_projection(v, self.kernel, self.bias), self.n)
        out = SimpleRNNSequence.apply(driven, self.recurrent_kernel, state[0], self.activation_name)
        return out, (out[:, -1].clone(),)  # a copy: a carried state must not pin the sequence

    def forward_stepwise(self, x: torch.Tensor, state: State | None = None):
        """``forward`` by autograd through a per-step loop (reference for tests). The input
        projection is ``forward``'s own (tested against autograd on its own): a GEMM with the
        bias added in (addmm) rounds differently from x @ W + b on some CPUs (an AMD EPYC's)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        driven = input_projection(x, self.kernel, self.bias)
        h = state[0]
        outputs = []
        for t in range(x.shape[1]):
            h = self.activation(driven[:, t] + h @ self.recurrent_kernel)
            outputs.append(h)
        return torch.stack(outputs, dim=1), (h,)

    def lsc_view(self) -> "SimpleRNNView":
        return SimpleRNNView(self)


class SimpleRNNView(RecurrentLSCView):
    """The simple RNN's LSC state h."""

    def step(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.layer.step(x, (s,))[0]

    def jacobians(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """In closed form: diag(phi'(pre)) times the transposed kernels (h' = phi(x W + h U + b))."""
        layer = self.layer
        pre = x @ layer.kernel + layer.bias + s @ layer.recurrent_kernel
        slope = _activation_derivative(layer.activation_name, pre, layer.activation(pre))
        return diagonal_rows(slope, layer.recurrent_kernel.T), diagonal_rows(slope, layer.kernel.T)

    def rescale_groups(self, biases: bool = True) -> tuple[list, list]:
        layer = self.layer
        return [layer.kernel] + ([layer.bias] if biases else []), [layer.recurrent_kernel]


# the activations written into a given tensor (SimpleRNNSequence's time-major buffer); the same
# kernels as SIMPLE_ACTIVATIONS (PyTorch's relu is clamp_min(x, 0))
_ACTIVATIONS_INTO: dict[str, Callable[..., torch.Tensor]] = {
    "relu": lambda x, out: torch.clamp_min(x, 0, out=out),
    "swish": lambda x, out: torch.ops.aten.silu.out(x, out=out),
    "sigmoid": lambda x, out: torch.sigmoid(x, out=out),
}


# dp = dh * phi'(p) in one call per step, written into ``into``: PyTorch's own backward kernels
# of the activations (those autograd runs through the step loop), given (dh, p, phi(p), into)
_ACTIVATION_BACKWARDS: dict[str, Callable[..., torch.Tensor]] = {
    "relu": lambda grad, pre, out, into: torch.ops.aten.threshold_backward.grad_input(
        grad, out, 0, grad_input=into),
    "swish": lambda grad, pre, out, into: torch.ops.aten.silu_backward.grad_input(grad, pre, grad_input=into),
    "sigmoid": lambda grad, pre, out, into: torch.ops.aten.sigmoid_backward.grad_input(
        grad, out, grad_input=into),
}


def _activation_derivative(name: str, pre: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """phi'(pre) as PyTorch's own backward computes it (out = phi(pre))."""
    if name == "relu":
        return (out > 0).to(out.dtype)
    if name == "sigmoid":
        return out * (1 - out)
    sigmoid = torch.sigmoid(pre)  # swish
    return sigmoid * (1 + pre * (1 - sigmoid))


class SimpleRNNSequence(torch.autograd.Function):
    """h_t = phi(d_t + h_{t-1} U) over a sequence (d = x W + b given), with the backward
    through time written out: dp_t = (dh_t + dp_{t+1} U^T) * phi'(p_t), phi' applied by the
    activation's own backward kernel at each step (no sequence-long derivative tensor), and
    the gradient of U summed over all steps after the loop."""

    @staticmethod
    def forward(ctx, driven, recurrent_kernel, h0, activation_name):
        activation = _ACTIVATIONS_INTO[activation_name]
        steps = driven.shape[1]
        drive = driven.transpose(0, 1)  # time-major: per-step slices are contiguous
        h_all = torch.empty((steps + 1, *h0.shape), dtype=h0.dtype, device=h0.device)
        pre_all = torch.empty_like(h_all[1:])
        h_all[0] = h0
        for t in range(steps):
            pre = torch.mm(h_all[t], recurrent_kernel, out=pre_all[t]).add_(drive[t])
            activation(pre, out=h_all[t + 1])  # written in place: no per-step copy
        ctx.activation_name = activation_name
        ctx.save_for_backward(recurrent_kernel, h_all, pre_all)
        return h_all[1:].transpose(0, 1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        recurrent_kernel, h_all, pre_all = ctx.saved_tensors
        backward = _ACTIVATION_BACKWARDS[ctx.activation_name]
        grad_h = grad_out.transpose(0, 1)
        grad_pre_all, grad_h_t = torch.empty_like(pre_all), torch.empty_like(h_all[0])
        kernel_t, last = recurrent_kernel.T, pre_all.shape[0] - 1
        backward(grad_h[last], pre_all[last], h_all[last + 1], grad_pre_all[last])
        for t in range(last - 1, -1, -1):  # dh_t = grad_t + dp_{t+1} U^T, summed by the GEMM itself
            torch.addmm(grad_h[t], grad_pre_all[t + 1], kernel_t, out=grad_h_t)
            backward(grad_h_t, pre_all[t], h_all[t + 1], grad_pre_all[t])
        carry = grad_pre_all[0] @ kernel_t
        n = recurrent_kernel.shape[0]
        grad_kernel = h_all[:-1].reshape(-1, n).T @ grad_pre_all.reshape(-1, n)
        return grad_pre_all.transpose(0, 1), grad_kernel, carry, None


def _alif(n_in: int, n: int, generator: torch.Generator, *, activation: str, steps: int,
          gauss_beta: bool = False) -> ALIFLayer:
    # reference: tau_adaptation mean int(in_len / 2), in_len after the time repeat
    return ALIFLayer(n_in, n, float(int(steps / 2)), generator, gauss_beta=gauss_beta)


# The cells' builders, builder(n_in, n, generator, *, activation, steps) -> one layer, named by
# their entries in lscrepro.catalog.cells. A new cell is a layer class with ``step``,
# ``forward``, ``initial_state`` and ``lsc_view()``, its builder, and one entry there.
def lstm_layer(n_in: int, n: int, generator: torch.Generator, **_) -> LSTMLayer:
    return LSTMLayer(n_in, n, generator)


def gru_layer(n_in: int, n: int, generator: torch.Generator, **_) -> GRULayer:
    return GRULayer(n_in, n, generator)


def relu_rnn_layer(n_in: int, n: int, generator: torch.Generator, *, activation: str, **_) -> SimpleRNNLayer:
    return SimpleRNNLayer(n_in, n, activation, generator)


def sigmoid_rnn_layer(n_in: int, n: int, generator: torch.Generator, **_) -> SimpleRNNLayer:
    return SimpleRNNLayer(n_in, n, "sigmoid", generator)


def alif_layer(n_in: int, n: int, generator: torch.Generator, *, activation: str, steps: int) -> ALIFLayer:
    return _alif(n_in, n, generator, activation=activation, steps=steps)


def alif_gauss_beta_layer(n_in: int, n: int, generator: torch.Generator, *, activation: str,
                          steps: int) -> ALIFLayer:
    return _alif(n_in, n, generator, activation=activation, steps=steps, gauss_beta=True)


def make_layer(cell: str, n_in: int, n: int, generator: torch.Generator, *, activation: str,
               steps: int) -> nn.Module:
    """One recurrent layer of type ``cell`` (an entry of lscrepro.catalog.cells)."""
    return load(cell_entry(cell).builder)(n_in, n, generator, activation=activation, steps=steps)


class DeepRNN(SequenceStack):
    """Recurrent layers of the given ``widths`` (one per layer) with dropout before each,
    and a readout at every step. ``forward(x, state) -> (logits (B, T, C), final state)``.
    ``embedding``: the embedding's width on language tasks (default: the last layer's)."""

    def __init__(self, cell: str, widths: list[int], dims: dict, seed: int, dropout: float = 0.3,
                 activation: str = "relu", embedding: int | None = None):
        super().__init__()
        cell_entry(cell)  # an unknown cell fails here, naming the valid ones
        generator = torch.Generator().manual_seed(seed)
        self.cell_name, self.depth, self.widths = cell, len(widths), list(widths)
        self.width = widths[-1]
        self.language = "vocab_size" in dims
        self.num_classes = dims["num_classes"]
        n_in = self._make_input(dims, embedding, generator)
        self.dropout = UniformDropout(dropout)
        self.layers = nn.ModuleList()
        for width in widths:
            self.layers.append(make_layer(cell, n_in, width, generator,
                                          activation=activation, steps=dims["steps"]))
            n_in = width
        self.dense_readout = None if self.language else self._dense_readout(self.width, generator)

    def _make_input(self, dims: dict, embedding: int | None, generator: torch.Generator) -> int:
        """The embedding (language) or nothing; returns the first layer's input width."""
        if not self.language:
            self.embedding = None
            return dims["in_features"]
        if dims["num_classes"] != dims["vocab_size"]:
            raise ValueError("the tied readout needs num_classes == vocab_size, got "
                             f"{dims['num_classes']} and {dims['vocab_size']}")
        size = self.width if embedding is None else embedding
        if size != self.width:
            raise ValueError(f"the tied readout (h @ E^T) needs the last layer's width {self.width} "
                             f"to equal the embedding size {size}; set model.embedding or model.widths")
        # Keras Embedding with glorot_uniform on (vocab, size); no position embedding
        self.embedding = nn.Parameter(glorot_uniform((dims["vocab_size"], size), generator))
        return size

    def _dense_readout(self, width: int, generator: torch.Generator) -> nn.Linear:
        linear = nn.Linear(width, self.num_classes)
        with torch.no_grad():
            linear.weight.copy_(glorot_uniform((width, self.num_classes), generator).T)
            linear.bias.zero_()
        return linear

    def layer_input(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(h)  # dropout before each layer, none after the last


def layer_widths(config: dict) -> list[int]:
    """Per-layer widths from the model config: ``widths`` (one per layer) where given, so
    that an override can refine a task's ``width``; else ``width`` for all ``depth`` layers."""
    depth = config.get("depth")
    if not (isinstance(depth, int) and depth >= 1):
        raise ValueError(f"rnn depth must be a positive integer, got {depth!r}")
    if "widths" not in config and "width" not in config:
        raise ValueError("rnn config needs 'width' (every layer) or 'widths' (one per layer)")
    widths = config["widths"] if "widths" in config else [config["width"]] * depth
    if not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ValueError(f"rnn widths must be positive integers, got {widths!r}")
    if len(widths) != depth:
        raise ValueError(f"rnn widths {widths} give {len(widths)} layers, but depth is {depth}; "
                         "give one width per layer")
    return list(widths)


def build(config: dict, dims: dict, seed: int) -> DeepRNN:
    """From the model config (cell, depth, width or widths, embedding, dropout,
    activation) and the task's sizes."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown rnn config key(s) {', '.join(map(repr, unknown))}; "
                         f"valid keys: {', '.join(CONFIG_KEYS)}")
    if "cell" not in config:
        raise ValueError("rnn config needs 'cell'")
    widths = layer_widths(config)
    embedding = config.get("embedding")
    if embedding is not None and not (isinstance(embedding, int) and embedding >= 1):
        raise ValueError(f"rnn embedding must be a positive integer, got {embedding!r}")
    dropout = float(config.get("dropout", 0.3))
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"rnn dropout must be in [0, 1), got {dropout}")
    activation = config.get("activation", "relu")
    if activation not in ("relu", "swish"):
        raise ValueError(f"rnn activation (used by rsimplernn) must be 'relu' or 'swish', got {activation!r}")
    return DeepRNN(config["cell"], widths, dims, seed, dropout=dropout, activation=activation,
                   embedding=embedding)
