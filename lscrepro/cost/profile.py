"""Where a training step's time goes: each training shape of the grid stepped as
``grid.training_step`` builds it (grid_cost's model and random batch), warmed up until its
steps stop faulting in fresh pages (``sizes.settle``), then the step timed and one step
under torch.profiler (CPU, one thread), split into GEMM kernels and the rest.

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
against issue 26's target it says whether the GEMMs alone allow it.

The eager floor then bounds the rest (lscrepro/cost/floor.py): one more step runs under a
dispatch mode (OpCensus) that sees every ATen op call below autograd, and each non-GEMM call
is given the least time its dispatch, its reads and writes (at the rates measured on its
working set: a time step's slice of a sequence-long buffer streams from memory) and its
random draws allow. Python between ops gets no floor; the GEMMs keep their profiled
seconds. The same census keeps the first call of each kind, and each is replayed alone
(lscrepro/cost/replay.py): what PyTorch's own kernels take for those calls, hot, with
nothing between them. Verdicts: the step meets its target; or its GEMMs alone run below it
("GEMM rate too low"); or the GEMMs plus the floor take longer than the target allows
("eager floor too high": the step's own sequence of op calls cannot meet it in eager
PyTorch on this CPU, only fewer calls, fused, could); or the GEMMs plus the replayed calls
do ("eager calls too slow": PyTorch's kernels for those calls cannot, each at its best,
only fused kernels could). Below its target, the whole step is also replayed in its own
order on its own memory layout, GEMMs included (lscrepro/cost/sequence.py): where that
replay, no slower than the step itself, takes longer than the target allows, "calls in
sequence too slow" (the kernels, each slowed by what its neighbours left in the caches, not
the Python, autograd or allocation between them, hold the step back; only fewer calls,
fused, could); else "reachable in principle" (the step loses the rest between its calls).
"""

from __future__ import annotations

import time
from collections import Counter
from multiprocessing import get_context

import torch
from torch.profiler import ProfilerActivity, profile

from ..host_memory import keep_freed_memory
from ..models import build_model
from .floor import SAMPLERS, eager_floor, floor_calibration
from .flops import GEMM_SIZE, train_step_flops
from .grid import Shape, describe_shape, training_loss, training_step
from .replay import ReplayCensus, replayed_seconds
from .sequence import sequence_seconds
from .sizes import settle, task_sizes

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
SEQUENCE_RUNS = 5  # the in-order replay: the least of 5 runs


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
    """({wall, cpu seconds, op_totals: {op name: wall seconds with its children}},
    {op name: self wall seconds}) of one ``call()`` under the CPU profiler."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        wall, cpu = timed(call)
    events = prof.key_averages()
    return ({"wall": wall, "cpu": cpu, "op_totals": {event.key: event.cpu_time_total / 1e6 for event in events}},
            {event.key: event.self_cpu_time_total / 1e6 for event in events})


# --- the eager floor of a step's non-GEMM op calls ---

# where the profiler books the time of a census op that runs its work in a child op
PROFILED_AS = {**{op: f"aten::{sampler}" for op, sampler in SAMPLERS.items()},
               **dict.fromkeys(("aten::clone", "aten::_to_copy"), "aten::copy_"), "aten::stack": "aten::cat",
               **dict.fromkeys(("aten::zeros", "aten::zeros_like", "aten::new_zeros"), "aten::zero_"),
               **dict.fromkeys(("aten::ones_like", "aten::new_ones", "aten::new_full", "aten::full_like"),
                               "aten::fill_"),
               "aten::embedding": "aten::index_select", "aten::relu": "aten::clamp_min"}


def in_place_family(op: str) -> str:
    """An op's in-place and out-of-place forms together: under the census mode, the autograd
    engine accumulates gradients with ``add`` where it otherwise uses ``add_``."""
    return op.rstrip("_")


def op_family(op: str) -> str:
    """The name under which the profiler books a census op's own work (its in_place_family)."""
    return in_place_family(PROFILED_AS.get(op, op))


def by_family(seconds: dict[str, float], family) -> Counter:
    grouped = Counter()
    for op, value in seconds.items():
        grouped[family(op)] += value
    return grouped


MEETS, GEMM_RATE, EAGER_FLOOR, EAGER_CALLS, SEQUENCE, IN_PRINCIPLE = (
    "meets", "GEMM rate too low", "eager floor too high", "eager calls too slow", "calls in sequence too slow",
    "reachable in principle")


def verdict(row: dict) -> str:
    """Whether the step meets its target, and if not, what the numbers allow: the GEMMs alone
    too slow, the GEMMs plus the non-GEMM floor too slow, the GEMMs plus the non-GEMM calls
    replayed one by one too slow, all the step's calls replayed in its order too slow, or
    none of these."""
    if row["step_mfu"] >= row["target"]:
        return MEETS
    if row["gemm_mfu"] < row["target"]:
        return GEMM_RATE
    if row.get("eager_ceiling_mfu") is not None and row["eager_ceiling_mfu"] < row["target"]:
        return EAGER_FLOOR
    # the replay is an estimate: one above the step's own non-GEMM time is no evidence
    if (row.get("replayed_ceiling_mfu") is not None and row["replayed_ceiling_mfu"] < row["target"]
            and row["nongemm_replayed_s"] <= row["nongemm_s"]):
        return EAGER_CALLS
    # likewise, a sequence replayed slower than the step itself is no evidence
    if (row.get("sequence_ceiling_mfu") is not None and row["sequence_ceiling_mfu"] < row["target"]
            and row["sequence_s"] <= row["step_s"]):
        return SEQUENCE
    return IN_PRINCIPLE


def limiting_factor(row: dict) -> str:
    """The verdict's reason, in words from the row's numbers."""
    target, kind = row["target"], row["verdict"]
    if kind == MEETS:
        return f"meets the target ({row['step_mfu']:.0%} >= {target:.0%})"
    if kind == GEMM_RATE:
        return f"GEMMs at {row['gemm_mfu']:.0%} of the rate (< {target:.0%} even with no other op)"
    if "eager_floor_s" not in row:
        return (f"{1 - row['gemm_share']:.0%} of the step outside GEMMs: "
                + ", ".join(f"{o['op']} {o['share']:.0%}" for o in row["top_ops"]))
    parts = ", ".join(f"{kind_} {s:.3g}" for kind_, s in sorted(row["nongemm_floor_by_kind"].items(),
                                                                 key=lambda item: -item[1]) if s)
    floor = (f"GEMMs {row['gemm_s']:.3g} s + non-GEMM floor {row['nongemm_floor_s']:.3g} s "
             f"({row['nongemm_calls']} calls; {parts or 'none'}) = {row['eager_floor_s']:.3g} s")
    if kind == EAGER_FLOOR:
        return (f"{floor} > the {row['target_s']:.3g} s the target allows "
                f"(eager ceiling {row['eager_ceiling_mfu']:.0%} < {target:.0%})")
    if kind == EAGER_CALLS:
        return (f"{floor} <= {row['target_s']:.3g} s allowed, but the non-GEMM calls replayed one by one take "
                f"{row['nongemm_replayed_s']:.3g} s ({_replayed_text(row)}): GEMMs + replayed = "
                f"{row['gemm_s'] + row['nongemm_replayed_s']:.3g} s (replayed ceiling "
                f"{row['replayed_ceiling_mfu']:.0%} < {target:.0%}; fused ceiling {row['fused_ceiling_mfu']:.0%})")
    if kind == SEQUENCE:
        return (f"{floor} and the non-GEMM calls replayed one by one ({row['nongemm_replayed_s']:.3g} s) allow "
                f"it, but the step's {row['sequence_calls']} calls replayed in its order on its memory take "
                f"{row['sequence_s']:.3g} s of its {row['step_s']:.3g} s > the {row['target_s']:.3g} s the target "
                f"allows (in-sequence ceiling {row['sequence_ceiling_mfu']:.1%} < {target:.0%})")
    slack = ", ".join(f"{o['op'].removeprefix('aten::')} {o['measured_s']:.3g} s (floor {o['floor_s']:.3g})"
                      for o in row["slack_ops"])
    in_order = "" if "sequence_s" not in row else (
        f"; the step's calls replayed in its order take {row['sequence_s']:.3g} s of its {row['step_s']:.3g} s "
        f"(in-sequence ceiling {row['sequence_ceiling_mfu']:.1%})")
    return (f"{floor} <= {row['target_s']:.3g} s allowed (eager ceiling {row['eager_ceiling_mfu']:.0%}); "
            f"non-GEMM ops take {row['nongemm_s']:.3g} s, {row['nongemm_s'] - row['nongemm_allowance_s']:.3g} s "
            f"over the allowance; most above their floor: {slack}{in_order}")


def _replayed_text(row: dict, most: int = 3) -> str:
    return ", ".join(f"{o['op'].removeprefix('aten::')} {o['replayed_s']:.3g}" for o in row["replayed_ops"][:most])


def replay_fields(row: dict, replayed: dict) -> dict:
    """The replay's fields of a row (lscrepro/cost/replay.py): the non-GEMM calls' replayed
    seconds, the ops that take most of them, the calls charged their floor instead, and the
    ceiling of a step whose GEMMs keep their time and whose other calls take their replays."""
    flops, rate, seconds = row["step_flops"], row["gemm_flops_per_s"], replayed["seconds"]
    replayed_by_op = by_family(replayed["by_op"], op_family)
    return {"nongemm_replayed_s": seconds,
            "replayed_ceiling_mfu": flops / (row["gemm_s"] + seconds) / rate if row["gemm_s"] + seconds else 0.0,
            "replayed_ops": [{"op": op, "replayed_s": t} for op, t in replayed_by_op.most_common(TOP)],
            "unreplayed_calls": sum(replayed["unreplayed"].values())}


def floor_fields(row: dict, floor: dict, profiled: dict, ops: dict[str, float]) -> dict:
    """The eager floor's fields of a row: the step's floor and ceilings, the non-GEMM seconds
    the target allows, the non-GEMM ops (and Python) furthest above their floor, and, as a
    check, any op whose floor exceeds its profiled time with its children."""
    flops, rate = row["step_flops"], row["gemm_flops_per_s"]
    to_cpu = profiled["cpu"] / profiled["wall"]  # the profile's shares applied to its CPU time
    measured = by_family({op: t * to_cpu for op, t in ops.items() if op not in GEMM_OPS}, op_family)
    measured[PYTHON] = row["python_share"] * profiled["cpu"]
    floors, calls = by_family(floor["by_op"], op_family), by_family(floor["calls_by_op"], op_family)
    slack = sorted(measured, key=lambda op: floors[op] - measured[op])[:TOP]
    totals = by_family({op: t * to_cpu for op, t in profiled.get("op_totals", {}).items()}, in_place_family)
    named = by_family(floor["by_op"], in_place_family)
    above = sorted((op for op in named if op in totals and named[op] > totals[op]),
                   key=lambda op: totals[op] - named[op])
    eager_s, sampled_s = row["gemm_s"] + floor["seconds"], floor["by_kind"].get("random numbers", 0.0)
    target_s = flops / row["target"] / rate
    return {"nongemm_calls": floor["calls"], "nongemm_floor_s": floor["seconds"],
            "nongemm_floor_by_kind": floor["by_kind"], "eager_floor_s": eager_s,
            "eager_ceiling_mfu": flops / eager_s / rate if eager_s > 0 else 0.0,
            "eager_ceiling_mfu_gemms_at_rate": flops / (flops / rate + floor["seconds"]) / rate,
            # a step fused down to its GEMMs and its random draws (the same masks need them all)
            "fused_ceiling_mfu": flops / (row["gemm_s"] + sampled_s) / rate if row["gemm_s"] + sampled_s else 0.0,
            "target_s": target_s, "nongemm_s": max(row["step_s"] - row["gemm_s"], 0.0),
            "nongemm_allowance_s": target_s - row["gemm_s"],
            "slack_ops": [{"op": op, "calls": calls[op], "measured_s": measured[op], "floor_s": floors[op]}
                          for op in slack],
            "floor_above_profile": [{"op": op, "measured_s": totals[op], "floor_s": named[op]} for op in above]}


def sequence_fields(row: dict, sequence: dict) -> dict:
    """The in-order replay's fields of a row (lscrepro/cost/sequence.py): the seconds of all
    the step's calls replayed in its order on its memory, and the ceiling they allow."""
    return {"sequence_s": sequence["seconds"], "sequence_calls": sequence["calls"],
            "sequence_copied": sequence["copied"],
            "sequence_ceiling_mfu": row["step_flops"] / sequence["seconds"] / row["gemm_flops_per_s"]
            if sequence["seconds"] else 0.0}


def breakdown(profiled: dict, ops: dict[str, float], flops: float, gemm_rate: float,
              step_s: float, width: int, floor: dict | None = None, replayed: dict | None = None,
              sequence: dict | None = None) -> dict:
    """A profiled step's GEMM share, top non-GEMM ops, ceilings and verdict against the
    target (``profiled``, ``ops``: op_seconds of the step; ``step_s``: its unprofiled CPU
    seconds; ``gemm_rate``: CPU-time FLOP/s; ``floor``: eager_floor of its census, if any;
    ``replayed``: replayed_seconds of its census, if any; ``sequence``: sequence_seconds of
    the step, if measured)."""
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
           "top_ops": [{"op": op, "share": min(t / wall, 1.0)} for op, t in top], "target": target}
    if floor is not None:
        row.update(floor_fields(row, floor, profiled, ops))
    if replayed is not None:
        row.update(replay_fields(row, replayed))
    if sequence is not None:
        row.update(sequence_fields(row, sequence))
    row["verdict"] = verdict(row)
    row["limit"] = limiting_factor(row)
    return row


def profile_shape(shape: Shape, rate: float | None = None) -> dict:
    """One shape: the GEMM rate (unless given) and the floors, a warm-up step, the step
    timed, profiled, then stepped once more under the op census, in CPU seconds."""
    rate = rate or gemm_rate()
    calibration = floor_calibration()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    spec = shape.spec
    dims, _ = task_sizes(spec)
    model = build_model(spec["model"], dims, 0)
    step, _ = training_step(model, spec, dims, generator)
    settle(step)  # warm-up: the heap's growth, oneDNN primitives, the optimiser's state
    wall_s, step_s = step_seconds(step, budget=float("inf"))  # the least of 3 steps, however long
    # the profile least interrupted by other processes: a core taken away for one time
    # slice (~10 ms) in a step of tens of ms would be charged to whichever op was running
    profiles = [op_seconds(step) for _ in range(PROFILES if step_s < PROFILE_BUDGET else 1)]
    profiled, ops = max(profiles, key=lambda p: p[0]["cpu"] / p[0]["wall"])
    census = ReplayCensus()
    with census:
        step()
    counted = train_step_flops(spec, dims, lambda m, x, y: training_loss(m, x, y, dims))
    flops, width = counted["step_flops"], model_width(spec["model"])
    floor, replayed = eager_floor(census.calls, calibration, GEMM_OPS), replayed_seconds(census, calibration, GEMM_OPS)
    row = breakdown(profiled, ops, flops, rate, step_s, width, floor, replayed)
    if row["verdict"] != MEETS:  # where it may decide the verdict: the whole step replayed in order,
        # each run after one more step; the step's time is the least of all its timed runs
        sequence = sequence_seconds(step, calibration["dispatch_s"], SEQUENCE_RUNS)
        row = breakdown(profiled, ops, flops, rate, min(step_s, sequence["step_s"]), width, floor, replayed,
                        sequence)
    for key in ("bytes_per_s", "read_bytes_per_s", "write_bytes_per_s"):  # JSON keys are strings
        calibration[key] = {str(size): rate for size, rate in calibration[key].items()}
    return {"rule": shape.rule, "jobs": shape.jobs, "shape": describe_shape(shape),
            "step_wall_s": wall_s, "flops_counted": counted["flops_counted"], **row,
            "floor_calibration": calibration}


def _profile_in_child(args: tuple[Shape, float | None]) -> dict:
    torch.set_num_threads(1)  # as the jobs run (the rules' threads: 1)
    return profile_shape(*args)


def profile_all(shapes: list[Shape], workers: int = 1, log=print, rate: float | None = None,
                retries: int = 0) -> list[dict]:
    """Every shape profiled in a fresh forked process, ``workers`` at a time, each against
    the GEMM rate measured in its own process (or ``rate``, if given). A shape below its
    target is profiled again, up to ``retries`` more times after all shapes have had a turn,
    and its run with the highest step_mfu kept: this VM's memory-bound ops run up to a
    third slower for minutes at a time, more than its GEMMs do, which moves a step's share
    of the GEMM rate by as much (``step_mfu_runs``: every run's, in order)."""
    # the policy as the jobs run (lscrepro.jobs.common.setup), set before any pool starts a
    # thread: the workers forked from the pools' threads then allocate from the main heap
    # (lscrepro.host_memory)
    keep_freed_memory()
    rows = _profile_once(shapes, workers, log, rate)
    for _ in range(retries):
        short = [index for index, row in enumerate(rows) if row["verdict"] != MEETS]
        for index, row in zip(short, _profile_once([shapes[i] for i in short], workers, log, rate)):
            runs = rows[index]["step_mfu_runs"] + row["step_mfu_runs"]
            rows[index] = max(rows[index], row, key=lambda r: r["step_mfu"]) | {"step_mfu_runs": runs}
    return rows


def _profile_once(shapes: list[Shape], workers: int, log, rate: float | None) -> list[dict]:
    rows = []
    # fork: the children inherit the imports; the parent itself runs no torch kernel
    with get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        results = pool.imap(_profile_in_child, [(shape, rate) for shape in shapes])
        for index, row in enumerate(results, 1):
            row["step_mfu_runs"] = [row["step_mfu"]]
            rows.append(row)
            log(f"[{index}/{len(shapes)}] {row['rule']} {row['shape']}: {row['step_s']:.3g} CPU s "
                f"({row['on_cpu']:.0%} on the CPU), GEMM rate {row['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s, "
                f"step_mfu {row['step_mfu']:.0%}, GEMM {row['gemm_share']:.0%} of the step "
                f"at {row['gemm_mfu']:.0%} of the rate, eager ceiling {row['eager_ceiling_mfu']:.0%}; "
                f"{row['verdict']}: {row['limit']}")
    return rows
