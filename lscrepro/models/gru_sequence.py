"""A GRU layer's recurrence over a whole sequence with the backward through time written out.

PyTorch's GRU formula (gate order r, z, n; reset after the recurrent product):

    r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z),  m = tanh(x_n + r * h_n),
    h' = (1 - z) m + z h,    with (x_r, x_z, x_n) = x W_ih^T + b_ih and (h_r, h_z, h_n) = h W_hh^T + b_hh.

On CPU nn.GRU runs this as a dozen small autograd ops per step and twice that backward.
``GRUSequence`` takes the input projection of all steps (computed outside, so autograd
handles W_ih and b_ih) and runs five ops per step forward (one addmm, sigmoid over the r|z
columns, addcmul + tanh for m, lerp for h'). Its backward first turns the saved gates into
per-step factors of the carried gradient g = dL/dh' in a few whole-sequence ops:

    d(r pre-activation) = g (1 - z)(1 - m^2) h_n r (1 - r)      d(h_n) = g (1 - z)(1 - m^2) r
    d(z pre-activation) = g (h - m) z (1 - z)                   d(x_n) = g (1 - z)(1 - m^2)
    dL/dh = dL/dh_out + g z + (d(r), d(z), d(h_n)) W_hh

so that each step is one broadcast mul, one addcmul and one addmm; the gradients of W_hh
and b_hh are one GEMM and one sum over all steps after the loop.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


def _backward_factors(h_all: torch.Tensor, hidden: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
    """(T, B, 4n) per-step factors [d r-pre, d z-pre, d h_n, d x_n] / dL/dh' (see the module doc)."""
    n = h_all.shape[-1]
    r, z, candidate = gates.split(n, dim=-1)
    h_n = hidden[..., 2 * n:]
    factors = torch.empty((*gates.shape[:-1], 4 * n), dtype=gates.dtype, device=gates.device)
    f_r, f_z, f_hn, f_n = factors.split(n, dim=-1)
    torch.mul(1 - z, 1 - candidate.square(), out=f_n)
    torch.mul(f_n, r, out=f_hn)
    torch.mul(f_hn, h_n * (1 - r), out=f_r)
    torch.mul(h_all[:-1] - candidate, z * (1 - z), out=f_z)
    return factors


class GRUSequence(torch.autograd.Function):
    """apply(projected (B, T, 3n) = x W_ih^T + b_ih, weight_hh (3n, n), bias_hh (3n), h0 (B, n))
    -> the outputs h_1..h_T (B, T, n), as nn.GRU's to float rounding."""

    @staticmethod
    def forward(ctx, projected, weight_hh, bias_hh, h0):
        batch, steps, width3 = projected.shape
        n = width3 // 3
        like = dict(dtype=projected.dtype, device=projected.device)
        x_seq = projected.transpose(0, 1)  # time-major: per-step slices of the buffers are contiguous
        # hidden[t] = [r pre-activation, z pre-activation, h_n]: the input side and the recurrent
        # bias go in first, the step's addmm adds h W_hh^T in place
        hidden = torch.empty((steps, batch, width3), **like)
        torch.add(x_seq[..., :2 * n], bias_hh[:2 * n], out=hidden[..., :2 * n])
        hidden[..., 2 * n:] = bias_hh[2 * n:]
        gates = torch.empty_like(hidden)  # [r, z, candidate m]
        h_all = torch.empty((steps + 1, batch, n), **like)
        h_all[0] = h0
        weight_t = weight_hh.T
        per_step = zip(hidden.unbind(0), hidden[..., :2 * n].unbind(0), gates[..., :2 * n].unbind(0),
                       gates[..., :n].unbind(0), gates[..., n:2 * n].unbind(0),
                       gates[..., 2 * n:].unbind(0), hidden[..., 2 * n:].unbind(0),
                       x_seq[..., 2 * n:].unbind(0), h_all.unbind(0), h_all[1:].unbind(0))
        for hid, pre_rz, rz, r, z, candidate, h_n, x_n, h_prev, h_next in per_step:
            hid.addmm_(h_prev, weight_t)
            torch.sigmoid(pre_rz, out=rz)
            torch.addcmul(x_n, r, h_n, out=candidate).tanh_()
            torch.lerp(candidate, h_prev, z, out=h_next)  # m + z (h - m)
        ctx.save_for_backward(weight_hh, h_all, hidden, gates)
        return h_all[1:].transpose(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        weight_hh, h_all, hidden, gates = ctx.saved_tensors
        steps, batch, n = h_all.shape[0] - 1, h_all.shape[1], h_all.shape[2]
        factors = _backward_factors(h_all, hidden, gates)
        # grads[t] = [d r-pre, d z-pre, d h_n, d x_n]; its first 3n columns are dL/d(h W_hh^T + b_hh)
        grads = torch.empty_like(factors)
        carried = torch.empty_like(h_all[1:])  # carried[t] = dL/dh_t in full (g above)
        grad_h = grad_out.transpose(0, 1)
        z = gates[..., n:2 * n]
        carried[-1] = grad_h[-1]
        blocks_in, blocks_out = factors.unflatten(-1, (4, n)), grads.unflatten(-1, (4, n))
        for t in range(steps - 1, 0, -1):
            torch.mul(carried[t].unsqueeze(1), blocks_in[t], out=blocks_out[t])
            torch.addcmul(grad_h[t - 1], carried[t], z[t], out=carried[t - 1])
            carried[t - 1].addmm_(grads[t, :, :3 * n], weight_hh)
        torch.mul(carried[0].unsqueeze(1), blocks_in[0], out=blocks_out[0])
        grad_h0 = torch.mul(carried[0], z[0]).addmm_(grads[0, :, :3 * n], weight_hh)
        grad_hidden = grads[..., :3 * n]
        grad_weight = grad_bias = None
        if ctx.needs_input_grad[1]:
            grad_weight = grad_hidden.reshape(-1, 3 * n).T @ h_all[:-1].reshape(-1, n)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_hidden.sum(dim=(0, 1))
        grad_projected = torch.cat((grads[..., :2 * n], grads[..., 3 * n:]), dim=-1).transpose(0, 1)
        return grad_projected, grad_weight, grad_bias, grad_h0
