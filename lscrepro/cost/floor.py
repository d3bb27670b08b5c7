"""The eager floor of a step's non-GEMM op calls: the least time each call must take on this
CPU, from what it moves and draws, to say whether a step's own sequence of op calls can meet
issue 26's share of the GEMM rate at all (lscrepro/cost/profile.py gives the verdicts).

One step runs under a dispatch mode (OpCensus) that sees every ATen op call below autograd
(the forward's, the backward's, the optimiser's). Each call is given the most of three
floors, measured in the same process just before the shape (floor_calibration):

- dispatch: the least time of an eager op call made from C++ (``dispatch_floor``);
- bytes: its operands as streams of distinct bytes (read, written fresh, or updated in
  place), each at the rates of float32 streams measured on a working set of its size. The
  most of three bounds: all its bytes at the best rate of five streams (a copy, in-place
  binary and unary ops, a sum, a fill), its reads at the sum's rate, its fresh writes at the
  fill's rate (a write that reads nothing still pays for the memory it lands in). Each is a
  lower bound alone: on this VM a copy takes at least as long as either its read or its
  write stream, but the two overlap in cache, so their sum is not one;
- random numbers: its draws at its sampler's rate (``sampler_seconds``).

Working sets: a call's operands are as hot as the call's own bytes allow (the rate at its
total size), except a slice no larger than the core's L2 cache of a larger storage whose
bytes no call touched within the last L2-sized window of traffic: it streams from a buffer
as large as its storage and gets the rate measured at that size (an operand larger than the
cache is its own stream, at the call's size: charging a half of a stacked buffer at the
whole buffer's rate put in-place ops 7-20% above their measured time). The slice is a time
step's of a sequence-long buffer, written once in the forward and read once in the
backward: on this VM a 200 KB write into such a slice takes 27-31 us, against 5-7 us into a
buffer in cache.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from itertools import product
from math import prod
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

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
            "aten::native_dropout": "bernoulli_", "aten::random_": "random_"}
READ, WRITE, UPDATE = "read", "write", "update"  # the roles of a call's operands
L2_FALLBACK = 2 ** 21


def l2_cache_bytes() -> int:
    """The first core's L2 cache (Linux sysfs), else 2 MiB."""
    try:
        text = Path("/sys/devices/system/cpu/cpu0/cache/index2/size").read_text().strip()
        return int(text[:-1]) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return L2_FALLBACK


def distinct_bytes(tensor: torch.Tensor) -> int:
    """Bytes of the distinct elements a tensor views: a broadcast dimension (stride 0) holds
    one element, and no view spans more than its storage."""
    storage = storage_bytes(tensor)
    if tensor.numel() == 0 or storage is None:
        return 0  # an opaque tensor (no strided storage) is given nothing
    count = prod(size if stride else 1 for size, stride in zip(tensor.shape, tensor.stride()))
    return min(count * tensor.element_size(), storage)


def storage_bytes(tensor: torch.Tensor) -> int | None:
    """Bytes of the storage a tensor views, or None for an opaque tensor (no strided storage)."""
    return None if storage_pointer(tensor) is None else tensor.untyped_storage().nbytes()


def storage_pointer(tensor: torch.Tensor) -> int | None:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None


def byte_blocks(tensor: torch.Tensor, most: int = 16) -> list[tuple[int, int]]:
    """The address ranges [start, end) a view covers: one per contiguous block where it has
    at most ``most`` of them (a time step's (v, a) pair of a (2, T, B, n) buffer: two), else
    the one range from its first byte to its last."""
    size, start = tensor.element_size(), tensor.data_ptr()
    dims = [(n, stride) for n, stride in zip(tensor.shape, tensor.stride()) if n > 1 and stride]
    inner = 1
    while dims and dims[-1][1] == inner:  # the contiguous innermost dimensions
        inner *= dims.pop()[0]
    if prod(n for n, _ in dims) > most:
        return [(start, start + (sum((n - 1) * stride for n, stride in dims) + inner) * size)]
    return [(start + sum(i * stride for i, (_, stride) in zip(index, dims)) * size,
             start + (sum(i * stride for i, (_, stride) in zip(index, dims)) + inner) * size)
            for index in product(*(range(n) for n, _ in dims))]


class RecentBytes:
    """Which bytes of large storages the last ``window`` bytes of traffic touched: the
    ranges of operands in storages larger than the window, each with the traffic count at
    its touch (a range itself larger than the window is not kept: it cannot all be in cache)."""

    def __init__(self, window: int):
        self.window, self.traffic, self.ranges = window, 0, deque()

    def touched(self, blocks: list[tuple[int, int]]) -> bool:
        return any(start < end_ and start_ < end for start, end in blocks for start_, end_, _ in self.ranges)

    def touch(self, blocks: list[tuple[int, int]], moved: int, large: bool) -> None:
        self.traffic += moved
        if large:
            self.ranges.extend((start, end, self.traffic) for start, end in blocks if end - start <= self.window)
        while self.ranges and self.traffic - self.ranges[0][2] > self.window:
            self.ranges.popleft()


def _unique(tensors) -> list[torch.Tensor]:
    return list({view_key(t): t for t in tensors}.values())


def call_operands(func, args: tuple, kwargs: dict, out) -> list[tuple[str, torch.Tensor]]:
    """(role, tensor) of what one op call must at least move: the inputs of ops known to
    read all of them (pointwise, reductions, copies), and the results it writes (fresh ones,
    and the mutated arguments of those ops, which an in-place op updates); views and
    allocations move none, and an op not known to read all its inputs is charged only its
    fresh results."""
    name = func._schema.name
    if func.is_view or "empty" in name:
        return []
    written_kwargs = [v for v in kwargs.values() if isinstance(v, torch.Tensor)]  # out=
    inputs = [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]
    results = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    whole = torch.Tag.pointwise in func.tags or name in READS_ALL or name in OVERWRITES_SELF
    read = [] if name in TEMPLATES or not whole else inputs[1:] if name in OVERWRITES_SELF else inputs
    if not whole:
        argument_storages = {storage_pointer(t) for t in inputs + written_kwargs} - {None}
        results = [t for t in results if storage_pointer(t) not in argument_storages]
    read, results = _unique(read), _unique(results)
    read_keys = {view_key(t) for t in read}
    updated_keys = {view_key(t) for t in results} & read_keys
    return ([(READ, t) for t in read if view_key(t) not in updated_keys]
            + [(UPDATE if view_key(t) in updated_keys else WRITE, t) for t in results])


def view_key(tensor: torch.Tensor) -> tuple:
    return tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype


class OpCensus(TorchDispatchMode):
    """Every ATen op call under the mode, below autograd (forward, backward, optimiser), as
    {(op, streams, random numbers): calls}, where streams are (role, distinct bytes, working
    set bytes) of its operands in order (module docstring). Ops that the mode sees call no
    nested op it sees, so the calls partition the step's work."""

    def __init__(self, cache_bytes: int | None = None):
        super().__init__()
        self.calls: Counter = Counter()
        self.cache_bytes = cache_bytes or l2_cache_bytes()
        self.recent = RecentBytes(self.cache_bytes)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._schema.name
        results = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        drawn = results[0].numel() if name in SAMPLERS and results else 0
        streams, streamed = self.streams(call_operands(func, args, kwargs, out))
        key = (name, streams, drawn)
        self.calls[key] += 1
        self.record(key, func, args, kwargs, streamed)
        return out

    def record(self, key: tuple, func, args: tuple, kwargs: dict, streamed: frozenset) -> None:
        """What a subclass keeps of a call beyond its count (lscrepro/cost/replay.py);
        ``streamed``: the view_keys of its operands streamed from memory."""

    def streams(self, operands: list[tuple[str, torch.Tensor]]) -> tuple[tuple, frozenset]:
        """((role, distinct bytes, working set) of each operand that moves bytes, the view_keys
        of those streamed from memory); then the operands are marked as touched."""
        moving = []  # (role, bytes, storage bytes, its blocks if the storage is larger than the cache, tensor)
        for role, tensor in operands:
            moved, storage = distinct_bytes(tensor), storage_bytes(tensor)
            if moved:
                moving.append((role, moved, storage, byte_blocks(tensor) if storage > self.cache_bytes else None,
                               tensor))
        total = sum(moved * (2 if role == UPDATE else 1) for role, moved, _, _, _ in moving)
        # a slice (no larger than the cache) of a larger storage, not touched of late, is
        # streamed through that storage; an operand larger than the cache is its own stream
        streamed = [blocks is not None and moved <= self.cache_bytes and not self.recent.touched(blocks)
                    for _, moved, _, blocks, _ in moving]
        for _, moved, _, blocks, _ in moving:
            self.recent.touch(blocks or [], moved, blocks is not None)
        return (tuple((role, moved, max(storage, total) if cold else total)
                      for (role, moved, storage, _, _), cold in zip(moving, streamed)),
                frozenset(view_key(tensor) for (*_, tensor), cold in zip(moving, streamed) if cold))


# --- calibration: the floors' rates, measured in the process that is about to be profiled ---

def least_cpu_seconds(call, most: int = 5) -> float:
    def seconds():
        start = time.process_time()
        call()
        return time.process_time() - start
    return min(seconds() for _ in range(most))


def dispatch_floor(calls: int = 2000) -> float:
    """CPU seconds of the cheapest eager op call made from C++: ``torch._foreach_add_`` of
    1-element tensors loops over ``aten::add_`` through the dispatcher on the CPU, with no
    Python call and no allocation per tensor."""
    xs, ys = [torch.ones(1) for _ in range(calls)], [torch.ones(1) for _ in range(calls)]
    torch._foreach_add_(xs, ys)
    return least_cpu_seconds(lambda: torch._foreach_add_(xs, ys)) / calls


def stream_calls(source: torch.Tensor, target: torch.Tensor, total: torch.Tensor) -> dict:
    """{stream: (bytes counted per element, n -> a call on n elements)}: the kinds of memory
    traffic of the step's ops, counted as the census counts them (in-place ones read and
    write the same bytes, which spares the write-allocate a fresh result costs)."""
    def of(stream):
        return lambda n: (lambda a, b: lambda: stream(a, b))(source[:n], target[:n])
    return {"copy_": (8, of(lambda a, b: b.copy_(a))), "add_": (12, of(lambda a, b: a.add_(b))),
            "mul_": (8, of(lambda a, b: a.mul_(1.0))), "fill_": (4, of(lambda a, b: a.fill_(1.0))),
            "sum": (4, of(lambda a, b: torch.sum(a, dim=0, out=total)))}


def stream_bandwidths(largest: int = 2 ** 29, most: int = 3) -> dict[str, dict[int, float]]:
    """{stream: {bytes moved: bytes per CPU second}}, at each power of two from 512 bytes to
    ``largest``, of each float32 stream of ``stream_calls``, each call repeated in cache as
    the size allows, less the fixed cost of a 1-element call of the same stream."""
    source, target, total = torch.ones(largest // 4), torch.zeros(largest // 8), torch.empty(())
    rates: dict[str, dict[int, float]] = {}
    for stream, (per_element, call_of) in stream_calls(source, target, total).items():
        one = call_of(1)
        fixed = least_cpu_seconds(lambda: [one() for _ in range(1000)], most) / 1000
        rates[stream], moved = {}, 512
        while moved <= largest:
            call, repeats = call_of(moved // per_element), max(1, 2 ** 23 // moved)
            call()  # first touch
            seconds = least_cpu_seconds(lambda: [call() for _ in range(repeats)], most) / repeats
            rates[stream][moved] = moved / max(seconds - fixed, 1e-9)
            moved *= 2
    return rates


def sampler_seconds(most: int = 3) -> dict[str, float]:
    """CPU seconds per element of each sampler, the least on 2^16 and 2^20 float32 elements
    (Bernoulli: the least of a float and a tensor probability; ``random_``: 64-bit integers
    over their whole range, as UniformDropout draws them)."""
    probability = torch.full((2 ** 20,), 0.5)
    samplers = {"uniform_": [lambda t: t.uniform_()], "normal_": [lambda t: t.normal_()],
                "bernoulli_": [lambda t: t.bernoulli_(0.5),
                               lambda t: t.bernoulli_(probability[:t.numel()])],
                "random_": [lambda t: t.random_(-2 ** 63, None)]}
    rates = {}
    for name, draws in samplers.items():
        dtype = torch.int64 if name == "random_" else torch.float32
        rates[name] = min(least_cpu_seconds(lambda: draw(buffer), most) / buffer.numel() for draw in draws
                          for buffer in (torch.empty(2 ** 16, dtype=dtype), torch.empty(2 ** 20, dtype=dtype)))
    return rates


def floor_calibration(largest: int = 2 ** 29) -> dict:
    """The per-call floors' constants, measured in the calling process (one thread): bytes
    moved measured up to ``largest`` (a larger call is given the rate of the largest);
    ``bytes_per_s`` the best of the five streams, ``read_bytes_per_s`` the sum's and
    ``write_bytes_per_s`` the fill's; and the cache that decides which operands are hot."""
    streams = stream_bandwidths(largest)
    best = {size: max(rates[size] for rates in streams.values()) for size in streams["sum"]}
    return {"dispatch_s": dispatch_floor(), "bytes_per_s": best, "read_bytes_per_s": streams["sum"],
            "write_bytes_per_s": streams["fill_"], "sampler_s_per_element": sampler_seconds(),
            "cache_bytes": l2_cache_bytes()}


# --- the floors ---

def traffic_seconds(moved: int, bandwidths: dict[int, float], working_set: int | None = None) -> float:
    """A lower bound on the seconds to move ``moved`` bytes on a working set of
    ``working_set`` bytes (default: ``moved``): at the best rate measured on working sets no
    smaller than the largest measured size not above it (a larger working set is taken to be
    no faster than the fastest of those)."""
    if moved <= 0:
        return 0.0
    size = working_set or moved
    below = max([measured for measured in bandwidths if measured <= size], default=min(bandwidths))
    return moved / max(rate for measured, rate in bandwidths.items() if measured >= below)


def bytes_floor(streams: tuple, calibration: dict) -> float:
    """The most of three lower bounds on moving a call's streams (module docstring): all
    bytes at the best stream's rate (an update is read and written), the reads at the
    sum's, the fresh writes at the fill's."""
    bounds = ((calibration["bytes_per_s"], {READ: 1, WRITE: 1, UPDATE: 2}),
              (calibration["read_bytes_per_s"], {READ: 1, UPDATE: 1}),
              (calibration["write_bytes_per_s"], {WRITE: 1}))
    return max(sum(traffic_seconds(moved * weights.get(role, 0), rates, size) for role, moved, size in streams)
               for rates, weights in bounds)


def call_floor(op: str, streams: tuple, drawn: int, calibration: dict) -> tuple[float, str]:
    """(seconds, which floor binds) of one op call that moves ``streams`` ((role, bytes,
    working set) each) and draws ``drawn`` random numbers; a call that moves no element (a
    view, an allocation) gets 0."""
    if not streams and not drawn:
        return 0.0, "none"
    floors = {"dispatch": calibration["dispatch_s"], "bytes": bytes_floor(streams, calibration),
              "random numbers": drawn * calibration["sampler_s_per_element"].get(SAMPLERS.get(op, ""), 0.0)}
    kind = max(floors, key=floors.get)
    return floors[kind], kind


def eager_floor(calls: Counter, calibration: dict, gemm_ops: frozenset) -> dict:
    """The floor of a census's non-GEMM op calls: {seconds, calls, seconds by the binding
    floor, seconds and calls by op}."""
    total, by_kind, by_op, calls_by_op = 0.0, Counter(), Counter(), Counter()
    for (op, streams, drawn), count in calls.items():
        if op in gemm_ops:
            continue
        seconds, kind = call_floor(op, streams, drawn, calibration)
        if not seconds:
            continue
        total += count * seconds
        by_kind[kind] += count * seconds
        by_op[op] += count * seconds
        calls_by_op[op] += count
    return {"seconds": total, "calls": sum(calls_by_op.values()), "by_kind": dict(by_kind),
            "by_op": dict(by_op), "calls_by_op": dict(calls_by_op)}
