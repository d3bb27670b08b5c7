"""Forward + backward seconds of a two-layer GRU stack, old (nn.GRU, ``GRULayer.forward_fused``)
against new (``GRUSequence``, ``GRULayer.forward``), on the training shapes of the grid:

ptb       a 300-wide input (the embedding), GRU 625 then 300, batch 32, 200 steps (maxlen 100 x 2)
sl_mnist  784 input channels, GRU 53 then 53, batch 256, 200 steps (100 x timerepeat 2)

The two run alternately, one repeat each in turn, in one process; prints the medians, their
ratios (wall and process CPU time), the largest gradient difference, and the ATen calls per
time step of each (a TorchDispatchMode counter below autograd, forward and backward: GEMMs,
views and the other ops counted apart).

    python benchmarks/gru_sequence.py [--repeats 7] [--threads 1] [--shapes ptb sl_mnist] [--heap]

--heap: glibc's malloc keeps freed memory in the heap (lscrepro.host_memory, as the jobs
run), so that sequence-long buffers stop faulting their pages in at every step.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from lscrepro.models.rnn import GRULayer

SHAPES = {"ptb": (300, (625, 300), 32, 200), "sl_mnist": (784, (53, 53), 256, 200)}
GEMMS = {"aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::baddbmm"}


class CallCounter(TorchDispatchMode):
    """ATen calls below autograd by kind: GEMM, view (no kernel: select, transpose...), other."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name
        self.calls["GEMM" if name in GEMMS else "view" if func.is_view else "other"] += 1
        return func(*args, **(kwargs or {}))


def make_step(layers, x, weights, forward_name):
    def step():
        for layer in layers:
            layer.zero_grad(set_to_none=True)
        h = x
        for layer in layers:
            h, _ = getattr(layer, forward_name)(h)
        (h * weights).sum().backward()
        return [p.grad for layer in layers for p in layer.parameters()]
    return step


def per_step_calls(step, steps: int) -> str:
    with CallCounter() as counter:
        step()
    return " + ".join(f"{counter.calls[kind] / steps:.1f} {kind}" for kind in ("GEMM", "other", "view"))


def bench(name: str, repeats: int) -> None:
    n_in, widths, batch, steps = SHAPES[name]
    generator = torch.Generator().manual_seed(0)
    layers, width_in = [], n_in
    for width in widths:
        layers.append(GRULayer(width_in, width, generator))
        width_in = width
    x = torch.randn(batch, steps, n_in, generator=generator)
    weights = torch.randn(batch, steps, widths[-1], generator=generator)
    old, new = make_step(layers, x, weights, "forward_fused"), make_step(layers, x, weights, "forward")
    gap = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(new(), old()))
    wall, cpu = {"old": [], "new": []}, {"old": [], "new": []}
    for _ in range(repeats):
        for label, step in (("old", old), ("new", new)):
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - start_cpu)
    print(f"{name}: input {n_in}, GRU {widths}, batch {batch}, {steps} steps; median of {repeats}")
    print(f"  largest relative gradient difference new vs old: {gap:.1e}")
    for label, step in (("old", old), ("new", new)):
        calls = per_step_calls(step, steps)
        print(f"  {label}: wall {statistics.median(wall[label]):.3f} s, "
              f"CPU {statistics.median(cpu[label]):.3f} s; ATen calls per time step: {calls}")
    print(f"  old / new: wall {statistics.median(wall['old']) / statistics.median(wall['new']):.2f}x, "
          f"CPU {statistics.median(cpu['old']) / statistics.median(cpu['new']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--heap", action="store_true", help="the jobs' malloc policy (host_memory)")
    args = parser.parse_args()
    if args.heap:
        from lscrepro.host_memory import keep_freed_memory
        print(f"freed memory kept in the heap: {keep_freed_memory()}")
    torch.set_num_threads(args.threads)
    for name in args.shapes:
        bench(name, args.repeats)


if __name__ == "__main__":
    main()
