"""Adaptive LIF (ALIF) layers of the maLSNN / maLSNNb networks, and their spike function.

Reference: ``aLSNN``/``maLSNN``/``maLSNNb`` in stable_spike's ``neural_models/lsnn.py`` and
the default (fast-sigmoid) ``SurrogatedStep`` of py-aromatics. maLSNN adds noise only
for a ``noiserho:`` comment the paper never uses, so it is aLSNN. Per step, with
state (z, v, a) all zero at the start:

    I_t = x_t W_in + z_{t-1} (W_rec * (1 - I))      no self-connections
    a_t = rho a_{t-1} + (1 - rho) z_{t-1},          rho = exp(-1 / tau_adaptation)
    A_t = thr + beta * a_t
    v_t = alpha v_{t-1} + I_t - sg(A_t * z_{t-1}),  alpha = exp(-1 / tau), sg = stop-gradient
    z_t = H(v_t - A_t)                               output z_t

H is the Heaviside step (strictly > 0) with the fast-sigmoid surrogate derivative
dampening / (1 + |2 * sharpness * v_sc|)^2, dampening 0.5 (the ``_dampf:.5`` that
training_rnns.py appends), sharpness 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..lsc.views import RecurrentLSCView
from .stack import input_projection, time_major_projection

DAMPENING = 0.5
SHARPNESS = 1.0


class SurrogateSpike(torch.autograd.Function):
    """Heaviside step forward, fast-sigmoid derivative backward.

    ``setup_context`` + ``generate_vmap_rule`` make it usable under torch.func (vmap,
    jacrev), and the backward is built from differentiable ops on the saved input, so
    a loss on a Jacobian (LSC) can differentiate through the surrogate too.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(v_scaled: torch.Tensor, dampening: float = DAMPENING,
                sharpness: float = SHARPNESS) -> torch.Tensor:
        return (v_scaled > 0).to(v_scaled.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        v_scaled, dampening, sharpness = inputs
        ctx.save_for_backward(v_scaled)
        ctx.dampening, ctx.sharpness = dampening, sharpness

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (v_scaled,) = ctx.saved_tensors
        return grad_output * surrogate_derivative(v_scaled, ctx.dampening, ctx.sharpness), None, None


def surrogate_derivative(v_scaled: torch.Tensor, dampening: float = DAMPENING,
                         sharpness: float = SHARPNESS) -> torch.Tensor:
    """The reference's fast-sigmoid pseudo-derivative."""
    return dampening / (1 + torch.abs(2 * sharpness * v_scaled)) ** 2


def _surrogate_derivative_(v_scaled: torch.Tensor) -> torch.Tensor:
    """``surrogate_derivative`` in place (no sequence-sized temporaries), for the hand-written
    backward; dampening / y as reciprocal times dampening: equal up to one rounding."""
    return v_scaled.abs_().mul_(2 * SHARPNESS).add_(1).square_().reciprocal_().mul_(DAMPENING)


def spike(v_scaled: torch.Tensor, dampening: float = DAMPENING, sharpness: float = SHARPNESS) -> torch.Tensor:
    return SurrogateSpike.apply(v_scaled, dampening, sharpness)


def keras_truncated_normal(size: int, mean: float, std: float, generator: torch.Generator) -> torch.Tensor:
    """Keras' TruncatedNormal(mean, stddev): std of the untruncated normal, cut at 2 std."""
    out = torch.empty(size)
    nn.init.trunc_normal_(out, mean=mean, std=std, a=mean - 2 * std, b=mean + 2 * std, generator=generator)
    return out


def glorot_uniform(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Keras glorot_uniform of a (fan_in, fan_out) kernel."""
    limit = math.sqrt(6.0 / (shape[0] + shape[1]))
    return torch.empty(shape).uniform_(-limit, limit, generator=generator)


class ALIFLayer(nn.Module):
    """One maLSNN (``gauss_beta=False``) or maLSNNb (``gauss_beta=True``) layer.

    Weights are stored as the reference stores them: ``input_weights`` (n_in, n) and
    ``recurrent_weights`` (n, n), used as x @ W; the diagonal of the latter is kept but
    masked out at every use, so no optimiser step can create a self-connection.
    """

    def __init__(self, n_in: int, n: int, tau_adaptation: float, generator: torch.Generator,
                 gauss_beta: bool = False, tau: float = 0.1, thr: float = 0.01, beta: float = 1.8):
        super().__init__()
        self.n_in, self.n = n_in, n
        self.input_weights = nn.Parameter(glorot_uniform((n_in, n), generator))
        self.recurrent_weights = nn.Parameter(glorot_uniform((n, n), generator))
        # per-neuron constants are trainable, drawn around the reference's values
        self.tau = nn.Parameter(keras_truncated_normal(n, tau, 3 * tau / 7, generator))
        self.tau_adaptation = nn.Parameter(
            keras_truncated_normal(n, tau_adaptation, 3 * tau_adaptation / 7, generator))
        self.thr = nn.Parameter(keras_truncated_normal(n, thr, 3 * thr / 7, generator))
        if gauss_beta:  # '_gaussbeta': RandomNormal (not truncated), so beta can be negative
            beta_init = torch.randn(n, generator=generator) * (beta / math.sqrt(n_in))
        else:
            beta_init = keras_truncated_normal(n, beta, 3 * beta / 7, generator)
        self.beta = nn.Parameter(beta_init)
        self.register_buffer("no_self_mask", 1 - torch.eye(n), persistent=False)

    def recurrent_matrix(self) -> torch.Tensor:
        """W_rec with its diagonal zeroed: the recurrent weights actually used."""
        return self.recurrent_weights * self.no_self_mask.to(self.recurrent_weights)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
        zeros = torch.zeros(batch, self.n, device=device, dtype=dtype)
        return zeros, zeros.clone(), zeros.clone()

    def step(self, x_t: torch.Tensor, state: tuple[torch.Tensor, ...]):
        """One time step from plain tensors: (z_t, (z_t, v_t, a_t))."""
        return self._advance(x_t @ self.input_weights, state, self._constants())

    def _constants(self) -> tuple[torch.Tensor, ...]:
        # the decays and masked W_rec depend only on parameters: once per sequence
        alpha = torch.exp(-1 / self.tau)
        rho = torch.exp(-1 / self.tau_adaptation)
        return self.recurrent_matrix(), alpha, rho

    def _advance(self, input_current: torch.Tensor, state, constants):
        z, v, a = state
        w_rec, alpha, rho = constants
        current = input_current + z @ w_rec
        a_new = rho * a + (1 - rho) * z
        threshold = self.thr + self.beta * a_new
        # 'nogradreset' is always on in the reference: no gradient through the reset
        reset = (threshold * z).detach()
        v_new = alpha * v + current - reset
        z_new = spike(v_new - threshold)
        return z_new, (z_new, v_new, a_new)

    def forward(self, x: torch.Tensor, state=None):
        """x (B, T, n_in) -> spikes (B, T, n) and the final state.

        Same numbers as looping ``step``, but through ``ALIFSequence``: a hand-written
        backward through time instead of an autograd graph of ~15 small ops per step.
        """
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        input_currents = time_major_projection(x, lambda v: input_projection(v, self.input_weights), self.n)
        w_rec, alpha, rho = self._constants()
        spikes, v_last, a_last = ALIFSequence.apply(
            input_currents, w_rec, alpha, rho, self.thr, self.beta, *state)
        # a copy, so a carried (detached) state does not keep the whole sequence alive
        return spikes, (spikes[:, -1].clone(), v_last, a_last)

    def forward_stepwise(self, x: torch.Tensor, state=None):
        """``forward`` by autograd through a loop over ``step`` (reference for tests)."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        input_currents = x @ self.input_weights
        constants = self._constants()
        outputs = []
        for t in range(x.shape[1]):
            z, state = self._advance(input_currents[:, t], state, constants)
            outputs.append(z)
        return torch.stack(outputs, dim=1), state

    def lsc_view(self) -> "ALIFView":
        return ALIFView(self)


class ALIFView(RecurrentLSCView):
    """The reference's ``reoldspike`` LSC state (v, a): the previous spike is recomputed as
    z = H(v - thr - beta a) with the surrogate, so the Jacobians are not zero. Its
    Jacobians come from torch.func (the base class)."""

    state_blocks = 2

    def output(self, s: torch.Tensor) -> torch.Tensor:
        v, a = s.split(self.n, dim=-1)
        return spike(v - self.layer.thr - self.layer.beta * a)

    def step(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        _, (_, v, a) = self.layer.step(x, (self.output(s), *s.split(self.n, dim=-1)))
        return torch.cat([v, a], dim=-1)

    def rescale_groups(self, biases: bool = True) -> tuple[list, list]:
        layer = self.layer  # no bias (internal_current only with 'v0m', not used)
        return ([layer.input_weights, layer.thr, layer.beta],
                [layer.recurrent_weights, layer.tau, layer.tau_adaptation])


class ALIFSequence(torch.autograd.Function):
    """The ALIF recurrence over a whole sequence, with backpropagation through time
    written out. Inputs: input currents (B, T, n), masked W_rec, alpha, rho, thr, beta
    and the initial (z, v, a); outputs: spikes (B, T, n), final v and a.

    Backward, with adjoints dz, dv, da of the state at step t (ds = dz * surrogate):
        dv_tot = dv + ds;  da_tot = da - beta ds   (A_t = thr + beta a_t enters s = v - A)
        dz_{t-1} = dv_tot W^T + (1 - rho) da_tot + output grad;  dv_{t-1} = alpha dv_tot;
        da_{t-1} = rho da_tot;  no term through the reset (stop-gradient)
    and the weight gradients are sums over all steps taken after the loop.

    Both directions keep v and a (and their adjoints) stacked as (2, T, B, n), so one
    eager call decays both (per step: 9 calls forward, 4 backward). The forward rounds
    exactly as ``ALIFLayer._advance``: addcmul (a fused multiply-add on CPU) only
    multiplies by spikes, whose products are exact.
    """

    @staticmethod
    def forward(ctx, input_currents, w_rec, alpha, rho, thr, beta, z0, v0, a0):
        steps = input_currents.shape[1]
        # z and the stacked (v, a) of steps 0..T (index 0: the initial state), time-major
        z_all = z0.new_empty((steps + 1, *z0.shape))
        va_all = z0.new_empty((2, steps + 1, *z0.shape))
        threshold_all = z0.new_empty((steps, *z0.shape))
        z_all[0], va_all[0, 0], va_all[1, 0] = z0, v0, a0
        constants = (w_rec, torch.stack([alpha, rho]).unsqueeze(1), 1 - rho, thr, beta)
        # per-step views made once (indexing in the loop would be one more call per tensor)
        state = (z_all.unbind(0), va_all.unbind(1), va_all[0].unbind(0), va_all[1].unbind(0))
        current = torch.empty_like(z0)
        for t, (input_t, threshold) in enumerate(zip(input_currents.unbind(1), threshold_all.unbind(0))):
            # z0 may be any tensor; later spikes are 0 or 1
            _alif_forward_step(t, input_t, state, threshold, current, constants, t > 0)
        ctx.save_for_backward(w_rec, alpha, rho, beta, z_all, va_all, threshold_all)
        return z_all[1:].transpose(0, 1), va_all[0, -1].clone(), va_all[1, -1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_spikes, grad_v_last, grad_a_last):
        w_rec, alpha, rho, beta, z_all, va_all, threshold_all = ctx.saved_tensors
        v_all, a_all = va_all
        # (surrogate, -beta surrogate), which the loop multiplies in place by dz into (ds, -beta ds)
        ds_pair = torch.empty_like(va_all[:, 1:])
        _surrogate_derivative_(torch.sub(v_all[1:], threshold_all, out=ds_pair[0]))
        torch.mul(ds_pair[0], -beta, out=ds_pair[1])
        grad_spikes = None if grad_spikes is None else grad_spikes.unbind(1)
        last = [torch.zeros_like(v_all[0]) if grad is None else grad for grad in (grad_v_last, grad_a_last)]
        totals = torch.empty_like(ds_pair)
        decays = torch.stack([alpha, rho]).unsqueeze(1)
        grad_z0 = _alif_backward_loop(grad_spikes, torch.stack(last), ds_pair, totals, decays, w_rec, 1 - rho)
        grad_v0, grad_a0 = decays * totals[:, 0]
        dv_tot_all, da_tot_all, ds_all = totals[0], totals[1], ds_pair[0]
        z_prev, v_prev, a_prev = z_all[:-1], v_all[:-1], a_all[:-1]
        n = w_rec.shape[0]
        grad_w_rec = z_prev.reshape(-1, n).T @ dv_tot_all.reshape(-1, n)
        # the products go into -beta ds's buffer, spent by now: a fresh (T, B, n) tensor
        # costs more in first-touch page faults than the multiply itself
        scratch = ds_pair[1]
        grad_alpha = torch.mul(dv_tot_all, v_prev, out=scratch).sum((0, 1))
        grad_rho = torch.sub(a_prev, z_prev, out=scratch).mul_(da_tot_all).sum((0, 1))
        grad_thr = -ds_all.sum((0, 1))
        grad_beta = -torch.mul(ds_all, a_all[1:], out=scratch).sum((0, 1))
        return (dv_tot_all.transpose(0, 1), grad_w_rec, grad_alpha, grad_rho, grad_thr, grad_beta,
                grad_z0, grad_v0, grad_a0)


def _alif_forward_step(t, input_t, state, threshold, current, constants, binary):
    """Step t of ``ALIFSequence.forward``, written into the state buffers at t + 1.

    ``binary``: z_{t-1} holds only 0 and 1, so the fused multiply-adds are exact."""
    z_all, va_all, v_all, a_all = state
    w_rec, decays, one_minus_rho, thr, beta = constants
    z, v_new, a_new = z_all[t], v_all[t + 1], a_all[t + 1]
    torch.mm(z, w_rec, out=current).add_(input_t)  # not addmm: it rounds differently
    torch.mul(decays, va_all[t], out=va_all[t + 1])  # alpha v and rho a in one call
    if binary:
        a_new.addcmul_(one_minus_rho, z)
    else:
        a_new.add_(one_minus_rho * z)
    torch.mul(beta, a_new, out=threshold).add_(thr)
    v_new.add_(current)
    if binary:  # the reset, stop-gradient: no term for it in the backward
        v_new.addcmul_(threshold, z, value=-1)
    else:
        v_new.sub_(threshold * z)
    torch.gt(v_new, threshold, out=z_all[t + 1])  # = (v - threshold > 0) for IEEE floats


def _alif_backward_loop(grad_spikes, last, ds_pair, totals, decays, w_rec, one_minus_rho):
    """The reverse loop of ``ALIFSequence.backward``: turns ``ds_pair`` from the surrogate
    factors into (ds, -beta ds) and fills ``totals`` = (dv_tot, da_tot) of every step;
    returns the initial spikes' gradient."""
    steps = ds_pair.shape[1]
    ds_t, total_t = ds_pair.unbind(1), totals.unbind(1)
    dv_tot_t, da_tot_t = totals[0].unbind(0), totals[1].unbind(0)
    w_rec_t = w_rec.T
    grad_z = torch.zeros_like(last[0]) if grad_spikes is None else grad_spikes[-1]
    carry = torch.empty_like(last[0])
    for t in range(steps - 1, -1, -1):
        ds_t[t].mul_(grad_z)
        if t == steps - 1:
            torch.add(ds_t[t], last, out=total_t[t])
        else:  # the decayed adjoints of step t + 1 plus this step's
            torch.addcmul(ds_t[t], decays, total_t[t + 1], out=total_t[t])
        if t == 0 or grad_spikes is None:
            torch.mul(one_minus_rho, da_tot_t[t], out=carry)
        else:  # the next output gradient folded into the addmm's base
            torch.addcmul(grad_spikes[t - 1], one_minus_rho, da_tot_t[t], out=carry)
        grad_z = torch.addmm(carry, dv_tot_t[t], w_rec_t, out=carry)
    return grad_z
