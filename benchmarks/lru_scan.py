"""Forward + backward seconds of one LRU layer over a sequence, two ways:

scan    ``LRU.forward`` with method "scan": the input projection of all steps at once,
        the log-depth parallel scan of x_t = lambda x_{t-1} + gamma (u_t B) in one
        autograd node, the readout at once (the default on accelerators);
inplace ``LRU.forward`` with method "loop": the same, the recurrence by an in-place
        loop over time inside that node (the default on the CPU);
loop    a Python loop over ``LRU.step`` (``LRU.forward_stepwise``), autograd through it.

Prints the median of ``--repeats`` timings of each and the ratios to the step loop.

    python benchmarks/lru_scan.py [--steps 300] [--width 256] [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lscrepro.models.lru import LRU


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    lru = LRU(args.width, torch.Generator().manual_seed(args.seed))
    u = torch.randn(args.batch, args.steps, args.width, generator=torch.Generator().manual_seed(1))
    u.requires_grad_(True)

    def run(forward):
        def once():
            lru.zero_grad(set_to_none=True)
            u.grad = None
            y, x_last = forward(u)
            (y.square().mean() + x_last.square().mean()).backward()
        return once

    def with_method(method):
        def forward(inputs):
            lru.method = method
            return lru(inputs)
        return forward

    with torch.no_grad():  # they agree before timing anything
        reference = lru.forward_stepwise(u)[0]
        gap = max((with_method(m)(u)[0] - reference).abs().max().item() for m in ("scan", "loop"))
    scan = timed(run(with_method("scan")), args.repeats)
    inplace = timed(run(with_method("loop")), args.repeats)
    loop = timed(run(lru.forward_stepwise), args.repeats)
    print(f"LRU forward+backward, T={args.steps} width={args.width} (N={2 * args.width} complex) "
          f"batch={args.batch}, threads={args.threads}, median of {args.repeats}")
    print(f"  max |y - y_step_loop| = {gap:.2e}")
    print(f"  scan (parallel doubling):     {scan * 1e3:8.2f} ms")
    print(f"  inplace (time loop in node):  {inplace * 1e3:8.2f} ms")
    print(f"  loop over step (autograd):    {loop * 1e3:8.2f} ms")
    print(f"  loop / scan = {loop / scan:.1f}x, loop / inplace = {loop / inplace:.1f}x")


if __name__ == "__main__":
    main()
