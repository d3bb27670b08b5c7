"""Time one RNN LSC step (LSTM, PTB sizes) two ways, side by side, and where its time goes:

batched  what lscrepro.lsc.recurrent does: every local Jacobian of the step (rec and depth
         per layer, enc; dec is skipped for PTB's 10000-way readout, as the reference
         does) for the whole batch, in closed form (the LSTM view's diagonally scaled
         weight blocks), radii by the configured method, the loss, its backward and one
         optimiser update;
naive    a per-sample autograd loop: torch.autograd.functional.jacobian (create_graph)
         of one sample's step, torch.linalg.eigvals, the loss's backward. It is far too
         slow to run in full, so it runs ``--naive-samples`` (sample, Jacobian) pairs of
         the first layer's rec Jacobian and is scaled to batch x Jacobians per step.

Also printed, measured in the same run: the squarings' rate (the Ritz method's
dominant-subspace phase, counted as its 2 B n^3 flops per squaring) as a share of a plain
batched GEMM of the same (B, n, n) shape, and the closed-form Jacobians against
torch.func's (vmap of jacrev) on the same layers.

    python benchmarks/rnn_lsc_step.py [--width 512] [--depth 5] [--batch 8] [--repeats 3]

The paper's PTB width is 1300; on 2 CPU cores one batched step at that width takes
minutes, so the default is 512.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

import torch

from lscrepro.lsc import jacobians as radius_module
from lscrepro.lsc.recurrent import RecurrentLSCSettings, cell_views, local_radii, lsc_loss
from lscrepro.models import build_model
from lscrepro.models.lscview import RecurrentLSCView
from lscrepro.optim import adabelief_lookahead

VOCAB = 10000


def build(width: int, depth: int):
    dims = {"vocab_size": VOCAB, "num_classes": VOCAB, "steps": 200}
    return build_model({"name": "rnn", "cell": "LSTM", "depth": depth, "width": width}, dims, 0)


def batched_step(model, optimizer, tokens, states, settings, generator) -> float:
    start = time.perf_counter()
    radii, _ = local_radii(model, cell_views(model), model.embed(tokens), states, settings, generator)
    loss = lsc_loss(radii, settings.target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def naive_pair(model, tokens, states, sample: int) -> float:
    """One (sample, Jacobian) of the naive loop: layer 1's rec Jacobian of one sample."""
    view = cell_views(model)[0]
    start = time.perf_counter()
    x = model.embed(tokens[sample:sample + 1])[0].detach()
    jac = torch.autograd.functional.jacobian(lambda s: view.step(x, s), states[0][sample],
                                             create_graph=True)
    radius = torch.linalg.eigvals(jac).abs().amax()
    model.zero_grad(set_to_none=True)
    ((radius - 0.5) ** 2).backward()
    return time.perf_counter() - start


@contextmanager
def timed_squarings(record: list):
    """Record (seconds, flops) of every dominant-subspace phase run inside the block."""
    original = radius_module._dominant_subspaces

    def wrapper(jac, jac64, squarings, *args):
        start = time.perf_counter()
        out = original(jac, jac64, squarings, *args)
        batch, n = jac.shape[0], jac.shape[-1]
        record.append((time.perf_counter() - start, squarings * 2 * batch * n ** 3, batch, n))
        return out

    radius_module._dominant_subspaces = wrapper
    try:
        yield
    finally:
        radius_module._dominant_subspaces = original


def gemm_rate(batch: int, n: int, repeats: int = 12) -> float:
    """flop/s of a plain (B, n, n) @ (B, n, n) into a preallocated output, best of 3."""
    a = torch.randn(batch, n, n) / n ** 0.5
    out = torch.empty_like(a)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return repeats * 2 * batch * n ** 3 / best


def report_squarings(record: list, step_seconds: float) -> None:
    """The squarings' rate against plain GEMMs of the same shapes, timed now."""
    seconds = sum(r[0] for r in record)
    flops = sum(r[1] for r in record)
    rates = {shape: gemm_rate(*shape) for shape in sorted({(r[2], r[3]) for r in record})}
    at_gemm_rate = sum(r[1] / rates[r[2], r[3]] for r in record)  # seconds, were it all GEMM
    shapes = ", ".join(f"({b}, {n}, {n}) {rate / 1e9:.0f}" for (b, n), rate in rates.items())
    print(f"squarings: {flops / seconds / 1e9:.0f} GFLOP/s over {len(record)} radii "
          f"({seconds / step_seconds:.0%} of the steps' time); plain GEMM here, GFLOP/s: {shapes}; "
          f"squarings at {at_gemm_rate / seconds:.0%} of the GEMM rate")


def jacobian_seconds(model, tokens, states) -> tuple[float, float]:
    """Seconds for every layer's (rec, input) Jacobians: closed form, then torch.func."""
    views, x = cell_views(model), model.embed(tokens).detach()
    seconds = []
    for jacobians in (lambda v, x, s: v.jacobians(x, s),
                      lambda v, x, s: RecurrentLSCView.jacobians(v, x, s)):
        start = time.perf_counter()
        inputs = x
        for view, s in zip(views, states):
            jacobians(view, inputs, s)
            inputs = view.output(view.step(inputs, s)).detach()
        seconds.append(time.perf_counter() - start)
    return seconds[0], seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-samples", type=int, default=3)
    parser.add_argument("--radius-method", default="ritz", choices=["ritz", "eig"])
    args = parser.parse_args()
    settings = RecurrentLSCSettings(radius_method=args.radius_method)
    model = build(args.width, args.depth)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(VOCAB, (args.batch,), generator=generator)
    # a state from a few steps of real running, not zeros (zero states make easy Jacobians)
    states = [torch.randn(args.batch, 2 * args.width, generator=generator) * 0.3
              for _ in range(args.depth)]
    jacobians = 2 * args.depth  # rec per layer, depth per layer but the first, enc
    print(f"LSTM depth {args.depth}, width {args.width} (state {2 * args.width}), batch {args.batch}, "
          f"{jacobians} Jacobians per sample, radius {args.radius_method}, "
          f"{torch.get_num_threads()} threads")
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay)
    squarings: list = []
    with timed_squarings(squarings):
        batched = [batched_step(model, optimizer, tokens, states, settings, generator)
                   for _ in range(args.repeats)]
    batched_median = statistics.median(batched)
    print(f"batched: {batched_median:.2f} s/step (median of {args.repeats}: "
          f"{', '.join(f'{t:.2f}' for t in batched)})")
    if squarings:
        report_squarings(squarings, sum(batched))
    closed, autograd = jacobian_seconds(model, tokens, states)
    print(f"rec + input Jacobians of all layers: closed form {closed:.2f} s, torch.func "
          f"{autograd:.2f} s ({autograd / closed:.1f}x)")
    pairs = [naive_pair(model, tokens, states, i % args.batch) for i in range(args.naive_samples)]
    pair_median = statistics.median(pairs)
    naive_step = pair_median * args.batch * jacobians
    print(f"naive (per-sample autograd + eigvals): {pair_median:.2f} s per (sample, Jacobian), "
          f"measured on {args.naive_samples} pair(s) of layer 1's rec Jacobian and scaled by "
          f"{args.batch} samples x {jacobians} Jacobians = {naive_step:.1f} s/step (estimate)")
    print(f"speed-up: {naive_step / batched_median:.1f}x")


if __name__ == "__main__":
    main()
