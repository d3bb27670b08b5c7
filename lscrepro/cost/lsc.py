"""The cost of one LSC pre-training job (lscrepro/cost/grid.py): the spec's procedure's step
at the job's sizes, timed, and its stop rule's upper bound on the number of steps.

Each procedure says what its step is and how many it takes at most (``cost_step`` and
``step_bound`` of its lscrepro.catalog.procedures entry, next to the code they measure); this
module times or counts what they hand it and caps the loop by ``max_seconds``.
"""

from __future__ import annotations

from dataclasses import replace

from ..catalog.entrypoints import load
from ..settings import settings_from
from ..catalog.procedures import PROCEDURES
from .flops import batch_extended, count_flops
from .sizes import random_batch, seconds_per_call


# Each registered procedure's code, imported with this module: grid.measure_all's pool forks
# its measuring children from a thread while the main thread works out job bounds, and a
# child forked during an import there inherits that module's import lock held (and hangs).
for _procedure in PROCEDURES.values():
    load(_procedure.cost_step)


def _settings(spec: dict):
    settings_class = load(PROCEDURES[spec["lsc_procedure"]].settings)
    return settings_from(settings_class, spec["lsc"], "lsc")


def _measured(model, spec: dict, settings, dims: dict, generator, timer) -> dict:
    """The procedure's pieces through ``timer``, on random inputs of the task's layout."""
    cost_step = load(PROCEDURES[spec["lsc_procedure"]].cost_step)
    return cost_step(model, settings, lambda size: random_batch(dims, size, generator)[0], generator, timer)


def lsc_seconds(model, spec: dict, dims: dict, sizes: dict, generator) -> dict:
    """Seconds of the spec's LSC step (and of its measurement pieces)."""
    return _measured(model, spec, _settings(spec), dims, generator, seconds_per_call)


def lsc_step_flops(model, spec: dict, dims: dict, sizes: dict, generator) -> dict:
    """{step_flops, flops_counted} of the spec's LSC step: counted on real tensors at batch
    sizes 1 and 2 and extended to the spec's (lscrepro/cost/flops.py)."""
    settings = _settings(spec)

    def count_at(size: int) -> int:
        return _measured(model, spec, replace(settings, batch_size=size), dims, generator,
                         count_flops)["lsc_step_s"]
    return {"step_flops": batch_extended(count_at, settings.batch_size),
            "flops_counted": "cpu, batches 1 and 2, extended"}


def lsc_job_seconds(spec: dict, timed: dict, task_sizes: tuple[dict, dict], capped: bool = True) -> float:
    """Upper bound of one pre-training job: steps x step time, capped by max_seconds,
    plus the before and after measurements."""
    settings, (dims, sizes) = _settings(spec), task_sizes
    step_bound = load(PROCEDURES[spec["lsc_procedure"]].step_bound)
    steps, measure = step_bound(settings, dims, sizes, timed)
    loop = steps * timed["lsc_step_s"]
    cap = settings.max_seconds if capped else None
    return (min(loop, cap) if cap else loop) + measure
