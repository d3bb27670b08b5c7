"""What the deep sequence networks share (DeepRNN, ResLRUNet): a stack of layers with
per-step cells, between a learned embedding (language: token ids) or raw inputs and a
readout at every step (language: tied to the embedding, else Dense)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class UniformDropout(nn.Dropout):
    """nn.Dropout with the mask drawn from uniform 16-bit integers on the CPU: an element is
    kept where its integer is at or above p 2^16 (scaled by 1 / (1 - p)), each 64-bit draw of
    the generator giving four elements. The CPU's Bernoulli sampler, which F.dropout uses,
    draws one element at a time (0.46 s for sl-MNIST's 256 x 200 x 784 inputs on this
    machine), its uniform float sampler one 32-bit number per element (0.11 s for the
    numbers, 0.13 s for the mask): the integers take 0.04 s and the mask 0.07 s. The price is
    p's resolution, 2^-16 (deviation 41). Other devices keep F.dropout (one fused kernel)."""

    LANE = torch.int16  # four lanes of each 64-bit draw
    ZERO = torch.zeros(())  # addcmul's addend, broadcast

    def draws_uniform(self, x: torch.Tensor) -> bool:
        """Whether ``forward`` drops elements of x with ``keep_mask`` (training on the CPU)."""
        return self.training and self.p > 0 and x.device.type == "cpu"

    def threshold(self) -> int:
        """The least kept lane value: a lane is uniform on [-2^15, 2^15), so it is dropped
        with probability ceil(p 2^16) / 2^16, p rounded up to the lanes' resolution."""
        return math.ceil(self.p * 2 ** 16) - 2 ** 15

    def keep_mask(self, like: torch.Tensor) -> torch.Tensor:
        """1 where an element is kept, 0 where dropped, unscaled, in like's dtype and shape."""
        count, per_draw = like.numel(), 64 // torch.iinfo(self.LANE).bits
        words = torch.empty(-(-count // per_draw), dtype=torch.int64, device=like.device)
        lanes = words.random_(-2 ** 63, None).view(self.LANE)[:count].view(like.shape)  # all 64 bits
        return torch.ge(lanes, self.threshold(), out=torch.empty_like(like))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.draws_uniform(x):
            return super().forward(x)
        kept = self.keep_mask(x)
        if x.requires_grad:
            return x * kept.mul_(1 / (1 - self.p))  # in place: one buffer
        # the data (no gradient): scaled and multiplied in one pass, into the mask's buffer,
        # whose pages are touched already (a fresh output of sl-MNIST's 160 MB took 31-67 ms
        # of a training step). 0 + (kept / (1 - p)) x rounds as x (kept / (1 - p)): kept is 0 or 1
        return torch.addcmul(self.ZERO, kept, x, value=1 / (1 - self.p), out=kept)


def time_major_projection(x: torch.Tensor, project, width: int) -> torch.Tensor:
    """``project(x)`` of a (B, T, n_in) sequence into ``width`` features, computed on x's
    time-major view where that is free (x is the transposed view of a time-major buffer, as
    a recurrent layer's output is) or cheaper (x no wider than the projection), and handed
    back as a (B, T, width) view of a time-major result. The sequence functions then read
    each step's slice contiguously and hand the projection's gradient back time-major, which
    the projection's backward reads in place: projected batch-major, its GEMMs would first
    copy the time-major operand (x, or the gradient) into batch order. Anything but a
    sequence (one step's (B, n_in)) is projected as it is."""
    if x.dim() != 3:
        return project(x)
    if x.shape[-1] <= width or x.transpose(0, 1).is_contiguous():
        return project(x.transpose(0, 1)).transpose(0, 1)
    return project(x)  # wide batch-major inputs (sl-MNIST's 784 channels): the narrower gradient is copied


def aligned_width(width: int) -> int:
    """The columns a projection GEMM computes for ``width`` outputs on the CPU: a width that is
    not a multiple of 8 is rounded up to a multiple of 16. MKL's single-precision GEMM on
    AVX-512 runs an odd output width (the GRU's 3 x 53, 3 x 117, 3 x 625) at 0.44-0.68 of the
    rate of the next multiple of 16 on an AMD EPYC (benchmarks/input_projection.py --parts);
    the zero columns cost width / aligned_width of the FLOPs."""
    return width if width % 8 == 0 else -(-width // 16) * 16


def aligned_matmul(a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """a @ b (+ bias), (rows, width), with b's columns padded with zeros to ``aligned_width``
    and the padding sliced off: a view with rows of aligned_width. Every column's dot product
    runs as it would unpadded (bit-equal at the grid's unaligned sizes in a scratch run on an
    AMD EPYC; tests/test_rnn_models.py checks 1e-6). Only float32 is padded: the rates were
    measured for it, and float64 tests compare exactly."""
    width = b.shape[1]
    padded = aligned_width(width) if b.dtype == torch.float32 else width
    if padded != width:
        b = F.pad(b, (0, padded - width))
        bias = None if bias is None else F.pad(bias, (0, padded - width))
    out = a @ b if bias is None else torch.addmm(bias, a, b)
    return out[:, :width]


class InputProjection(torch.autograd.Function):
    """apply(x (..., n_in), weight (n_in, width), bias (width) or None) -> x @ weight + bias, as
    ``input_projection`` computes it, with the GEMMs in the layouts this CPU runs fastest
    (benchmarks/input_projection.py): forward against a contiguous (n_in, width) weight, and
    the weight's gradient as (g^T x)^T. Autograd's x^T g runs at 106 GFLOP/s where g^T x runs
    at 166 on sl-MNIST's 784-channel inputs (width 128), and x against a transposed weight
    (F.linear) at 117 where a contiguous one runs at 136 (width 159); at the grid's other sizes
    the two are within a few percent either way (the weight gradient of Heidelberg's
    batch-100 input: 8% slower in one run, equal in another). The forward and the input's
    gradient compute ``aligned_width`` columns (``aligned_matmul``)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        flat, weight = x.reshape(-1, x.shape[-1]), weight.contiguous()
        out = aligned_matmul(flat, weight, bias)
        ctx.save_for_backward(flat if ctx.needs_input_grad[1] else None,
                              weight if ctx.needs_input_grad[0] else None)
        ctx.x_shape = x.shape
        return out.view(*x.shape[:-1], weight.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        flat, weight = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1])
        grad_x = aligned_matmul(grad, weight.T).view(ctx.x_shape) if ctx.needs_input_grad[0] else None
        grad_weight = (grad.T @ flat).T if ctx.needs_input_grad[1] else None
        grad_bias = grad.sum(0) if ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def input_projection(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight (+ bias) of every step at once, weight (n_in, width) (a transposed view for
    an (width, n_in) nn.Linear-style weight), through ``InputProjection`` where its faster
    layouts apply: on the CPU (oneDNN's kernels were measured, not cuBLAS's)."""
    if x.device.type == "cpu":
        return InputProjection.apply(x, weight, bias)
    return x @ weight if bias is None else x @ weight + bias


class SequenceStack(nn.Module):
    """Subclasses set ``language``, ``embedding`` (language), ``dense_readout`` (None: tied),
    ``layers`` and ``depth``; ``layer_input`` is what enters each layer (e.g. dropout)."""

    def layer_input(self, h: torch.Tensor) -> torch.Tensor:
        return h

    def cells(self) -> list[nn.Module]:
        return list(self.layers)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Network input -> input of layer 0: token ids (B, T) are embedded, floats pass."""
        if not self.language:
            return x
        if x.dim() == 3:  # the reference's (B, T, 1) id layout
            x = x.squeeze(-1)
        return F.embedding(x.long(), self.embedding)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """Last layer's output -> logits: Dense where the model has one, else tied h @ E^T."""
        if self.dense_readout is None:
            return h @ self.embedding.T
        # time-major where h is a time-major buffer's view (the recurrent layers' outputs):
        # batch-major, the GEMM would first copy h, and the gradient it hands back would
        # reach the last layer's backward batch-major, its per-step rows strided
        return time_major_projection(h, self.dense_readout, self.dense_readout.out_features)

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight (classes, width), bias or None) of ``readout``: the logits are
        h @ weight.T + bias, which a task may compute fused with its loss
        (lscrepro.models.readout) from ``features``."""
        if self.dense_readout is None:
            return self.embedding, None
        return self.dense_readout.weight, self.dense_readout.bias

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> tuple:
        return tuple(layer.initial_state(batch, device, dtype) for layer in self.layers)

    def forward(self, x: torch.Tensor, state: tuple | None = None):
        """(logits at every step, the final state: one tuple of tensors per layer)."""
        h, final = self.features(x, state)
        return self.readout(h), final

    def features(self, x: torch.Tensor, state: tuple | None = None):
        """(the last layer's output at every step, the final state): ``forward`` without
        the readout."""
        h = self.embed(x)
        states = [None] * self.depth if state is None else list(state)
        final = []
        for layer, layer_state in zip(self.layers, states):
            h, layer_state = layer(self.layer_input(h), layer_state)
            final.append(tuple(layer_state))
        return h, tuple(final)
