"""Forward + backward of one ALIF layer (maLSNN's ``ALIFSequence``), old beside new, in one run.

Shapes: Heidelberg (width 256 after 256, 500 steps = 250 bins x timerepeat 2; batch 100 at
depth 2, 32 at depth 5) and PTB (1300 wide after a 300 input, batch 32, 200 steps).

old     ``ALIFSequence`` before the fused rewrite (kept below as ``OldALIFSequence``);
new     ``lscrepro.models.spiking.ALIFSequence``.

First both are checked against each other (spikes and final state bit for bit, gradients
to float32 rounding). Then each repeat runs old and new in turn (interleaved, so a shared
machine's load falls on both), after a warm-up; one thread. Prints median wall and thread
CPU seconds, the ratio old / new, and the eager aten calls per time step of each (counted by a dispatch mode).

    python benchmarks/alif_sequence.py [--repeats 7] [--shapes heidelberg100 heidelberg32 ptb]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lscrepro.models.spiking import ALIFLayer, ALIFSequence, surrogate_derivative

SHAPES = {  # name: (n_in, n, batch, steps)
    "heidelberg100": (256, 256, 100, 500),
    "heidelberg32": (256, 256, 32, 500),
    "ptb": (300, 1300, 32, 200),
}


class OldALIFSequence(torch.autograd.Function):
    """``ALIFSequence`` as committed at a996527 (13 eager calls per step forward, 8 backward)."""

    @staticmethod
    def forward(ctx, input_currents, w_rec, alpha, rho, thr, beta, z0, v0, a0):
        steps = input_currents.shape[1]
        currents = input_currents.transpose(0, 1)
        z_all = torch.empty((steps + 1, *z0.shape), dtype=z0.dtype, device=z0.device)
        v_all, a_all = torch.empty_like(z_all), torch.empty_like(z_all)
        z_all[0], v_all[0], a_all[0] = z0, v0, a0
        one_minus_rho = 1 - rho
        for t in range(steps):
            z, v, a = z_all[t], v_all[t], a_all[t]
            current = torch.mm(z, w_rec).add_(currents[t])
            a_new = torch.mul(rho, a, out=a_all[t + 1]).add_(one_minus_rho * z)
            threshold = (beta * a_new).add_(thr)
            v_new = torch.mul(alpha, v, out=v_all[t + 1]).add_(current).sub_(threshold * z)
            torch.gt(v_new - threshold, 0, out=z_all[t + 1])
        ctx.save_for_backward(w_rec, alpha, rho, thr, beta, z_all, v_all, a_all)
        return z_all[1:].transpose(0, 1), v_all[-1].clone(), a_all[-1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_spikes, grad_v_last, grad_a_last):
        w_rec, alpha, rho, thr, beta, z_all, v_all, a_all = ctx.saved_tensors
        steps = z_all.shape[0] - 1
        surrogate = surrogate_derivative(v_all[1:] - (beta * a_all[1:] + thr))
        grad_spikes = torch.zeros_like(surrogate) if grad_spikes is None else grad_spikes.transpose(0, 1)
        dv = torch.zeros_like(v_all[0]) if grad_v_last is None else grad_v_last
        da = torch.zeros_like(a_all[0]) if grad_a_last is None else grad_a_last
        ds_all, dv_tot_all, da_tot_all = (torch.empty_like(surrogate) for _ in range(3))
        carry_z = torch.zeros_like(dv)
        w_rec_t, one_minus_rho = w_rec.T, 1 - rho
        for t in range(steps - 1, -1, -1):
            ds = torch.mul(grad_spikes[t] + carry_z, surrogate[t], out=ds_all[t])
            dv_tot = torch.add(dv, ds, out=dv_tot_all[t])
            da_tot = torch.addcmul(da, beta, ds, value=-1, out=da_tot_all[t])
            carry_z = torch.addmm(one_minus_rho * da_tot, dv_tot, w_rec_t)
            dv, da = alpha * dv_tot, rho * da_tot
        z_prev, v_prev, a_prev = z_all[:-1], v_all[:-1], a_all[:-1]
        n = w_rec.shape[0]
        grad_w_rec = z_prev.reshape(-1, n).T @ dv_tot_all.reshape(-1, n)
        grad_alpha = (dv_tot_all * v_prev).sum((0, 1))
        grad_rho = (da_tot_all * (a_prev - z_prev)).sum((0, 1))
        grad_thr = -ds_all.sum((0, 1))
        grad_beta = -(ds_all * a_all[1:]).sum((0, 1))
        return (dv_tot_all.transpose(0, 1), grad_w_rec, grad_alpha, grad_rho, grad_thr, grad_beta,
                carry_z, dv, da)


def step(layer, sequence, x, weights, state):
    """ALIFLayer.forward through ``sequence``, a loss on spikes and final state, backward."""
    layer.zero_grad(set_to_none=True)
    input_currents = x @ layer.input_weights
    w_rec, alpha, rho = layer._constants()
    spikes, v_last, a_last = sequence.apply(input_currents, w_rec, alpha, rho, layer.thr, layer.beta, *state)
    ((spikes * weights).sum() + v_last.square().sum() + a_last.square().sum()).backward()
    return spikes, v_last, a_last, [p.grad.clone() for p in layer.parameters()]


class CountCalls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def calls_per_step(layer, sequence, shape, extra_steps=16):
    """Eager aten calls per time step: the difference of two runs, so the per-sequence ones cancel."""
    totals = []
    for steps in (8, 8 + extra_steps):
        x, weights, state = inputs(shape[:3] + (steps,))
        with CountCalls() as counter:
            step(layer, sequence, x, weights, state)
        totals.append(counter.calls)
    diff = {op: (totals[1][op] - totals[0][op]) / extra_steps for op in totals[1]}
    return {op: count for op, count in sorted(diff.items()) if count}


def inputs(shape, seed=0):
    n_in, n, batch, steps = shape
    generator = torch.Generator().manual_seed(seed)
    x = 3 * (torch.rand(batch, steps, n_in, generator=generator) < 0.1).float()
    weights = torch.randn(batch, steps, n, generator=generator)
    state = (torch.zeros(batch, n), torch.zeros(batch, n), torch.zeros(batch, n))
    return x, weights, state


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    paths = {"old": OldALIFSequence, "new": ALIFSequence}
    for name in args.shapes:
        shape = SHAPES[name]
        layer = ALIFLayer(shape[0], shape[1], shape[3] / 2, torch.Generator().manual_seed(0))
        x, weights, state = inputs(shape)
        old, new = (step(layer, paths[key], x, weights, state) for key in ("old", "new"))
        same = all(torch.equal(a, b) for a, b in zip(old[:3], new[:3]))
        worst = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(old[3], new[3]))
        print(f"{name} {shape}: spike rate {new[0].mean():.3f}, spikes and state equal: {same}, "
              f"worst gradient difference / max {worst:.1e}")
        seconds = {(key, clock): [] for key in paths for clock in ("wall", "cpu")}
        for _ in range(args.repeats + 1):  # the first round is the warm-up
            for key, sequence in paths.items():
                wall, cpu = time.perf_counter(), time.thread_time()
                step(layer, sequence, x, weights, state)
                seconds[key, "cpu"].append(time.thread_time() - cpu)
                seconds[key, "wall"].append(time.perf_counter() - wall)
        medians = {key: statistics.median(values[1:]) for key, values in seconds.items()}
        for clock in ("wall", "cpu"):  # cpu: this thread's CPU time, less hit by a busy machine
            old, new = medians["old", clock], medians["new", clock]
            print(f"  median {clock} s: old {old:.3f}, new {new:.3f}, old / new {old / new:.2f}x")
        for key, sequence in paths.items():
            counts = calls_per_step(layer, sequence, shape)
            print(f"  {key} calls per step: {sum(counts.values()):.0f} {counts}")


if __name__ == "__main__":
    main()
