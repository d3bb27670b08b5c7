"""A step's non-GEMM op calls replayed one at a time: what PyTorch's own eager kernels take
for the calls a step makes, each alone (its operands in cache, or streamed from memory
where the step streams them), with no Python, autograd or allocator work between them
(lscrepro/cost/profile.py sets the sum against issue 26's target).

The eager floor (floor.py) charges each call what its bytes and draws cost at the best
stream rates this CPU reaches; a kernel that runs below those rates (broadcasting over a
strided operand, a bool mask cast to float, a reduction over a short dimension) keeps a
step above its floor although no other work separates them. Replaying each distinct call
(``ReplayCensus`` records the first call of each census key: the op, its arguments, and its
tensors' sizes, strides, offsets and storage sharing) measures the kernels themselves. The
replayed tensors are fresh storages of the recorded sizes: floating-point ones filled with
uniform numbers in [0.5, 1) (no denormals, no NaN from a log or a square root), the others
(indices, masks, counts) copies of the recorded values, so that an index or a gather stays
in range. A call is charged the least of a few timed batches (an op that writes its own
arguments: the least of single calls, each on the same values, since exp_ of its
own result runs into infinities, which take a slow path), less the Python cost of calling an
op from the replay loop, and never less than its floor. An operand that the census found
streamed from memory (a time step's fresh slice of a sequence buffer, floor.py) is replayed
on the following slices of its buffer, one a call, as the step's time loop meets them; the
others stay where they were, in cache where they fit. Replays run with denormals flushed:
an estimate of the kernels' time, not a bound. On elementwise work of large and small
tensors it comes within a fifth of the work's measured time (tests/test_step_profile.py);
in a step's time loops it comes out below the profiled time (streaming the slices adds
0-6% to a hot replay of four training steps, so the rest is lost between the kernels). A
step whose GEMMs plus its replayed calls exceed the target's time cannot meet the target
with these kernels, only with fewer, fused ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils._pytree import tree_flatten, tree_map

from .floor import OpCensus, call_floor, least_cpu_seconds, storage_pointer, view_key

BATCH_S, MOST_REPEATS = 2e-3, 200  # a timed batch: about 2 ms of calls, at most 200 of them
STREAM_SAVED_BYTES = 2 ** 26  # what a streamed batch of in-place calls may keep to restore its slices


@dataclass(frozen=True)
class OperandSpec:
    """A tensor argument of a recorded call: its view of a storage (``storage``: the index of
    that storage among the call's), and its values where they are not floating point."""
    size: tuple
    stride: tuple
    offset: int
    dtype: torch.dtype
    storage: int
    storage_bytes: int
    values: torch.Tensor | None
    streamed: bool = False  # a floating-point slice the step streamed from a larger storage (floor.py)


def operand_spec(tensor: torch.Tensor, storages: dict[int, int], streamed: frozenset = frozenset()) -> OperandSpec:
    storage = tensor.untyped_storage()
    index = storages.setdefault(storage.data_ptr(), len(storages))
    exact = tensor.dtype.is_floating_point or tensor.dtype.is_complex
    return OperandSpec(tuple(tensor.shape), tuple(tensor.stride()), tensor.storage_offset(), tensor.dtype,
                       index, storage.nbytes(), None if exact else tensor.clone(),
                       exact and view_key(tensor) in streamed)


def call_template(args: tuple, kwargs: dict, streamed: frozenset = frozenset()):
    """(args, kwargs) with every tensor replaced by its OperandSpec; ``streamed``: the
    view_keys of the operands the census found streamed from memory."""
    storages: dict[int, int] = {}
    return tree_map(lambda a: operand_spec(a, storages, streamed) if isinstance(a, torch.Tensor) else a,
                    (args, kwargs))


def slice_offsets(spec: OperandSpec) -> list[int]:
    """Where a streamed operand's view fits in its storage, stepped by the view's contiguous
    innermost block from its own offset onwards (then wrapping round): the same slice of the
    following time steps. One offset, its own, for an operand that is not streamed."""
    if not spec.streamed:
        return [spec.offset]
    elements = spec.storage_bytes // torch.empty(0, dtype=spec.dtype).element_size()
    dims = [(n, stride) for n, stride in zip(spec.size, spec.stride) if n > 1 and stride]
    extent = 1 + sum((n - 1) * stride for n, stride in dims)
    block = 1
    while dims and dims[-1][1] == block:
        block *= dims.pop()[0]
    offsets = list(range(spec.offset % block, elements - extent + 1, block))
    start = offsets.index(spec.offset)
    return offsets[start:] + offsets[:start]


def materialize(template) -> tuple:
    """Fresh (args, kwargs) from a call_template: one new storage per recorded storage, so
    that in-place and out= calls alias as they did, filled as the module docstring says."""
    return materialize_streamed(template, 1)[0]


def materialize_streamed(template, most: int) -> list[tuple]:
    """Up to ``most`` (args, kwargs) on one set of fresh storages (``materialize``), the
    streamed operands' views moved on to the next slice at each (``slice_offsets``): one
    where nothing is streamed."""
    storages: dict[int, torch.Tensor] = {}
    offsets = {id(spec): slice_offsets(spec) for spec in tree_flatten(template)[0]
               if isinstance(spec, OperandSpec) and spec.streamed}
    count = min([most] + [len(slots) for slots in offsets.values()]) if offsets else 1

    def build(spec, shift: int):
        if not isinstance(spec, OperandSpec):
            return spec
        if spec.storage not in storages:
            raw = torch.empty(spec.storage_bytes, dtype=torch.uint8)
            if spec.storage_bytes % 4 == 0:
                raw.view(torch.float32).uniform_(0.5, 1.0)
            storages[spec.storage] = raw
        offset = offsets[id(spec)][shift] if spec.streamed else spec.offset
        view = torch.empty(0, dtype=spec.dtype).set_(storages[spec.storage].untyped_storage(), offset,
                                                     spec.size, spec.stride)
        if spec.values is not None and not shift:
            view.copy_(spec.values)
        return view
    return [tree_map(lambda spec: build(spec, shift), template) for shift in range(count)]


class ReplayCensus(OpCensus):
    """OpCensus that also keeps, for each key, the op and a template of its first call."""

    def __init__(self, cache_bytes: int | None = None):
        super().__init__(cache_bytes)
        self.first_calls: dict[tuple, tuple] = {}

    def record(self, key: tuple, func, args: tuple, kwargs: dict, streamed: frozenset) -> None:
        if key not in self.first_calls:
            self.first_calls[key] = (func, call_template(args, kwargs, streamed))


def repeated(call, times: int):
    """``call`` run ``times`` times, each result dropped before the next call (as a step drops
    a temporary): a kept result would make every call fault in fresh pages."""
    def run():
        for _ in range(times):
            call()
    return run


def python_call_seconds(calls: int = 2000, forms: tuple = ()) -> float:
    """CPU seconds of calling an op from Python as the replay does (an OpOverload on
    1-element tensors): the replay's own cost per call, with the op's dispatch and kernel.
    ``forms``: (op, args, kwargs) calls to time instead, the most of them kept."""
    one = torch.ones(1)
    forms = forms or ((torch.ops.aten.add.Tensor, (one, one), {}),)
    return max(least_cpu_seconds(repeated(lambda: func(*args, **kwargs), calls)) / calls
               for func, args, kwargs in forms)


def replayed_call_seconds(func, template, timer_s: float) -> float:
    """The least CPU seconds per call of the recorded call: a batch's mean, or for a call
    that reads what it writes (``fed_back``: exp_ of its own result would run into
    infinities), the least of single calls, each after its written views are restored, less
    ``timer_s`` (``timer_seconds``). A call with streamed operands runs its batch on the
    following slices instead (``streamed_call_seconds``)."""
    variants = materialize_streamed(template, MOST_REPEATS)
    args, kwargs = variants[0]
    call = lambda: func(*args, **kwargs)  # noqa: E731
    first = least_cpu_seconds(call, 1)
    repeats = max(1, min(MOST_REPEATS, int(BATCH_S / max(first, 1e-7))))
    if len(variants) > 1:
        return streamed_call_seconds(func, variants[:max(repeats, 2)])
    written = fed_back(func, args, kwargs)
    if not written:
        return least_cpu_seconds(repeated(call, repeats), 3) / repeats
    saved = [view.clone() for view in written]

    def restored_call() -> float:
        for view, values in zip(written, saved):
            view.copy_(values)
        return least_cpu_seconds(call, 1)
    return max(min(restored_call() for _ in range(max(3, min(repeats, 20)))) - timer_s, 0.0)


def streamed_call_seconds(func, variants: list) -> float:
    """The least of 3 batches' mean CPU seconds per call, a batch calling ``func`` once on
    each variant, in order: each call reads and writes the next slice of its sequence
    buffers, as a step's time loop does, so those slices come from memory, not the cache.
    A call that reads what it writes finds its written views restored before each batch
    (the restores are not timed; each slice is written once a batch)."""
    written = [fed_back(func, args, kwargs) for args, kwargs in variants]
    per_call = sum(view.numel() * view.element_size() for view in written[0])
    if per_call:  # their saved values: at most STREAM_SAVED_BYTES
        variants = variants[:max(2, STREAM_SAVED_BYTES // per_call)]
    written = [view for views in written[:len(variants)] for view in views]
    saved = [view.clone() for view in written]

    def batch() -> float:
        for view, values in zip(written, saved):
            view.copy_(values)
        return least_cpu_seconds(lambda: [func(*args, **kwargs) for args, kwargs in variants], 1)
    return min(batch() for _ in range(3)) / len(variants)


def fed_back(func, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The views a call writes when it may read them too, else []: an in-place op's self, or
    an out= result in a storage that an input shares (a result written only, as most out=
    calls write theirs, comes out the same at every repeat)."""
    written, read = [], []
    for index, argument in enumerate(func._schema.arguments):
        value = kwargs.get(argument.name) if argument.kwarg_only or index >= len(args) else args[index]
        tensors = [t for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]
        is_written = argument.alias_info is not None and argument.alias_info.is_write
        (written if is_written else read).append((argument.kwarg_only, tensors))
    inputs = {storage_pointer(t) for _, tensors in read for t in tensors}
    views = [t for _, tensors in written for t in tensors]
    if any(not kwarg_only for kwarg_only, _ in written) or any(storage_pointer(t) in inputs for t in views):
        return views
    return []


def timer_seconds() -> float:
    """CPU seconds that ``least_cpu_seconds`` reads around an empty call."""
    return least_cpu_seconds(lambda: None, 20)


def replayed_seconds(census: ReplayCensus, calibration: dict, gemm_ops: frozenset) -> dict:
    """{seconds, by_op, unreplayed: {op: calls}}: the census's non-GEMM calls that move bytes
    or draw numbers, each charged its replayed time less the replay's Python cost (the
    dispatch kept), at least its floor; a call that cannot be replayed is charged its floor."""
    overhead, timer_s = max(python_call_seconds() - calibration["dispatch_s"], 0.0), timer_seconds()
    total, by_op, unreplayed = 0.0, Counter(), Counter()
    flushed = torch.set_flush_denormal(True)
    try:
        for key, count in census.calls.items():
            op, streams, drawn = key
            floor = 0.0 if op in gemm_ops else call_floor(op, streams, drawn, calibration)[0]
            if not floor:
                continue
            try:
                seconds = max(floor, replayed_call_seconds(*census.first_calls[key], timer_s) - overhead)
            except (RuntimeError, TypeError, ValueError, IndexError):  # e.g. an op that checks values
                seconds, unreplayed[op] = floor, unreplayed[op] + count
            total += count * seconds
            by_op[op] += count * seconds
    finally:
        if flushed:
            torch.set_flush_denormal(False)
    return {"seconds": total, "by_op": dict(by_op), "unreplayed": dict(unreplayed)}

