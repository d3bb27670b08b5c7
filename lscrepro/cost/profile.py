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

The eager floor then bounds the rest: one more step runs under a dispatch mode (OpCensus)
that sees every ATen op call below autograd (the forward's, the backward's, the
optimiser's), with a lower bound of the bytes each reads and writes and of the random
numbers it draws. Each non-GEMM call is given the most of three floors measured in the
same process just before the shape: the least time of an eager op call made from C++
(``dispatch_floor``), its bytes at the best rate of five streams (a copy, in-place binary
and unary ops, a sum, a fill) of that many bytes, hot in cache (``stream_bandwidths``),
and its random numbers at its sampler's rate (``sampler_seconds``). Python between ops
gets no floor; the GEMMs keep their profiled seconds. Verdicts: the step meets its target;
or its GEMMs alone run below it ("GEMM rate too low"); or the GEMMs plus the floor take
longer than the target allows ("eager floor too high": the step's own sequence of op calls
cannot meet it in eager PyTorch on this CPU, only fewer calls, fused, could); or not
("reachable in principle").
"""

from __future__ import annotations

import time
from collections import Counter
from multiprocessing import get_context

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..host_memory import keep_freed_memory
from ..models import build_model
from .flops import GEMM_SIZE, train_step_flops
from .grid import Shape, describe_shape, training_loss, training_step
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

# ops that read every element of each tensor they are given, besides those tagged pointwise
READS_ALL = frozenset({
    "aten::sum", "aten::mean", "aten::amax", "aten::amin", "aten::max", "aten::min", "aten::norm",
    "aten::linalg_vector_norm", "aten::_log_softmax", "aten::_log_softmax_backward_data", "aten::_softmax",
    "aten::_softmax_backward_data", "aten::cat", "aten::stack", "aten::clone", "aten::_to_copy",
    "aten::native_layer_norm", "aten::native_layer_norm_backward", "aten::ge_", "aten::gt_", "aten::le_",
    "aten::lt_", "aten::eq_", "aten::ne_"})
# ops that write their first argument without reading it
OVERWRITES_SELF = frozenset({"aten::copy_", "aten::fill_", "aten::zero_", "aten::uniform_", "aten::normal_",
                             "aten::bernoulli_", "aten::random_", "aten::exponential_"})
# ops whose tensor arguments give only a shape: the result is written, nothing read
TEMPLATES = frozenset({"aten::zeros_like", "aten::ones_like", "aten::full_like", "aten::rand_like",
                       "aten::randn_like", "aten::new_zeros", "aten::new_ones", "aten::new_full"})
# random-number ops, by the sampler they run (the first result's elements are drawn)
SAMPLERS = {"aten::rand": "uniform_", "aten::rand_like": "uniform_", "aten::uniform_": "uniform_",
            "aten::randn": "normal_", "aten::randn_like": "normal_", "aten::normal_": "normal_",
            "aten::normal": "normal_", "aten::bernoulli": "bernoulli_", "aten::bernoulli_": "bernoulli_",
            "aten::native_dropout": "bernoulli_"}


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


def distinct_bytes(tensor: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor views: a broadcast dimension (stride 0) holds
    one element, and no view spans more than its storage."""
    if tensor.numel() == 0 or storage_pointer(tensor) is None:
        return 0  # an opaque tensor (no strided storage) is given nothing
    count = 1
    for size, stride in zip(tensor.shape, tensor.stride()):
        count *= size if stride else 1
    return min(count * tensor.element_size(), tensor.untyped_storage().nbytes())


def storage_pointer(tensor: torch.Tensor) -> int | None:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None


def _unique(tensors) -> list[torch.Tensor]:
    keys = {(t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype): t for t in tensors}
    return list(keys.values())


def call_traffic(func, args: tuple, kwargs: dict, out) -> tuple[int, int]:
    """(bytes, random numbers) one op call must at least move and draw: the inputs of ops
    known to read all of them (pointwise, reductions, copies), and the results it writes
    (fresh ones, and the mutated arguments of those ops); views and allocations move none,
    and an op not known to read all its inputs is charged only its fresh results."""
    name = func._schema.name
    if func.is_view or "empty" in name:
        return 0, 0
    written_kwargs = [v for v in kwargs.values() if isinstance(v, torch.Tensor)]  # out=
    inputs = [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]
    results = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    whole = torch.Tag.pointwise in func.tags or name in READS_ALL or name in OVERWRITES_SELF
    read = [] if name in TEMPLATES or not whole else inputs[1:] if name in OVERWRITES_SELF else inputs
    if not whole:
        argument_storages = {storage_pointer(t) for t in inputs + written_kwargs}
        results = [t for t in results if storage_pointer(t) not in argument_storages]
    moved = sum(map(distinct_bytes, _unique(read))) + sum(map(distinct_bytes, _unique(results)))
    drawn = results[0].numel() if name in SAMPLERS and results else 0
    return moved, drawn


class OpCensus(TorchDispatchMode):
    """Every ATen op call under the mode, below autograd (forward, backward, optimiser), as
    {(op, bytes, random numbers): calls}. Ops that the mode sees call no nested op it sees,
    so the calls partition the step's work."""

    def __init__(self):
        super().__init__()
        self.calls: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.calls[(func._schema.name, *call_traffic(func, args, kwargs, out))] += 1
        return out


def least_cpu_seconds(call, most: int = 5) -> float:
    return min(timed(call)[1] for _ in range(most))


def dispatch_floor(calls: int = 2000) -> float:
    """CPU seconds of the cheapest eager op call made from C++: ``torch._foreach_add_`` of
    1-element tensors loops over ``aten::add_`` through the dispatcher on the CPU, with no
    Python call and no allocation per tensor."""
    xs, ys = [torch.ones(1) for _ in range(calls)], [torch.ones(1) for _ in range(calls)]
    torch._foreach_add_(xs, ys)
    return least_cpu_seconds(lambda: torch._foreach_add_(xs, ys)) / calls


def stream_calls(source: torch.Tensor, target: torch.Tensor, total: torch.Tensor) -> dict:
    """{stream: (bytes counted per element, n -> a call on n elements)}: the kinds of memory
    traffic of the step's ops, counted as call_traffic counts them (in-place ones read and
    write the same bytes, which spares the write-allocate a fresh result costs)."""
    def of(stream):
        return lambda n: (lambda a, b: lambda: stream(a, b))(source[:n], target[:n])
    return {"copy_": (8, of(lambda a, b: b.copy_(a))), "add_": (12, of(lambda a, b: a.add_(b))),
            "mul_": (8, of(lambda a, b: a.mul_(1.0))), "fill_": (4, of(lambda a, b: a.fill_(1.0))),
            "sum": (4, of(lambda a, b: torch.sum(a, dim=0, out=total)))}


def stream_bandwidths(largest: int = 2 ** 29, most: int = 3) -> dict[int, float]:
    """{bytes moved: bytes per CPU second}, at each power of two from 512 bytes to ``largest``,
    the best of five float32 streams (stream_calls), each call repeated in cache as the size
    allows, less the fixed cost of a 1-element call of the same stream."""
    source, target, total = torch.ones(largest // 4), torch.zeros(largest // 8), torch.empty(())
    best: dict[int, float] = {}
    for per_element, call_of in stream_calls(source, target, total).values():
        one = call_of(1)
        fixed = least_cpu_seconds(lambda: [one() for _ in range(1000)], most) / 1000
        moved = 512
        while moved <= largest:
            call, repeats = call_of(moved // per_element), max(1, 2 ** 23 // moved)
            call()  # first touch
            seconds = least_cpu_seconds(lambda: [call() for _ in range(repeats)], most) / repeats
            best[moved] = max(best.get(moved, 0.0), moved / max(seconds - fixed, 1e-9))
            moved *= 2
    return best


def sampler_seconds(most: int = 3) -> dict[str, float]:
    """CPU seconds per element of each sampler, the least on 2^16 and 2^20 float32 elements
    (Bernoulli: the least of a float and a tensor probability)."""
    probability = torch.full((2 ** 20,), 0.5)
    samplers = {"uniform_": [lambda t: t.uniform_()], "normal_": [lambda t: t.normal_()],
                "bernoulli_": [lambda t: t.bernoulli_(0.5),
                               lambda t: t.bernoulli_(probability[:t.numel()])]}
    rates = {}
    for name, draws in samplers.items():
        rates[name] = min(least_cpu_seconds(lambda: draw(buffer), most) / buffer.numel()
                          for draw in draws for buffer in (torch.empty(2 ** 16), torch.empty(2 ** 20)))
    return rates


def floor_calibration(largest: int = 2 ** 29) -> dict:
    """The three per-call floors, measured in the calling process (one thread); bytes moved
    measured up to ``largest`` (a larger call is given the rate of the largest)."""
    return {"dispatch_s": dispatch_floor(), "bytes_per_s": stream_bandwidths(largest),
            "sampler_s_per_element": sampler_seconds()}


def traffic_seconds(moved: int, bandwidths: dict[int, float]) -> float:
    """A lower bound on the seconds to move ``moved`` bytes: at the best rate measured on
    working sets no smaller than the largest measured size not above ``moved`` (a larger
    working set is taken to be no faster than the fastest of those)."""
    if moved <= 0:
        return 0.0
    below = max([size for size in bandwidths if size <= moved], default=min(bandwidths))
    return moved / max(rate for size, rate in bandwidths.items() if size >= below)


def call_floor(op: str, moved: int, drawn: int, calibration: dict) -> tuple[float, str]:
    """(seconds, which floor binds) of one op call that moves ``moved`` bytes and draws
    ``drawn`` random numbers; a call that moves no element (a view, an allocation) gets 0."""
    if not moved and not drawn:
        return 0.0, "none"
    floors = {"dispatch": calibration["dispatch_s"],
              "bytes": traffic_seconds(moved, calibration["bytes_per_s"]),
              "random numbers": drawn * calibration["sampler_s_per_element"].get(SAMPLERS.get(op, ""), 0.0)}
    kind = max(floors, key=floors.get)
    return floors[kind], kind


def eager_floor(calls: Counter, calibration: dict) -> dict:
    """The floor of a census's non-GEMM op calls: {seconds, calls, seconds by the binding
    floor, seconds and calls by op}."""
    total, by_kind, by_op, calls_by_op = 0.0, Counter(), Counter(), Counter()
    for (op, moved, drawn), count in calls.items():
        if op in GEMM_OPS:
            continue
        seconds, kind = call_floor(op, moved, drawn, calibration)
        if not seconds:
            continue
        total += count * seconds
        by_kind[kind] += count * seconds
        by_op[op] += count * seconds
        calls_by_op[op] += count
    return {"seconds": total, "calls": sum(calls_by_op.values()), "by_kind": dict(by_kind),
            "by_op": dict(by_op), "calls_by_op": dict(calls_by_op)}


MEETS, GEMM_RATE, EAGER_FLOOR, IN_PRINCIPLE = ("meets", "GEMM rate too low", "eager floor too high",
                                               "reachable in principle")


def verdict(row: dict) -> str:
    """Whether the step meets its target, and if not, what the numbers allow: the GEMMs alone
    too slow, the GEMMs plus the non-GEMM floor too slow, or neither."""
    if row["step_mfu"] >= row["target"]:
        return MEETS
    if row["gemm_mfu"] < row["target"]:
        return GEMM_RATE
    if row.get("eager_ceiling_mfu") is not None and row["eager_ceiling_mfu"] < row["target"]:
        return EAGER_FLOOR
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
    slack = ", ".join(f"{o['op'].removeprefix('aten::')} {o['measured_s']:.3g} s (floor {o['floor_s']:.3g})"
                      for o in row["slack_ops"])
    return (f"{floor} <= {row['target_s']:.3g} s allowed (eager ceiling {row['eager_ceiling_mfu']:.0%}); "
            f"non-GEMM ops take {row['nongemm_s']:.3g} s, {row['nongemm_s'] - row['nongemm_allowance_s']:.3g} s "
            f"over the allowance; most above their floor: {slack}")


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


def breakdown(profiled: dict, ops: dict[str, float], flops: float, gemm_rate: float,
              step_s: float, width: int, floor: dict | None = None) -> dict:
    """A profiled step's GEMM share, top non-GEMM ops, ceilings and verdict against the
    target (``profiled``, ``ops``: op_seconds of the step; ``step_s``: its unprofiled CPU
    seconds; ``gemm_rate``: CPU-time FLOP/s; ``floor``: eager_floor of its census, if any)."""
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
    wall_s, step_s = step_seconds(step)
    # the profile least interrupted by other processes: a core taken away for one time
    # slice (~10 ms) in a step of tens of ms would be charged to whichever op was running
    profiles = [op_seconds(step) for _ in range(PROFILES if step_s < PROFILE_BUDGET else 1)]
    profiled, ops = max(profiles, key=lambda p: p[0]["cpu"] / p[0]["wall"])
    census = OpCensus()
    with census:
        step()
    counted = train_step_flops(spec, dims, lambda m, x, y: training_loss(m, x, y, dims))
    row = breakdown(profiled, ops, counted["step_flops"], rate, step_s, model_width(spec["model"]),
                    eager_floor(census.calls, calibration))
    calibration["bytes_per_s"] = {str(size): bw for size, bw in calibration["bytes_per_s"].items()}
    return {"rule": shape.rule, "jobs": shape.jobs, "shape": describe_shape(shape),
            "step_wall_s": wall_s, "flops_counted": counted["flops_counted"], **row,
            "floor_calibration": calibration}


def _profile_in_child(args: tuple[Shape, float | None]) -> dict:
    keep_freed_memory()  # as the jobs run (lscrepro.jobs.common.setup)
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
                f"at {row['gemm_mfu']:.0%} of the rate, eager ceiling {row['eager_ceiling_mfu']:.0%}; "
                f"{row['verdict']}: {row['limit']}")
    return rows
