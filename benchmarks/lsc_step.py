"""Seconds per LSC pre-training step of the Figure 2 network (depth 30, width 128,
MNIST-sized input), batched torch.func + Ritz radius against baselines run in the
same process, and against the reference TensorFlow implementation's measured times.

    python benchmarks/lsc_step.py [--repeats 5] [--threads 2] [--tf-python PYTHON]

With --tf-python (a Python that has TensorFlow; see benchmarks/reference_tf_step.py) the
reference's TensorFlow step is timed on this machine in the same run, before ours; without it, the
column uses the reference's times measured when the targets were set.

One step = forward to a random hidden block, the per-sample Jacobians of that block,
their spectral radii, the loss mean((rho - 1)^2), backward and an optimiser step.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from lscrepro.lsc.jacobians import batched_jacobian, spectral_radius
from lscrepro.models.dense import DenseStack
from lscrepro.optim import adabelief_lookahead

# The reference (TensorFlow 2, stable_drnn nonrecLSC) measured on a 2-core CPU like this
# one: seconds per step, by batch size (see the issue that set these targets).
REFERENCE_TF_SECONDS = {512: 7.1, 64: 1.6}
TF_STEP = Path(__file__).with_name("reference_tf_step.py")


def reference_tf_seconds(python: str, batches: list[int], repeats: int, threads: int) -> dict[int, float]:
    """Median seconds per step of the reference's TensorFlow algorithm, timed here, by batch."""
    out = subprocess.run([python, str(TF_STEP), "--batches", *map(str, batches), "--repeats", str(repeats),
                          "--threads", str(threads)], capture_output=True, text=True, check=True)
    return {int(batch): float(seconds) for batch, seconds in (line.split() for line in out.stdout.splitlines())}


def batched_step(model, optimizer, x, index, method):
    with torch.no_grad():
        h = model.block_input(index, x)
    jac = batched_jacobian(lambda s: model.block(index, s), h)
    loss = ((spectral_radius(jac, method) - 1.0) ** 2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def naive_step(model, optimizer, x, index):
    """What one writes without torch.func: a Python loop over samples, one autograd
    Jacobian and one eigendecomposition each."""
    with torch.no_grad():
        h = model.block_input(index, x)
    radii = []
    for sample in h:
        jac = torch.autograd.functional.jacobian(lambda s: model.block(index, s), sample,
                                                 create_graph=True)
        radii.append(torch.linalg.eigvals(jac).abs().max())
    loss = ((torch.stack(radii) - 1.0) ** 2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def time_steps(step, repeats: int) -> float:
    step()  # warm-up: first calls allocate and dispatch
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--naive-repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[512, 64])
    parser.add_argument("--tf-python", help="a Python with TensorFlow: time the reference's step here too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    if args.tf_python:
        tf_seconds, tf_name = reference_tf_seconds(args.tf_python, args.batches, args.repeats, args.threads), \
            "reference TF, timed here"
    else:
        tf_seconds, tf_name = REFERENCE_TF_SECONDS, "reference TF, measured before"

    print(f"torch {torch.__version__}, {args.threads} threads, depth 30, width 128, input 784")
    print(f"{'batch':>5} {'implementation':<28} {'s/step':>8} {'naive/this':>10} {'TF ref/this':>11}")
    for batch in args.batches:
        x = torch.randn(batch, 784, generator=torch.Generator().manual_seed(0))
        model = DenseStack(784, 128, 30, 10, "sin", seed=0)
        optimizer = adabelief_lookahead(model.parameters(), lr=1e-4)
        blocks = iter(rng.integers(1, 30, size=10_000).tolist())
        results = {
            "naive per-sample loop + eig": time_steps(
                lambda: naive_step(model, optimizer, x, next(blocks)), args.naive_repeats),
            "torch.func + eig": time_steps(
                lambda: batched_step(model, optimizer, x, next(blocks), "eig"), args.repeats),
            "torch.func + ritz (default)": time_steps(
                lambda: batched_step(model, optimizer, x, next(blocks), "ritz"), args.repeats),
        }
        naive = results["naive per-sample loop + eig"]
        tf = tf_seconds.get(batch)
        for name, seconds in results.items():
            tf_ratio = f"{tf / seconds:10.1f}x" if tf else f"{'n/a':>11}"
            print(f"{batch:>5} {name:<28} {seconds:8.3f} {naive / seconds:9.1f}x {tf_ratio}")
        if tf:
            print(f"{batch:>5} {tf_name:<28} {tf:8.3f} {naive / tf:9.1f}x {1.0:10.1f}x")


if __name__ == "__main__":
    main()
