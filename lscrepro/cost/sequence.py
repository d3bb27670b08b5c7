"""A step's ATen calls replayed in the step's own order on the step's own memory layout:
what PyTorch's kernels take for the whole step, GEMMs included, with no Python, autograd
engine, allocator or profiler work between them (lscrepro/cost/profile.py sets the time
against issue 26's target).

The replay of replay.py times each distinct call alone, its operands hot or streamed as the
step streams them. In a step the same kernels run 1.3-1.9x slower on the narrow recurrent
shapes: each call finds the caches and TLB as its neighbours left them. Replaying the calls
in order, each on the addresses the step gave its operands, keeps those neighbours.

``SequenceCensus`` records one step below autograd: each call's op and arguments, each
tensor as (its storage's address in the step, offset, size, strides, dtype), and the bytes
of every storage the step reads before any call wrote it (the parameters, the optimiser's
state, the batch). ``SequenceReplay`` allocates one buffer per run of overlapping storage
ranges (so two tensors that shared memory in the step, at the same or at different times,
share it in the replay), copies those inputs in, and builds every call's tensors as views
of the buffers before timing. A call that returns fresh memory is replayed as its ``out=``
overload writing where the step's result was (a copy or a fill as ``copy_`` or ``fill_``); a
call whose ``out=`` PyTorch generates (the functional op, then a copy) or that has none runs
as recorded and its results are copied in, one copy more than the step made; a call that
only views its arguments, or allocates without writing, has no kernel and is left out;
in-place and ``out=`` calls run as recorded. The sequence is run a few times, the inputs restored
before each, and the least CPU time kept, less the replay loop's Python cost per call:
an estimate of the kernels' time in the step, not a bound. Denormals are not flushed: the
calls compute on the step's own values, subnormal ones included, as the step does.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from .floor import least_cpu_seconds, storage_pointer
from .replay import python_call_seconds

ALLOCATIONS = frozenset({"aten::empty", "aten::empty_strided", "aten::empty_like", "aten::new_empty",
                         "aten::new_empty_strided"})
# fresh results that are a copy or a fill: the same kernel, written where the step's result was
COPIES = frozenset({"aten::clone", "aten::_to_copy", "aten::lift_fresh_copy"})
FILLS = {**dict.fromkeys(("aten::zeros", "aten::zeros_like", "aten::new_zeros"), lambda args: 0),
         **dict.fromkeys(("aten::ones", "aten::ones_like", "aten::new_ones"), lambda args: 1),
         "aten::full": lambda args: args[1], "aten::full_like": lambda args: args[1],
         "aten::new_full": lambda args: args[2]}


@dataclass(frozen=True)
class Operand:
    """A tensor of a recorded call: a view of the step's storage at ``address``."""
    address: int
    offset: int
    size: tuple
    stride: tuple
    dtype: torch.dtype


def written_arguments(func) -> list[str]:
    """Names of the arguments a call writes (an in-place op's self, an out= result)."""
    return [a.name for a in func._schema.arguments if a.alias_info is not None and a.alias_info.is_write]


def out_overload(func):
    """(the out= overload of a functional op, its out arguments' names, whether PyTorch
    generates it: the functional op, then a copy into out), or None where there is none."""
    signature = [(a.name, str(a.type)) for a in func._schema.arguments]
    for name in func.overloadpacket.overloads():
        candidate = getattr(func.overloadpacket, name)
        arguments = candidate._schema.arguments
        outs = [a.name for a in arguments if a.is_out]
        if (outs and len(outs) == len(func._schema.returns)
                and [(a.name, str(a.type)) for a in arguments if not a.is_out] == signature):
            return candidate, outs, torch.Tag.generated in candidate.tags
    return None


class SequenceCensus(TorchDispatchMode):
    """Every ATen call under the mode, in order, as (op, (args, kwargs) with each tensor an
    Operand, the results' Operands); ``extents``: the largest bytes of a storage seen at
    each address; ``inputs``: the bytes of each storage a call read before any call wrote
    it, as they were then."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []
        self.extents: dict[int, int] = {}
        self.inputs: dict[int, torch.Tensor] = {}
        self.written: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for tensor in _tensors((args, kwargs)):
            address = storage_pointer(tensor)
            if address is not None and address not in self.written and address not in self.inputs:
                self.inputs[address] = _storage_bytes(tensor).clone()
        out = func(*args, **kwargs)
        template = tree_map(self.operand, (args, kwargs))
        results = [self.operand(t) for t in _tensors(out)]
        self.written.update(r.address for r in results)
        self.written.update(storage_pointer(t) for t in written_tensors(func, args, kwargs))
        self.calls.append((func, template, results))
        return out

    def operand(self, value):
        if not isinstance(value, torch.Tensor):
            return value
        address = storage_pointer(value)
        if address is None:
            raise TypeError(f"SequenceCensus: {value.layout} tensors have no storage to replay")
        self.extents[address] = max(self.extents.get(address, 0), value.untyped_storage().nbytes())
        return Operand(address, value.storage_offset(), tuple(value.shape), tuple(value.stride()), value.dtype)


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def written_tensors(func, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    """The tensors a call writes in place (given as arguments, by position or by name)."""
    names = written_arguments(func)
    given = [args[i] for i, a in enumerate(func._schema.arguments[:len(args)]) if a.name in names]
    return _tensors(given + [kwargs.get(name) for name in names])


def _storage_bytes(tensor: torch.Tensor) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8).set_(tensor.untyped_storage())


def _copied(func, results: int):
    """A functional op made to write its results into ``outs``: the op, then copies."""
    def call(outs, *args, **kwargs):
        out = func(*args, **kwargs)
        for target, value in zip(outs, [out] if results == 1 else out):
            target.copy_(value)
    return call


def regions(extents: dict[int, int]) -> list[tuple[int, int]]:
    """The runs [start, end) of overlapping address ranges [address, address + bytes)."""
    merged: list[list[int]] = []
    for start, size in sorted(extents.items()):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + size)
        else:
            merged.append([start, start + size])
    return [(start, end) for start, end in merged]


class SequenceReplay:
    """A census's calls prepared on fresh buffers laid out as the step's storages were
    (module docstring); ``seconds()`` times them in order."""

    def __init__(self, census: SequenceCensus):
        spans = regions(census.extents)
        self.starts = [start for start, _ in spans]
        self.buffers = [torch.zeros(end - start, dtype=torch.uint8) for start, end in spans]
        self.inputs = [(self.bytes_at(address, len(values)), values) for address, values in census.inputs.items()]
        self.calls, self.copied = [], Counter()
        for func, template, results in census.calls:
            prepared = self.prepare(func, template, results)
            if prepared is not None:
                self.calls.append(prepared)

    def locate(self, address: int) -> tuple[torch.Tensor, int]:
        """(the buffer that holds the step's ``address``, the byte offset in it)."""
        index = bisect.bisect_right(self.starts, address) - 1
        return self.buffers[index], address - self.starts[index]

    def bytes_at(self, address: int, size: int) -> torch.Tensor:
        buffer, begin = self.locate(address)
        return buffer[begin:begin + size]

    def view(self, spec):
        if not isinstance(spec, Operand):
            return spec
        element = torch.empty(0, dtype=spec.dtype).element_size()
        buffer, begin = self.locate(spec.address)
        if begin % element:
            raise ValueError(f"SequenceReplay: a {spec.dtype} storage at a byte offset of {begin}")
        return torch.empty(0, dtype=spec.dtype).set_(buffer.untyped_storage(), begin // element + spec.offset,
                                                    spec.size, spec.stride)

    def prepare(self, func, template, results):
        """(op, args, kwargs) of one call on the buffers, or None for a call with no kernel."""
        args, kwargs = tree_map(self.view, template)
        arguments = {o.address for o in tree_flatten(template)[0] if isinstance(o, Operand)}
        fresh = [r for r in results if r.address not in arguments]
        if func._schema.name in ALLOCATIONS or not (fresh or written_arguments(func)):
            return None  # a view of its arguments, an allocation, or no tensor written
        if fresh:
            return self.into_results(func, args, kwargs, [self.view(r) for r in results])
        return func, args, kwargs

    def into_results(self, func, args: tuple, kwargs: dict, outs: list):
        """A call with fresh results made to write them where the step's were: a copy or a
        fill as that kernel, else its out= overload; an op with neither, or whose out=
        PyTorch generates, runs as recorded and is copied in (counted in ``copied``)."""
        name, overload = func._schema.name, out_overload(func)
        if name in COPIES:
            return torch.ops.aten.copy_.default, (outs[0], args[0]), {}
        if name in FILLS:
            return torch.ops.aten.fill_.Scalar, (outs[0], FILLS[name](args)), {}
        if overload is not None and not overload[2]:
            return overload[0], args, {**kwargs, **dict(zip(overload[1], outs))}
        self.copied[name] += 1
        return _copied(func, len(outs)), (outs, *args), kwargs

    def restore(self) -> None:
        for target, values in self.inputs:
            target.copy_(values)

    def seconds(self, repeats: int = 3, beside=None) -> tuple[float, float | None]:
        """(the least CPU seconds of running every call in order, the inputs restored before
        each run; with ``beside``, the least of a ``beside()`` run before each of them, else
        None): on this VM the speed of memory moves by a sixth within a minute, so a
        comparison is made between runs taken in turn."""
        def run():
            for func, args, kwargs in self.calls:
                func(*args, **kwargs)
        best, best_beside = float("inf"), None if beside is None else float("inf")
        for _ in range(repeats):
            if beside is not None:
                best_beside = min(best_beside, least_cpu_seconds(beside, 1))
            self.restore()
            best = min(best, least_cpu_seconds(run, 1))
        return best, best_beside


def loop_call_seconds() -> float:
    """CPU seconds of one call from the replay loop: the most of three forms the prepared
    calls take (2 tensors; 2 and an out=; 3, a scalar and an out=), on 1-element tensors, so
    that what is subtracted for the loop is rather too much than too little."""
    one, out, aten = torch.ones(1), torch.empty(1), torch.ops.aten
    return python_call_seconds(forms=((aten.add.Tensor, (one, one), {}), (aten.add.out, (one, one), {"out": out}),
                                      (aten.addcmul.out, (one, one, one), {"value": 0.5, "out": out})))


def sequence_seconds(step, dispatch_s: float, repeats: int = 3) -> dict:
    """{seconds, step_s, calls, copied: {op: calls}}: one ``step()`` recorded and its calls
    replayed in order (module docstring), less the loop's cost per call
    (``loop_call_seconds``) but the dispatch the step pays too (``dispatch_s``), each run
    after one more ``step()`` (``step_s``: the least of those); ``copied``: the calls
    replayed as recorded, then copied in."""
    census = SequenceCensus()
    with census:
        step()
    replay = SequenceReplay(census)
    overhead = max(loop_call_seconds() - dispatch_s, 0.0)
    raw, step_s = replay.seconds(repeats, beside=step)
    return {"seconds": max(raw - overhead * len(replay.calls), 0.0), "step_s": step_s,
            "calls": len(replay.calls), "copied": dict(replay.copied)}
