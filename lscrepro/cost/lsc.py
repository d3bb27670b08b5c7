"""The cost of one LSC pre-training job (lscrepro/cost/grid.py): each procedure's step at
the job's sizes, timed, and its stop rule's upper bound on the number of steps.

A step is what the procedure repeats: sites (dense stack) one site's batched Jacobians,
radii, loss, backward and update; recurrent every local Jacobian of one time step with
its radii, loss, backward and update; lru one lruLSC iteration (radii of a block pair,
rescale, shuffle and halves). The heuristics' extra radius evaluations (shuffle trials,
at a probability) are not counted.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..catalog.entrypoints import load
from ..settings import settings_from
from ..lsc import PROCEDURES
from ..lsc.loop import site_radii
from ..lsc.lru import pair_radii, rescale, shuffle_and_swap
from ..lsc.recurrent import cell_views, local_radii, lsc_loss
from ..optim import adabelief_lookahead
from .flops import batch_extended, count_flops
from .sizes import random_batch, seconds_per_call


def _settings(spec: dict):
    settings_class = load(PROCEDURES[spec["lsc_procedure"]][0])
    return settings_from(settings_class, spec["lsc"], "lsc")


def _update(optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _sites(model, settings, dims, generator, timer=seconds_per_call) -> dict:
    sites = [s for s in model.lsc_sites() if s.core or settings.end_blocks]
    site = sites[len(sites) // 2]
    optimizer = adabelief_lookahead(site.params, settings.lr, settings.weight_decay)
    x = random_batch(dims, settings.batch_size, generator)[0]

    def radii():
        return site_radii(site, site.inputs(x).detach(), settings.radius_method, generator)

    def radii_only():
        with torch.no_grad():
            radii()
    # the measurement takes every site's radii on each measure batch (loop.measure_radii); the
    # reference mode's sites of a dense stack are its 2L + 1 (reference.ReferenceRules)
    reference = settings.mode == "reference" and hasattr(model, "reference_lsc_sites")
    measure = len(model.reference_lsc_sites() if reference else model.lsc_sites()) * settings.measure_batches
    return {"lsc_step_s": timer(lambda: _update(optimizer, ((radii() - settings.target) ** 2).mean())),
            "measure_s": measure * timer(radii_only)}


def _recurrent(model, settings, dims, generator, timer=seconds_per_call) -> dict:
    views = cell_views(model)
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay)
    x_t = random_batch(dims, settings.batch_size, generator)[0][:, 0]
    states = [torch.randn(settings.batch_size, v.size(), generator=generator) * 0.3 for v in views]

    def step():
        radii = local_radii(model, views, model.embed(x_t), states, settings, generator)[0]
        _update(optimizer, lsc_loss(radii, settings.target))
    # a measurement step (radii only) is bounded by a whole step: timing it apart would
    # double the time this takes for under 2% of a job's bound
    return {"lsc_step_s": timer(step)}


def _lru(model, settings, dims, generator, timer=seconds_per_call) -> dict:
    goals = {"time": settings.target, "depth": settings.target}
    model.eval()  # as pretrain_lru: no dropout inside the Jacobians

    def pair():
        return pair_radii(model, (0, 1), settings.batch_size, settings.radius_method, generator)

    @torch.no_grad()
    def iteration():
        a_t, a_l = pair()
        rescale(model, (0, 1), a_t, a_l, goals, settings.max_change)
        shuffle_and_swap(model, (0, 1), settings.shuffle, settings.swap_halves, generator, settings.halves)
    with torch.no_grad():
        pair_s = timer(pair)
    return {"lsc_step_s": timer(iteration), "pair_s": pair_s}


STEPS = {"sites": _sites, "recurrent": _recurrent, "lru": _lru}


def lsc_seconds(model, spec: dict, dims: dict, sizes: dict, generator) -> dict:
    """Seconds of the spec's LSC step (and of its measurement pieces)."""
    return STEPS[spec["lsc_procedure"]](model, _settings(spec), dims, generator)


def lsc_step_flops(model, spec: dict, dims: dict, sizes: dict, generator) -> dict:
    """{step_flops, flops_counted} of the spec's LSC step: counted on real tensors at batch
    sizes 1 and 2 and extended to the spec's (lscrepro/cost/flops.py)."""
    settings = _settings(spec)

    def count_at(size: int) -> int:
        return STEPS[spec["lsc_procedure"]](model, replace(settings, batch_size=size), dims, generator,
                                            timer=count_flops)["lsc_step_s"]
    return {"step_flops": batch_extended(count_at, settings.batch_size),
            "flops_counted": "cpu, batches 1 and 2, extended"}


def lsc_job_seconds(spec: dict, timed: dict, task_sizes: tuple[dict, dict], capped: bool = True) -> float:
    """Upper bound of one pre-training job: steps x step time, capped by max_seconds,
    plus the before and after measurements."""
    settings, (dims, sizes) = _settings(spec), task_sizes
    procedure = spec["lsc_procedure"]
    if procedure == "sites":
        per_epoch = max((sizes["train"] - settings.batch_size) // settings.batch_size + 1, 1)
        if settings.steps_per_epoch is not None:
            per_epoch = min(per_epoch, settings.steps_per_epoch)
        steps, measure = settings.epochs * per_epoch, 2 * timed["measure_s"]
    elif procedure == "recurrent":
        steps = settings.batches * dims["steps"]
        steps = min(steps, settings.max_steps) if settings.max_steps else steps
        measure = 2 * settings.measure_batches * min(settings.measure_steps, dims["steps"]) * timed["lsc_step_s"]
    else:
        steps, measure = settings.iterations, 2 * settings.measure_iterations * timed["pair_s"]
    loop = steps * timed["lsc_step_s"]
    cap = settings.max_seconds if capped else None
    return (min(loop, cap) if cap else loop) + measure
