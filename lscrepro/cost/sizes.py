"""The task's data at the real sizes, without the data: the model's dims and split sizes
of the real dataset (``Preparation.canonical_info``), batches of its layout, and a timer."""

from __future__ import annotations

import resource
import time

import torch

from ..data.preparations import preparation
from ..tasks import prepared_of, task_class
from ..tasks.language import WordPTB


def task_sizes(spec: dict) -> tuple[dict, dict]:
    """(model dims, split sizes) of the real dataset of ``spec``'s task."""
    prep = preparation(prepared_of(spec["task"]))
    dims = task_class(spec["task"]["name"]).dims_of(spec["task"], dict(prep.canonical_info))
    return dims, dict(prep.canonical_sizes)


def batches_per_epoch(spec: dict, sizes: dict, batch: int, split: str = "train") -> int:
    """Batches of one pass over ``split``, as the task counts them."""
    if preparation(prepared_of(spec["task"])).unit == "tokens":
        options = {k: spec["task"][k] for k in ("maxlen", "timerepeat", "evaluation") if k in spec["task"]}
        ids = {s: torch.empty(n, dtype=torch.long) for s, n in sizes.items()}
        return WordPTB(ids, 10, **options).batches_per_epoch(batch, split)
    return -(-sizes[split] // batch)


def random_batch(dims: dict, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of the task's layout at the real sizes."""
    classes = dims["num_classes"]
    if "vocab_size" in dims:  # token ids (B, T), next-token targets
        x = torch.randint(dims["vocab_size"], (batch, dims["steps"]), generator=generator)
        return x, torch.roll(x, -1, dims=1)
    if "steps" in dims:  # spike rasters (B, T, channels), a label at every step
        x = (torch.rand(batch, dims["steps"], dims["in_features"], generator=generator) < 0.05).float()
        return x, torch.randint(classes, (batch, dims["steps"]), generator=generator)
    x = torch.randn(batch, dims["in_features"], generator=generator)
    return x, torch.randint(classes, (batch,), generator=generator)


def settle(call, most: int = 6) -> float:
    """Calls ``call`` until one faults in few fresh memory pages (a twentieth of the first
    call's): the allocator has grown to the call's needs, as a job's steps do after a few
    (lscrepro.host_memory), at most ``most`` times; the seconds of the last call."""
    first = None
    for _ in range(most):
        faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        call()
        seconds = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        if first is None:
            first = faults
        elif faults <= first / 20:
            break
    return seconds


def seconds_per_call(call, budget: float = 1.0, most: int = 3, settled: bool = False) -> float:
    """The fastest of a few calls after one warm-up call, or with ``settled`` after the
    warm-up of ``settle`` (training steps: a job makes thousands); slow calls (over
    ``budget`` s) are timed once, the last warm-up call being the measurement."""
    first = settle(call) if settled else settle(call, most=1)
    if first > budget:
        return first
    times = []
    for _ in range(most):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)
