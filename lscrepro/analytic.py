"""Figure 1 numbers: descent paths on the depth x time grid, and input gradients of deep RNNs.

The gradient of a deep RNN's top-right state h_L(T) with respect to an earlier, lower state
h_{L-dl}(T-dt) is a sum over paths through the grid, one product of local Jacobians per path.
Panel b counts those paths; panel c shows the consequence in a toy linear network, the
PascalRNN, whose local Jacobians are all rho, and in a ReLU RNN with He-initialised weights.

Tables produced here (long format) are what the plotting code reads:
    path_count_curves  -> panel, x, dt, dl, log10_paths
    gradient_table     -> net, rho, sample, t, output, abs_grad, closed_form
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import gammaln

# A step (a, b) goes a time steps back and b layers down.
TIME_STEP = (1, 0)
DEPTH_STEP = (0, 1)
DIAGONAL_STEP = (1, 1)

PASCAL = "PascalRNN"
HERNN = "HeRNN"

Weights = list[tuple[torch.Tensor, torch.Tensor]]  # (W_in, W_rec) per layer


def log10_paths(dt, dl):
    """log10 of C(dt + dl, dt), the number of descent paths across a dt x dl grid.

    What is counted: paths on the (time, depth) grid from (T, L) down to (T - dt, L - dl) made of
    unit steps that each go either one time step back in the same layer (TIME_STEP) or one layer
    down at the same time step (DEPTH_STEP), the two local Jacobians of the PascalRNN. Each path
    has dt + dl steps of which dt are in time, hence C(dt + dl, dt) paths. Relabelling every depth
    step as a DIAGONAL_STEP is a bijection onto the paths of dt TIME_STEPs and dl DIAGONAL_STEPs
    that panel a draws (spanning dt + dl time steps and dl layers); e.g. its 6 x 4 grid holds
    C(2 + 3, 2) = 10 of them.

    Works element-wise on arrays. It goes through log-gamma, so it never overflows (C(10100, 100)
    is about 1e241) and non-integer arguments give the usual gamma-function interpolation.
    """
    dt = np.asarray(dt, dtype=np.float64)
    dl = np.asarray(dl, dtype=np.float64)
    return (gammaln(dt + dl + 1) - gammaln(dt + 1) - gammaln(dl + 1)) / math.log(10)


def descent_paths(dt: int, dl: int, steps: Sequence[tuple[int, int]] = (TIME_STEP, DEPTH_STEP)):
    """Every path from (dt, dl) to (0, 0) as a tuple of steps; brute force, for small grids only.

    With the default steps there are C(dt + dl, dt) of them (see log10_paths); with
    (TIME_STEP, DIAGONAL_STEP) there are C(dt, dl).
    """
    if dt == 0 and dl == 0:
        return [()]
    return [
        (step, *rest)
        for step in steps
        if step[0] <= dt and step[1] <= dl
        for rest in descent_paths(dt - step[0], dl - step[1], steps)
    ]


def _integer_grid(start: int, stop: int, n_points: int) -> np.ndarray:
    """About n_points evenly spread integers in [start, stop], so that every count is exact."""
    return np.unique(np.rint(np.linspace(start, stop, n_points)).astype(np.int64))


def path_count_curves(
    max_time: int = 10_000,
    depth_gap: int = 5,
    max_depth_gap: int = 100,
    ratio: int = 100,
    n_points: int = 1000,
) -> pd.DataFrame:
    """The three curves of panel b, in long format (panel, x, dt, dl, log10_paths).

    panel "time":     x = T = dt in 1..max_time, dl = depth_gap;
    panel "depth":    x = dl in 1..max_depth_gap, dt = depth_gap;
    panel "diagonal": x = T = dt, dl = T / ratio, with T a multiple of ratio up to max_time
                      (integer dl, so the count is an exact binomial).
    """
    if max_time < ratio:
        raise ValueError(f"max_time={max_time} leaves no point on the T = {ratio} dl curve")
    times = _integer_grid(1, max_time, n_points)
    gaps = _integer_grid(1, max_depth_gap, n_points)
    diagonal = np.arange(ratio, max_time + 1, ratio)
    curves = [
        ("time", times, times, np.full_like(times, depth_gap)),
        ("depth", gaps, np.full_like(gaps, depth_gap), gaps),
        ("diagonal", diagonal, diagonal, diagonal // ratio),
    ]
    return pd.concat(
        [
            pd.DataFrame(
                {"panel": name, "x": x, "dt": dt, "dl": dl, "log10_paths": log10_paths(dt, dl)}
            )
            for name, x, dt, dl in curves
        ],
        ignore_index=True,
    )


def pascal_gradient_closed_form(steps: int, depth: int, rho: float) -> np.ndarray:
    """d(sum_t y(t)) / dx(t') of the PascalRNN for t' = 0..steps-1.

    x(t') reaches y(t' + k) along the C(k + L - 1, L - 1) paths that take k time steps and L
    depth steps, the last one being the step out of the input; each path weighs rho^(L + k).
    So dy/dx[t'] = sum_{k=0}^{T-1-t'} rho^(L+k) C(k+L-1, L-1), which at rho = 1 is C(L+T-1-t', L)
    (hockey-stick identity).
    """
    terms = [rho ** (depth + k) * math.comb(k + depth - 1, depth - 1) for k in range(steps)]
    # cumsum[K] sums k = 0..K and belongs to t' = T-1-K, hence the reversal.
    return np.cumsum(terms)[::-1].copy()


def _unroll(cell: Callable, inputs: torch.Tensor, width: int) -> torch.Tensor:
    """Run one recurrent layer over inputs (batch, time, features), from a zero state."""
    state = inputs.new_zeros(inputs.shape[0], width)
    outputs = []
    for x_t in inputs.unbind(1):
        state = cell(x_t, state)
        outputs.append(state)
    return torch.stack(outputs, dim=1)


def pascal_rnn(x: torch.Tensor, depth: int, rho: float) -> torch.Tensor:
    """Last layer of h_l(t) = rho h_{l-1}(t) + rho h_l(t-1), with h_0 = x (batch, time, width)."""
    h = x
    for _ in range(depth):
        h = _unroll(lambda x_t, state: rho * x_t + rho * state, h, h.shape[-1])
    return h


def he_rnn_weights(depth: int, width: int, generator: torch.Generator) -> Weights:
    """(W_in, W_rec) per layer, width x width, He-uniform: U(+-sqrt(6 / fan_in)), float64."""

    def he_uniform() -> torch.Tensor:
        weight = torch.empty(width, width, dtype=torch.float64)
        return torch.nn.init.kaiming_uniform_(weight, nonlinearity="relu", generator=generator)

    return [(he_uniform(), he_uniform()) for _ in range(depth)]


def _he_cell(x_t, state, w_in, w_rec, rho: float) -> torch.Tensor:
    return torch.relu(rho * x_t @ w_in + rho * state @ w_rec)


def he_rnn(x: torch.Tensor, weights: Weights, rho: float) -> torch.Tensor:
    """Last layer of h_l(t) = relu(rho h_{l-1}(t) W_in + rho h_l(t-1) W_rec), with h_0 = x."""
    h = x
    for w_in, w_rec in weights:
        h = _unroll(partial(_he_cell, w_in=w_in, w_rec=w_rec, rho=rho), h, w_rec.shape[1])
    return h


def input_gradient(net: Callable, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The output y = net(x) and d(sum of y over batch, time and units)/dx, both detached.

    Samples do not interact, so summing over the batch gives each sample its own gradient.
    """
    x = x.detach().clone().requires_grad_(True)
    y = net(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), grad


def _long_table(net: str, rho: float, output, grad, closed_form: np.ndarray) -> pd.DataFrame:
    """One (net, rho) block of the table; output and grad are (batch, time) tensors."""
    batch, steps = output.shape
    return pd.DataFrame(
        {
            "net": net,
            "rho": rho,
            "sample": np.repeat(np.arange(batch), steps),
            "t": np.tile(np.arange(steps), batch),
            "output": output.numpy().ravel(),
            "abs_grad": grad.abs().numpy().ravel(),
            "closed_form": np.tile(closed_form, batch),
        }
    )


def gradient_table(
    depth: int = 10,
    steps: int = 100,
    batch: int = 6,
    rhos: Sequence[float] = (0.5, 1.0),
    hernn_width: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Panel c in long format: net, rho, sample, t, output, abs_grad, closed_form.

    Inputs x ~ 2 N(0, 1) and the HeRNN weights are drawn once from `seed`, so the rhos differ
    only in rho. For the HeRNN, output is unit 0 of the last layer and abs_grad is taken with
    respect to input channel 0; its closed_form is NaN. Everything is computed in float64.
    """
    generator = torch.Generator().manual_seed(seed)
    x_pascal = 2 * torch.randn(batch, steps, 1, generator=generator, dtype=torch.float64)
    x_he = 2 * torch.randn(batch, steps, hernn_width, generator=generator, dtype=torch.float64)
    weights = he_rnn_weights(depth, hernn_width, generator)
    no_closed_form = np.full(steps, np.nan)

    tables = []
    for rho in rhos:
        rho = float(rho)
        output, grad = input_gradient(partial(pascal_rnn, depth=depth, rho=rho), x_pascal)
        closed = pascal_gradient_closed_form(steps, depth, rho)
        tables.append(_long_table(PASCAL, rho, output[..., 0], grad[..., 0], closed))
        output, grad = input_gradient(partial(he_rnn, weights=weights, rho=rho), x_he)
        tables.append(_long_table(HERNN, rho, output[..., 0], grad[..., 0], no_closed_form))
    return pd.concat(tables, ignore_index=True)
