"""Where a training step's time goes: each training shape of the grid stepped as
``grid.training_step`` builds it (grid_cost's model and random batch), one warm-up step,
then the step timed and one step under torch.profiler (CPU, one thread), split into GEMM
kernels and the rest.

Times are CPU seconds of the process (``time.process_time``), and the GEMM rate is the
same 2048^3 float32 product as grid_cost's, timed the same way in the same process just
before the shape: on a shared machine, wall time counts the seconds other processes hold
the core, which would make the ratio depend on the load. The profiler's op times are
wall; their shares of the profiled step's wall time are applied to its CPU time.

Ops are summed by *self* time: a parent op's self time leaves out its children's, so the
sum over all ops is the traced time with nothing counted twice (``aten::linear`` and
``aten::matmul`` are parents whose self time is dispatch only; the BLAS call runs inside
the leaf ``aten::addmm`` / ``aten::mm``, whose operand copies are children of their own).
The oneDNN RNN kernels behind nn.LSTM / nn.GRU count as GEMM: their gate arithmetic runs
inside them and cannot be told apart. Wall time that no op covers is Python between ops.

From the split, per shape: the GEMMs' own rate (counted FLOPs / GEMM seconds) as a share of
the run's GEMM rate is the ceiling of ``step_mfu`` if everything else took no time; set
against issue 26's target it says whether the target is reachable, and what limits it.
"""

from __future__ import annotations

import time
from multiprocessing import get_context

import torch
from torch.profiler import ProfilerActivity, profile

from ..models import build_model
from .flops import GEMM_SIZE, train_step_flops
from .grid import Shape, describe_shape, training_loss, training_step
from .sizes import task_sizes

# leaf ops whose self time is dense matrix arithmetic (BLAS / oneDNN)
GEMM_OPS = frozenset({
    "aten::mm", "aten::addmm", "aten::addmm_", "aten::_addmm_activation", "aten::bmm",
    "aten::baddbmm", "aten::baddbmm_", "aten::addbmm", "aten::addbmm_", "aten::mv", "aten::addmv",
    "aten::addmv_", "aten::dot", "aten::vdot", "aten::mkldnn_linear", "aten::mkldnn_rnn",
    "aten::mkldnn_rnn_backward", "aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward",
    "aten::mkldnn_convolution", "aten::convolution_backward"})
PYTHON = "(Python between ops)"
# issue 26's "Done when": wide models at 60% of the GEMM rate, narrow ones at 35%
WIDE, WIDE_TARGET, NARROW_TARGET = 256, 0.60, 0.35
TOP = 3
PROFILES, PROFILE_BUDGET = 3, 1.0  # steps under 1 CPU s: profiled 3 times, the steadiest kept


def model_width(model_config: dict) -> int:
    """The widest layer of a model config: its layers' widths and, on language tasks, the
    embedding (the vocabulary-wide readout is the task's, not the model's choice)."""
    widths = model_config.get("widths") or [model_config["width"]]
    return max([*widths, model_config.get("embedding", 0)])


def timed(call) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``call()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def step_seconds(call, budget: float = 1.0, most: int = 3) -> tuple[float, float]:
    """(wall, CPU) seconds of the call with the least CPU time of ``most``, or of one call
    where a call takes over ``budget`` CPU seconds (the caller has warmed it up)."""
    first = timed(call)
    if first[1] > budget:
        return first
    return min((first, *(timed(call) for _ in range(most - 1))), key=lambda t: t[1])


def gemm_rate(most: int = 3) -> float:
    """CPU-time FLOP/s of grid_cost's float32 GEMM (2048^3), on the calling thread(s)."""
    a, b = (torch.randn(GEMM_SIZE, GEMM_SIZE) for _ in range(2))
    torch.mm(a, b)  # warm-up
    return 2 * GEMM_SIZE ** 3 / step_seconds(lambda: torch.mm(a, b), budget=float("inf"), most=most)[1]


def op_seconds(call) -> tuple[dict, dict[str, float]]:
    """({wall, cpu} seconds, {op name: self wall seconds}) of one ``call()`` under the CPU
    profiler."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall, cpu = timed(call)
    return {"wall": wall, "cpu": cpu}, {event.key: event.self_cpu_time_total / 1e6
                                        for event in prof.key_averages()}


def limiting_factor(row: dict) -> str:
    """Why ``step_mfu`` misses the target, in words from the row's numbers."""
    if row["step_mfu"] >= row["target"]:
        return f"meets the target ({row['step_mfu']:.0%} >= {row['target']:.0%})"
    outside = (f"{1 - row['gemm_share']:.0%} of the step outside GEMMs: "
               + ", ".join(f"{o['op']} {o['share']:.0%}" for o in row["top_ops"]))
    if not row["reachable"]:
        return (f"GEMMs at {row['gemm_mfu']:.0%} of the rate on these shapes "
                f"(< {row['target']:.0%} even with no other op); and {outside}")
    return outside


def breakdown(profiled: dict, ops: dict[str, float], flops: float, gemm_rate: float,
              step_s: float, width: int) -> dict:
    """A profiled step's GEMM share, top non-GEMM ops, ceiling and verdict against the
    target (``profiled``, ``ops``: op_seconds of the step; ``step_s``: its unprofiled CPU
    seconds; ``gemm_rate``: CPU-time FLOP/s)."""
    wall = profiled["wall"]
    others = {op: t for op, t in ops.items() if op not in GEMM_OPS}
    others[PYTHON] = max(wall - sum(ops.values()), 0.0)
    top = sorted(others.items(), key=lambda item: -item[1])[:TOP]
    target = WIDE_TARGET if width >= WIDE else NARROW_TARGET
    gemm_share = min(sum(t for op, t in ops.items() if op in GEMM_OPS) / wall, 1.0)
    gemm_s = gemm_share * profiled["cpu"]  # the GEMMs' CPU seconds
    gemm_mfu = flops / gemm_s / gemm_rate if gemm_s > 0 else 0.0
    row = {"width": width, "step_s": step_s, "profiled_s": profiled["cpu"],
           "on_cpu": min(profiled["cpu"] / wall, 1.0), "step_flops": flops,
           "gemm_flops_per_s": gemm_rate, "step_mfu": flops / step_s / gemm_rate,
           "gemm_s": gemm_s, "gemm_share": gemm_share,
           "python_share": min(others[PYTHON] / wall, 1.0), "gemm_mfu": gemm_mfu,
           "top_ops": [{"op": op, "share": min(t / wall, 1.0)} for op, t in top],
           "target": target, "reachable": gemm_mfu >= target}
    row["limited_by"] = ("nothing" if row["step_mfu"] >= target
                         else "non-GEMM ops" if row["reachable"] else "GEMM rate")
    row["limit"] = limiting_factor(row)
    return row


def profile_shape(shape: Shape, rate: float | None = None) -> dict:
    """One shape: the GEMM rate (unless given), a warm-up step, the step timed, then one
    step profiled, in CPU seconds."""
    rate = rate or gemm_rate()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    spec = shape.spec
    dims, _ = task_sizes(spec)
    model = build_model(spec["model"], dims, 0)
    step, _ = training_step(model, spec, dims, generator)
    step()  # warm-up: first-touch pages, oneDNN primitives, the optimiser's state
    wall_s, step_s = step_seconds(step)
    # the profile least interrupted by other processes: a core taken away for one time
    # slice (~10 ms) in a step of tens of ms would be charged to whichever op was running
    profiles = [op_seconds(step) for _ in range(PROFILES if step_s < PROFILE_BUDGET else 1)]
    profiled, ops = max(profiles, key=lambda p: p[0]["cpu"] / p[0]["wall"])
    counted = train_step_flops(spec, dims, lambda m, x, y: training_loss(m, x, y, dims))
    row = breakdown(profiled, ops, counted["step_flops"], rate, step_s, model_width(spec["model"]))
    return {"rule": shape.rule, "jobs": shape.jobs, "shape": describe_shape(shape),
            "step_wall_s": wall_s, "flops_counted": counted["flops_counted"], **row}


def _profile_in_child(args: tuple[Shape, float | None]) -> dict:
    torch.set_num_threads(1)  # as the jobs run (the rules' threads: 1)
    return profile_shape(*args)


def profile_all(shapes: list[Shape], workers: int = 1, log=print, rate: float | None = None) -> list[dict]:
    """Every shape profiled in a fresh forked process, ``workers`` at a time, each against
    the GEMM rate measured in its own process (or ``rate``, if given)."""
    rows = []
    # fork: the children inherit the imports; the parent itself runs no torch kernel
    with get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        results = pool.imap(_profile_in_child, [(shape, rate) for shape in shapes])
        for index, row in enumerate(results, 1):
            rows.append(row)
            log(f"[{index}/{len(shapes)}] {row['rule']} {row['shape']}: {row['step_s']:.3g} CPU s "
                f"({row['on_cpu']:.0%} on the CPU), GEMM rate {row['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s, "
                f"step_mfu {row['step_mfu']:.0%}, GEMM {row['gemm_share']:.0%} of the step "
                f"at {row['gemm_mfu']:.0%} of the rate; {row['limit']}")
    return rows
