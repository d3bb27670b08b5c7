"""A GRU layer's recurrence over a whole sequence with the backward through time written out.

PyTorch's GRU formula (gate order r, z, n; reset after the recurrent product):

    r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z),  m = tanh(x_n + r * h_n),
    h' = (1 - z) m + z h,    with (x_r, x_z, x_n) = x W_ih^T + b_ih and (h_r, h_z, h_n) = h W_hh^T + b_hh.

On CPU nn.GRU runs this as about 30 ATen calls per step, forward and backward, besides
its GEMMs. ``GRUSequence`` takes the input projection of all steps (computed outside, so
autograd handles W_ih and b_ih) and runs one addmm and seven elementwise calls per step
forward. Where a gradient is wanted, five more per step (while the step's gates are in
cache: a pass over the whole sequence costs more on a CPU) store the factors of the
carried gradient g = dL/dh':

    d(h_n) = g (1 - z)(1 - m^2) r       d(r pre-activation) = d(h_n) h_n (1 - r)
    d(z pre-activation) = g (h - m) z (1 - z)      d(x_n) = g (1 - z)(1 - m^2)
    dL/dh = dL/dh_out + g z + (d(r), d(z), d(h_n)) W_hh

so that each backward step is one broadcast mul, one addcmul and one addmm; the gradients
of W_hh and b_hh are one GEMM and one sum over all steps after the loop. The factors are
stored in the order (h_n, r, z, x_n): the recurrent gradient is the first 3n columns (with
W_hh's row blocks permuted to match) and the input projection's the last 3n, both views.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .stack import input_projection, time_major_projection

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input  # g * (1 - y) * y, into grad_input


def gru_sequence(x: torch.Tensor, weight_ih: torch.Tensor, bias_ih: torch.Tensor, weight_hh: torch.Tensor,
                 bias_hh: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """(B, T, n_in) inputs -> (B, T, n) outputs of a GRU layer with nn.GRU's parameters."""
    projected = time_major_projection(x, lambda v: input_projection(v, weight_ih.T, bias_ih), weight_ih.shape[0])
    return GRUSequence.apply(projected, weight_hh, bias_hh, h0, torch.is_grad_enabled(), True)


def _forward_buffers(steps: int, batch: int, n: int, grad: bool, like: dict):
    """z (T, B, n) and the factors (T, B, 4n) in the order (h_n, r, z, x_n), with their
    per-step views: sequence buffers where the backward reads them, else one scratch reused
    at every step."""
    def per_step(width):
        if grad:
            return torch.empty((steps, batch, width), **like)
        return torch.empty((batch, width), **like).expand(steps, batch, width)
    z, factors = per_step(n), per_step(4 * n)
    return z, factors, (z.unbind(0), *(f.unbind(0) for f in factors.split(n, dim=-1)))


class GRUSequence(torch.autograd.Function):
    """apply(projected (B, T, 3n) = x W_ih^T + b_ih, weight_hh (3n, n), bias_hh (3n), h0 (B, n),
    grad_enabled=True, overwrite=False) -> the outputs h_1..h_T (B, T, n), as nn.GRU's to float
    rounding. Without grad_enabled (torch.is_grad_enabled() outside: inside a Function's
    forward it is always off) the forward computes no factors and keeps nothing for a
    backward. With overwrite the backward writes the gradients over the saved factors (a
    fresh buffer as large cost 1-3% of the two-layer benchmarks' steps with the jobs' heap
    policy, lscrepro/host_memory.py, and 7% without, where its pages fault in at every step),
    so it runs once: a second backward (retain_graph=True, gradcheck) raises."""

    @staticmethod
    def forward(ctx, projected, weight_hh, bias_hh, h0, grad_enabled=True, overwrite=False):
        batch, steps, width3 = projected.shape
        n = width3 // 3
        like = dict(dtype=projected.dtype, device=projected.device)
        grad = grad_enabled and any(ctx.needs_input_grad)
        x_seq = projected.transpose(0, 1)
        z_all, factors, (z, _, f_r, f_z, f_n) = _forward_buffers(steps, batch, n, grad, like)
        h_all = torch.empty((steps + 1, batch, n), **like)
        h_all[0] = h0
        hidden, candidate, gap = (torch.empty((batch, k), **like) for k in (3 * n, n, n))
        ones = torch.ones((batch, n), **like)
        hidden_rz, hidden_r, hidden_z, hidden_n = hidden[:, :2 * n], *hidden.split(n, dim=-1)
        r = hidden_z  # r goes where z's pre-activation was, so that (r, h_n) are one (B, 2, n) view
        r_and_h_n, weight_t = hidden[:, n:].unflatten(-1, (2, n)), weight_hh.T
        f_hn_and_r = factors[..., :2 * n].unflatten(-1, (2, n)).unbind(0)
        f_n_rows = factors[..., 3 * n:].unsqueeze(2).unbind(0)  # f_n as (B, 1, n)
        inputs = zip(x_seq[..., :2 * n].unbind(0), x_seq[..., 2 * n:].unbind(0), h_all.unbind(0),
                     h_all[1:].unbind(0))
        for t, (x_rz, x_n, h, h_next) in enumerate(inputs):
            torch.addmm(bias_hh, h, weight_t, out=hidden)
            hidden_rz.add_(x_rz)
            torch.sigmoid(hidden_z, out=z[t])
            torch.sigmoid(hidden_r, out=r)
            torch.addcmul(x_n, r, hidden_n, out=candidate).tanh_()
            torch.sub(h, candidate, out=gap)
            torch.addcmul(candidate, gap, z[t], out=h_next)  # m + (h - m) z, as nn.GRU
            if grad:  # the backward's factors, see the module doc
                torch.addcmul(ones, candidate, candidate, value=-1, out=f_n[t])
                f_n[t].addcmul_(f_n[t], z[t], value=-1)
                torch.mul(f_n_rows[t], r_and_h_n, out=f_hn_and_r[t])  # (f_n r, f_n h_n)
                _sigmoid_backward(f_r[t], r, grad_input=f_r[t])
                _sigmoid_backward(gap, z[t], grad_input=f_z[t])
        if grad:
            ctx.save_for_backward(weight_hh, h_all, z_all, factors)
            ctx.overwrite, ctx.factors_spent = overwrite, False
        return h_all[1:].transpose(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        if ctx.factors_spent:
            raise RuntimeError("GRUSequence(overwrite=True) wrote its gradients over its saved factors: "
                               "its backward runs once per forward")
        ctx.factors_spent = ctx.overwrite
        weight_hh, h_all, z_all, factors = ctx.saved_tensors
        steps, n = h_all.shape[0] - 1, h_all.shape[2]
        w_r, w_z, w_n = weight_hh.split(n)
        weight_perm = torch.cat((w_n, w_r, w_z))  # rows in the factors' order (h_n, r, z)
        grads = factors if ctx.overwrite else torch.empty_like(factors)  # [d h_n, d r-pre, d z-pre, d x_n]
        grad_hidden = grads[..., :3 * n]
        blocks_in, blocks = factors.unflatten(-1, (4, n)).unbind(0), grads.unflatten(-1, (4, n)).unbind(0)
        grad_h, z = grad_out.transpose(0, 1), z_all.unbind(0)
        # g = dL/dh_t in full: two buffers taken in turn, also as (B, 1, n) rows
        pair = torch.empty((2, *h_all.shape[1:]), dtype=h_all.dtype, device=h_all.device)
        pair[0] = grad_h[-1]
        g, g_rows = pair.unbind(0), pair.unsqueeze(2).unbind(0)
        for k, t in enumerate(range(steps - 1, 0, -1)):
            now, before = k % 2, 1 - k % 2
            torch.mul(blocks_in[t], g_rows[now], out=blocks[t])
            torch.addcmul(grad_h[t - 1], g[now], z[t], out=g[before]).addmm_(grad_hidden[t], weight_perm)
        now = (steps - 1) % 2
        torch.mul(blocks_in[0], g_rows[now], out=blocks[0])
        grad_h0 = torch.mul(g[now], z[0]).addmm_(grad_hidden[0], weight_perm)
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            permuted = grad_hidden.reshape(-1, 3 * n).T @ h_all[:-1].reshape(-1, n)
            grad_weight = torch.cat((permuted[n:], permuted[:n]))
        if ctx.needs_input_grad[2]:
            # (torch.mv with a ones vector is 2-3x faster here, but 10x less accurate in float32)
            permuted = grad_hidden.sum(dim=(0, 1))
            grad_bias = torch.cat((permuted[n:], permuted[:n]))
        return grads[..., n:].transpose(0, 1), grad_weight, grad_bias, grad_h0, None, None
