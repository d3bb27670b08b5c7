"""Time one RNN LSC step of a PTB net, the former radius path and the new one side by side,
and where its time goes:

new      what lscrepro.lsc.recurrent does: every local Jacobian of the step (rec and depth
         per layer, enc; dec is skipped for PTB's 10000-way readout, as the reference
         does) for the whole batch, in closed form, radii by the configured method, the
         loss, its backward and one optimiser update. The Ritz radius's exact path takes
         eigenvalues only, the gradient from the dominant eigenvectors; with
         ``--early-exit`` it also gives up after 3 squarings on a spectrum that the early
         check expects not to separate;
new, float32 squarings
         the same with ``squaring_precision="float32"`` (the default "auto" squares
         float32 Jacobians of 512 rows or more in bfloat16 after the fourth squaring where
         the hardware has fast bfloat16), printed as a second speed-up line;
old      the same step with the former Ritz radius (12 squarings for every sample, the
         exact path's gradient from the backward of a full eig), on a copy of the same
         model; the three alternate, ``--repeats`` times each, and the medians are
         compared ("speed-up");
naive    a per-sample autograd loop: torch.autograd.functional.jacobian (create_graph)
         of one sample's step, torch.linalg.eigvals, the loss's backward. It is far too
         slow to run in full, so it runs ``--naive-samples`` (sample, Jacobian) pairs of
         the first layer's rec Jacobian and is scaled to batch x Jacobians per step.

Also printed, measured in the same run: the squarings' rate (the Ritz method's
dominant-subspace phase, counted as its 2 B n^3 flops per squaring) as a share of a plain
batched GEMM of the same (B, n, n) shape, and the closed-form Jacobians against
torch.func's (vmap of jacrev) on the same layers.

    python benchmarks/rnn_lsc_step.py [--cell LSTM] [--widths 500,300] [--batch 8] [--repeats 3]
    python benchmarks/rnn_lsc_step.py --cell ssimplernn --widths 1300,300 --batch 16

Widths: the paper's PTB nets are 1300:300 (simple RNNs, ALIFs), 500:300 (LSTM), 625:300
(GRU) at depth 2 (config/config.yaml); the default is a smaller LSTM. The LSC batch is 16
for the simple RNNs, 3 for the ALIFs and 8 otherwise. Threads: 1 by default, as the jobs
(rules/jobs.smk).
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import time
from contextlib import contextmanager

import torch

from lscrepro.lsc import jacobians as radius_module
from lscrepro.lsc import recurrent
from lscrepro.lsc.recurrent import RecurrentLSCSettings, cell_views, local_radii, lsc_loss
from lscrepro.models import build_model
from lscrepro.lsc.views import RecurrentLSCView
from lscrepro.optim import adabelief_lookahead

VOCAB = 10000


def build(cell: str, widths: list[int]):
    dims = {"vocab_size": VOCAB, "num_classes": VOCAB, "steps": 200}
    config = {"name": "rnn", "cell": cell, "depth": len(widths), "widths": widths,
              "embedding": widths[-1]}  # the tied readout: the embedding is the last width
    return build_model(config, dims, 0)


@contextmanager
def former_radius():
    """The recurrent LSC's radii by the former Ritz path (no early check, eig backward)."""
    original = recurrent.spectral_radius
    recurrent.spectral_radius = functools.partial(original, early_exit=False, exact_gradient="eig",
                                                   rescue=False, squaring_precision="float32")
    try:
        yield
    finally:
        recurrent.spectral_radius = original


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

    def wrapper(jac, squarings, rank, generator, check=True, low_precision=False):
        start = time.perf_counter()
        out = original(jac, squarings, rank, generator, check, low_precision)
        batch, n, kept = jac.shape[0], jac.shape[-1], len(out[3])
        early = min(squarings, radius_module._CHECK_AFTER) if check else squarings
        count = batch * early + kept * (squarings - early)  # squarings done, over samples
        # bfloat16 from LOW_PRECISION_FROM on, for every sample still squared by then
        low_from = radius_module.LOW_PRECISION_FROM
        low = ((kept if check and low_from >= early else batch) * max(squarings - low_from, 0)
               if low_precision else 0)
        record.append((time.perf_counter() - start, count * 2 * n ** 3, batch, n, low / count))
        return out

    radius_module._dominant_subspaces = wrapper
    try:
        yield
    finally:
        radius_module._dominant_subspaces = original


def gemm_rate(batch: int, n: int, dtype: torch.dtype = torch.float32, repeats: int = 12) -> float:
    """flop/s of a plain (B, n, n) @ (B, n, n) into a preallocated output, best of 3."""
    a = (torch.randn(batch, n, n) / n ** 0.5).to(dtype)
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
    low = sum(r[1] * r[4] for r in record) / flops
    shapes = sorted({(r[2], r[3], dtype) for r in record
                     for dtype, share in ((torch.float32, 1 - r[4]), (torch.bfloat16, r[4])) if share},
                    key=str)
    rates = {shape: gemm_rate(*shape) for shape in shapes}
    # seconds, were every squaring a plain GEMM of its shape and dtype
    at_gemm_rate = sum(r[1] * (1 - r[4]) / rates[r[2], r[3], torch.float32]
                       + r[1] * r[4] / rates.get((r[2], r[3], torch.bfloat16), 1.0) for r in record)
    listed = ", ".join(f"({b}, {n}, {n}) {str(dtype)[6:]} {rate / 1e9:.0f}"
                       for (b, n, dtype), rate in rates.items())
    print(f"squarings: {flops / seconds / 1e9:.0f} GFLOP/s over {len(record)} radii, {low:.0%} of "
          f"their flops in bfloat16 ({seconds / step_seconds:.0%} of the steps' time); plain GEMM "
          f"here, GFLOP/s: {listed}; squarings at {at_gemm_rate / seconds:.0%} of the GEMM rate")


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


def warm_states(model, batch: int, generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Tokens and the states after 5 steps on random tokens from zero (zero states make
    easy Jacobians; random ones are not states the cell can reach)."""
    views = cell_views(model)
    states = [view.zeros(batch, None) for view in views]
    with torch.no_grad():
        for _ in range(5):
            tokens = torch.randint(VOCAB, (batch,), generator=generator)
            _, states = recurrent.advance(views, model.embed(tokens), states)
    return torch.randint(VOCAB, (batch,), generator=generator), states


@contextmanager
def new_radius(early_exit: bool, squaring_precision: str = "float32"):
    """The recurrent LSC's radii by today's Ritz path, with or without the early check, its
    squarings in ``squaring_precision``."""
    original = recurrent.spectral_radius
    recurrent.spectral_radius = functools.partial(original, early_exit=early_exit,
                                                   squaring_precision=squaring_precision)
    try:
        yield
    finally:
        recurrent.spectral_radius = original


@contextmanager
def counted_exact(counts: list):
    """Append the number of samples each step sends to the exact eigensolver."""
    original = radius_module.exact_radius

    def wrapper(jac, *args, **kwargs):
        counts[-1] += len(jac)
        return original(jac, *args, **kwargs)

    radius_module.exact_radius = wrapper
    try:
        yield
    finally:
        radius_module.exact_radius = original


# the paths timed, alternating: the former radius, today's default (squaring_precision
# "auto": bfloat16 squarings where they pay) and today's with float32 squarings throughout
PATHS = {"old": None, "new": "auto", "new, float32 squarings": "float32"}


def timed_paths(model, tokens, states, settings, repeats: int,
                early_exit: bool) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Old and new steps, alternating, each on its own copy of the model and optimiser;
    their seconds and how many samples each sent to the exact eigensolver."""
    runs = {}
    for name in PATHS:
        copied = copy.deepcopy(model)
        optimizer = adabelief_lookahead(copied.parameters(), settings.lr, settings.weight_decay)
        runs[name] = (copied, optimizer, torch.Generator().manual_seed(1), [], [])
    for _ in range(repeats):
        for name, (copied, optimizer, generator, seconds, exact) in runs.items():
            exact.append(0)
            with (former_radius() if name == "old" else new_radius(early_exit, PATHS[name])), \
                    counted_exact(exact):
                seconds.append(batched_step(copied, optimizer, tokens, states, settings, generator))
    return {name: run[3] for name, run in runs.items()}, {name: run[4] for name, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="LSTM")
    parser.add_argument("--widths", default="500,100,500,100,300",
                        help="comma-separated layer widths (the last is also the embedding's)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--naive-samples", type=int, default=3)
    parser.add_argument("--radius-method", default="ritz", choices=["ritz", "eig"])
    parser.add_argument("--early-exit", action="store_true",
                        help="the new path also gives up after 3 squarings on ring spectra")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    settings = RecurrentLSCSettings(radius_method=args.radius_method)
    model = build(args.cell, widths)
    generator = torch.Generator().manual_seed(0)
    tokens, states = warm_states(model, args.batch, generator)
    shapes = {key: tuple(jac.shape[1:]) for key, jac in
              recurrent.local_jacobians(model, cell_views(model), model.embed(tokens), states, False,
                                        compact_depth=True)[0].items()}
    jacobians = len(shapes)
    print(f"{args.cell} widths {widths}, batch {args.batch}, Jacobians per sample "
          f"{', '.join(f'{k}{l + 1} {s[0]}x{s[1]}' for (k, l), s in shapes.items())}, "
          f"radius {args.radius_method}, early exit {'on' if args.early_exit else 'off'}, "
          f"{torch.get_num_threads()} thread(s)")
    squarings: list = []
    with timed_squarings(squarings):
        seconds, exact = timed_paths(model, tokens, states, settings, args.repeats, args.early_exit)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, values in seconds.items():
        print(f"{name}: {medians[name]:.2f} s/step (median of {args.repeats}: "
              f"{', '.join(f'{t:.2f}' for t in values)}; samples to the exact eigensolver per "
              f"step: {', '.join(map(str, exact[name]))})")
    print(f"speed-up: {medians['old'] / medians['new']:.1f}x")
    print(f"speed-up with float32 squarings throughout: "
          f"{medians['old'] / medians['new, float32 squarings']:.1f}x")
    if squarings:
        report_squarings(squarings, sum(map(sum, seconds.values())))
    closed, autograd = jacobian_seconds(model, tokens, states)
    print(f"rec + input Jacobians of all layers: closed form {closed:.2f} s, torch.func "
          f"{autograd:.2f} s ({autograd / closed:.1f}x)")
    if args.naive_samples:
        pairs = [naive_pair(model, tokens, states, i % args.batch) for i in range(args.naive_samples)]
        naive_step = statistics.median(pairs) * args.batch * jacobians
        print(f"naive (per-sample autograd + eigvals): {statistics.median(pairs):.2f} s per "
              f"(sample, Jacobian), measured on {args.naive_samples} pair(s) of layer 1's rec "
              f"Jacobian and scaled by {args.batch} samples x {jacobians} Jacobians = "
              f"{naive_step:.1f} s/step (estimate); new vs naive: {naive_step / medians['new']:.1f}x")


if __name__ == "__main__":
    main()
