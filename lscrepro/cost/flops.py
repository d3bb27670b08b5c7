"""How near the hardware a step runs: its FLOPs, counted, and the machine's GEMM rate.

A step's FLOPs are what ``torch.utils.flop_counter``'s formulas count over its forward
and backward: the matmuls and convolutions (elementwise work, softmaxes and eigensolvers are
not counted, so ``step_mfu`` is the share of the GEMM rate spent on dense arithmetic). A
training step is counted on the ``meta`` device, free at any size; where a model's ops do
not run there, and for LSC steps (their radii draw from a CPU generator), the step is run on
real tensors at batch sizes 1 and 2 and extended linearly to the job's batch size
(``flops_counted`` says which). The GEMM rate is one float32 (n x n) @ (n x n) product in a
forked process with the jobs' thread count, as the shapes are timed.
"""

from __future__ import annotations

from multiprocessing import get_context

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from ..models import build_model
from .sizes import random_batch, seconds_per_call

GEMM_SIZE = 2048  # as wide as the grid's widest matmuls (PTB's 10k readout, 1300-wide Jacobians)


class _FlopCount(TorchDispatchMode):
    """FlopCounterMode's per-op formulas without its module tracker (whose hooks fail inside
    the Jacobians' torch.func transforms)."""

    flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def count_flops(call) -> int:
    """FLOPs of one ``call()`` (forward and backward, if it runs one)."""
    with _FlopCount() as counter:
        call()
    return int(counter.flops)


def batch_extended(count_at, batch: int) -> int:
    """FLOPs at ``batch`` from counts at batch sizes 1 and 2 (a step's FLOPs are affine in
    its batch size: per-sample work plus the parameters' own)."""
    one, two = count_at(1), count_at(2)
    return one + (batch - 1) * (two - one)


def train_step_flops(spec: dict, dims: dict, loss_of) -> dict:
    """{step_flops, flops_counted} of one training step: ``loss_of(model, x, y)`` and its
    backward at the spec's batch size."""
    batch = spec["train"]["batch_size"]

    def count_at(size: int, device: str) -> int:
        model = build_model(spec["model"], dims, 0).to(device)
        x, y = random_batch(dims, size, torch.Generator().manual_seed(0))
        return count_flops(lambda: loss_of(model, x.to(device), y.to(device)).backward())
    try:
        return {"step_flops": count_at(batch, "meta"), "flops_counted": "meta"}
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return {"step_flops": batch_extended(lambda size: count_at(size, "cpu"), batch),
                "flops_counted": "cpu, batches 1 and 2, extended"}


def _gemm_rate(args: tuple[str, int]) -> float:
    device, threads = args
    torch.set_num_threads(threads)
    a, b = (torch.randn(GEMM_SIZE, GEMM_SIZE, device=device) for _ in range(2))

    def product():
        torch.mm(a, b)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return 2 * GEMM_SIZE ** 3 / seconds_per_call(product, most=5)


def measure_gemm_rate(device: str = "cpu", threads: int = 1) -> float:
    """FLOP/s of a float32 GEMM with ``threads`` threads, in a forked child (the parent
    runs no torch kernel before it forks the shapes' children)."""
    with get_context("fork").Pool(1) as pool:
        return pool.apply(_gemm_rate, ((device, threads),))
