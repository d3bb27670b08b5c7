"""LSC pre-training: drive the spectral radius of each local Jacobian a model exposes
(its LSC sites, see sites.py) towards a target (1 for feed-forward nets).

One step: the next site of a random sweep, a training batch through the network up to
that site without gradient, the per-sample Jacobians of the site (torch.func), their
spectral radii and the loss mean((rho - target)^2); one AdaBelief+Lookahead step of the
site's own optimiser. Then the reference's two heuristics, each by chance: ``rescale``
(its "wmultiplier") and ``shuffle`` (its "wshuff"). A per-site radius estimate decides
which weights are kept and when to stop. ``mode: reference`` swaps in the reference's
choices where this port departs from them (reference.py); docs/deviations.md lists each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..optim import adabelief_lookahead, resync_slow_weights
from .driver import LSCProcedure, drive, optimizer_step, permute_entries, validation_batches
from .jacobians import RadiusMethod, batched_jacobian, spectral_radius, square_block
from .reference import ReferenceRules
from .sites import LSCSite


@dataclass(frozen=True)
class LSCSettings:
    target: float = 1.0
    epochs: int = 100
    batch_size: int = 512
    steps_per_epoch: int | None = None  # None: one pass over the training set
    lr: float = 1e-4
    weight_decay: float = 1e-4
    sync_period: int = 6
    slow_step: float = 0.5
    # Stop once the sites' mean radius is within ``tolerance`` of the target and their
    # rms distance to it is under ``spread_tolerance``, for more than ``patience`` steps.
    tolerance: float = 0.02
    spread_tolerance: float = 0.05
    patience: int = 10
    rescale: bool = True
    rescale_probability: float = 1 / 3
    shuffle: bool = True
    shuffle_probability: float = 0.2
    radius_method: RadiusMethod = "ritz"
    # Also pre-train the non-core sites (the input and readout blocks of a dense stack,
    # whose non-square Jacobians are cut to a random square block), as the reference does.
    end_blocks: bool = False
    measure_batches: int = 2  # validation batches for the before/after measurement
    check_samples: int = 128  # validation samples a best-weights candidate is checked on
    max_seconds: float | None = None  # wall-clock cap: wall time in total, across resumes; None: none
    mode: Literal["fixed", "reference"] = "fixed"


@dataclass
class LSCResult:
    status: str = "not_converged"  # "converged", "not_converged" or "diverged"
    radius_before_mean: float = float("nan")
    radius_before_std: float = float("nan")
    radius_before_per_site: dict[str, float] = field(default_factory=dict)
    radius_after_mean: float = float("nan")
    radius_after_std: float = float("nan")
    radius_after_per_site: dict[str, float] = field(default_factory=dict)
    loss_curve: list[float] = field(default_factory=list)
    radius_curve: list[float] = field(default_factory=list)
    moving_average_curve: list[float] = field(default_factory=list)
    steps: int = 0
    selected_step: int | None = None  # steps the handed-back weights had had (0: the initial ones)
    epochs_run: int = 0
    best_distance: float | None = None
    seconds: float = 0.0
    resumed_from_epoch: int = 0


def site_radii(site: LSCSite, h: torch.Tensor, method: RadiusMethod,
               generator: torch.Generator) -> torch.Tensor:
    """Spectral radius of d site(h) / d h for every sample of h: shape (B,)."""
    jac = batched_jacobian(site.function, h)
    return spectral_radius(square_block(jac, generator), method, generator=generator)


def site_loss(radii: torch.Tensor, target: float) -> torch.Tensor:
    """The loss of one site's step: mean((rho - target)^2) over its batch."""
    return ((radii - target) ** 2).mean()


@torch.no_grad()
def site_means(sites: list[LSCSite], indices: list[int], x: torch.Tensor, method: RadiusMethod,
               generator: torch.Generator) -> dict[int, float]:
    return {i: site_radii(sites[i], sites[i].inputs(x), method, generator).mean().item()
            for i in indices}


@torch.no_grad()
def measure_radii(sites: list[LSCSite], batches: list[torch.Tensor], method: RadiusMethod,
                  seed: int = 0) -> tuple[float, float, dict[str, float]]:
    """Mean and std of the per-sample radius over the core sites, and every site's mean."""
    generator = torch.Generator(device=batches[0].device).manual_seed(seed)
    per_site, core = {}, []
    for site in sites:
        radii = torch.cat([site_radii(site, site.inputs(x), method, generator) for x in batches])
        per_site[site.name] = radii.mean().item()
        if site.core:
            core.append(radii)
    allr = torch.cat(core)
    return allr.mean().item(), allr.std().item(), per_site


def pretrain_lsc(model: torch.nn.Module, task, settings: LSCSettings, seed: int,
                 device: torch.device, checkpoint: Path | None = None, fingerprint: str = "",
                 log=print) -> LSCResult:
    """Pre-train ``model`` in place; it ends holding the best weights found.

    Training inputs decide the weights; the before/after radii and the check of each
    best-weights candidate use validation inputs. With ``checkpoint`` the state is saved
    after every epoch and a rerun of the same run resumes from it."""
    run = MODES[settings.mode](model, task, settings, seed, device, log)
    return drive(run, settings.epochs, checkpoint, fingerprint, log)


class LSCRun(LSCProcedure):
    """The state of one pre-training and its steps; ``state_dict`` is what a checkpoint
    holds at an epoch boundary. Subclasses change the heuristics and the selection."""

    RESUMED = "LSC resumed from checkpoint after epoch {}"
    RESUMED_FIELD = "resumed_from_epoch"
    PER = "per_site"
    STATE_FIELDS = ("epoch", "close_steps", "since_best", "last_check", "order", "estimate",
                    "ma_radius", "best", "result")

    def __init__(self, model: torch.nn.Module, task, settings: LSCSettings, seed: int,
                 device: torch.device, log):
        per_epoch = task.batches_per_epoch(settings.batch_size)
        if per_epoch and settings.steps_per_epoch:
            per_epoch = min(per_epoch, settings.steps_per_epoch)
        super().__init__(model, settings, seed, device, log, per_epoch and per_epoch * settings.epochs)
        self.task = task
        self.sites: list[LSCSite] = model.lsc_sites()
        self.active = [i for i, s in enumerate(self.sites) if s.core or self.all_sites()]
        torch.manual_seed(seed)
        self.order: list[int] = []
        self.optimizers: dict[int, object] = {}
        self.result = LSCResult()
        self.epoch, self.close_steps, self.since_best, self.last_check = 0, 0, 0, 0
        self.measure = validation_batches(task, settings.batch_size, settings.measure_batches,
                                          seed + 1, device)
        self.check_batch = self.measure[0][:settings.check_samples]

    def all_sites(self) -> bool:
        return self.settings.end_blocks or not any(s.core for s in self.sites)

    def window(self) -> int:
        """The moving average's window: one step per site pre-trained."""
        return len(self.active)

    # --- before, after ---------------------------------------------------------------
    def _measure(self, when: str) -> dict[str, float]:
        mean, std, per_site = measure_radii(self.sites, self.measure, self.settings.radius_method)
        self.set_radii(when, mean, std, per_site)
        return per_site

    def measure_before(self) -> None:
        per_site = self._measure("before")
        self.log(f"LSC before: radius {self.result.radius_before_mean:.4f} +- "
                 f"{self.result.radius_before_std:.4f}")
        self.estimate = {i: per_site[self.sites[i].name] for i in self.active}
        self.ma_radius = float(np.mean(list(self.estimate.values())))
        self.keep_best(distance=self.distance()[1], estimate=dict(self.estimate))

    def conclude(self) -> None:
        self.restore_best()
        self._measure("after")
        self.log(f"LSC after: radius {self.result.radius_after_mean:.4f} +- "
                 f"{self.result.radius_after_std:.4f} ({self.result.steps} steps, {self.result.status})")
        self.result.best_distance = self.best["distance"]

    # --- the loop --------------------------------------------------------------------
    def units_done(self) -> int:
        return self.epoch

    def run_unit(self) -> None:
        self.run_epoch()

    def run_epoch(self) -> None:
        s = self.settings
        batches = self.task.lsc_inputs(s.batch_size, self.generator, "train")
        for step, x in enumerate(batches):
            if (s.steps_per_epoch is not None and step >= s.steps_per_epoch) or self.finished():
                break
            self.step(x)
        self.epoch += 1
        self.result.epochs_run = self.epoch
        self.log(f"LSC epoch {self.epoch}: steps {self.result.steps}, moving average radius "
                 f"{self.ma_radius:.4f}, rms distance to target {self.distance()[1]:.4f} "
                 f"(best {self.best['distance']:.4f})")

    def next_site(self) -> int:
        """Sites in random order, each once per sweep (the reference draws with
        replacement, which leaves some sites unvisited for long stretches)."""
        if not self.order:
            self.order = self.rng.permutation(self.active).tolist()
        return self.order.pop()

    def optimizer(self, index: int):
        """One optimiser per site: its step count, moments and Lookahead slow copies
        advance only when the site is trained, and its syncs touch only its weights."""
        if index not in self.optimizers:
            s = self.settings
            self.optimizers[index] = adabelief_lookahead(self.sites[index].params, s.lr, s.weight_decay,
                                                         s.sync_period, s.slow_step)
        return self.optimizers[index]

    def step(self, x: torch.Tensor) -> None:
        index = self.next_site()
        site, target = self.sites[index], self.settings.target
        with torch.no_grad():
            h = site.inputs(x)
        radii = site_radii(site, h, self.settings.radius_method, self.generator)
        loss = site_loss(radii, target)
        # the step's one host read: the stop, the moving average and the estimate need them
        loss_value, radius = torch.stack([loss.detach(), radii.detach().mean()]).tolist()
        if not math.isfinite(loss_value):
            self.log(f"LSC step {self.result.steps}: radius of {site.name} is not finite; "
                     "stopping (status diverged)")
            self.result.status = "diverged"
            return
        optimizer = self.optimizer(index)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        self.ma_radius += (radius - self.ma_radius) / self.window()
        self.result.moving_average_curve.append(self.ma_radius)
        self.record_step(loss_value, radius, site=site.name, radius=radius, moving_average=self.ma_radius)
        with torch.no_grad():
            radius = self.heuristics(index, h, radius)
        self.estimate[index] = radius
        self.select_and_stop()

    # --- heuristics ------------------------------------------------------------------
    def heuristics(self, index: int, h: torch.Tensor, radius: float) -> float:
        """Shuffle, then rescale, each by chance; returns the site's radius after them.
        Each edit also resets the site's Lookahead slow copy, which would otherwise
        pull half of it back at the next sync."""
        s, site = self.settings, self.sites[index]
        edited = False
        if s.shuffle and self.rng.random() < s.shuffle_probability:
            radius, kept = self.try_shuffle(site, h, radius)
            edited |= kept
        if s.rescale and self.rng.random() < s.rescale_probability:
            factor = site.rescale(radius, s.target)
            radius *= factor
            edited |= factor != 1.0
        if edited:
            resync_slow_weights(self.optimizer(index))
        return radius

    def try_shuffle(self, site: LSCSite, h: torch.Tensor, radius: float) -> tuple[float, bool]:
        """Permute the site's shuffled weights; keep the permutation only if the site's
        radius on the same batch does not move away from the target.

        The reference permutes every weight of the net unconditionally. Measured at depth
        10, one such shuffle moves the hidden radii by up to 15% (ReLU: -40%) and undoes
        what the gradient steps and rescaling achieved, so the radius never settles."""
        saved = [w.detach().clone() for w in site.shuffled]
        for w in site.shuffled:
            permute_entries(w.data.view(-1), self.generator)
        shuffled = site_radii(site, h, self.settings.radius_method, self.generator).mean().item()
        if abs(shuffled - self.settings.target) <= abs(radius - self.settings.target):
            return shuffled, True
        for w, old in zip(site.shuffled, saved):
            w.data.copy_(old)
        return radius, False

    # --- which weights are kept, when to stop -----------------------------------------
    def distance(self) -> tuple[float, float]:
        values = np.array(list(self.estimate.values()))
        target = self.settings.target
        return abs(values.mean() - target), float(np.sqrt(((values - target) ** 2).mean()))

    def select_and_stop(self) -> None:
        """Keep the weights whose sites sit closest to the target (rms distance). The
        estimates go stale as upstream sites change, so at most once per sweep a candidate
        is measured on validation samples before it is kept, refreshing the estimates."""
        s = self.settings
        bias, rms = self.distance()
        if rms < self.best["distance"] and self.result.steps - self.last_check >= len(self.active):
            self.estimate.update(site_means(self.sites, self.active, self.check_batch,
                                            s.radius_method, self.generator))
            bias, rms = self.distance()
            self.last_check = self.result.steps
            if rms < self.best["distance"]:
                self.keep_best(distance=rms, estimate=dict(self.estimate))
                self.since_best = 0
        if self.since_best > 3 * max(s.patience, len(self.active)):
            # back to the best weights, with fresh optimisers (their slow copies and
            # moments belong to the abandoned weights)
            self.restore_best()
            self.estimate = dict(self.best["estimate"])
            self.optimizers = {}
            (bias, rms), self.since_best = self.distance(), 0
        self.since_best += 1
        close = bias < s.tolerance and rms < s.spread_tolerance
        self.close_steps = self.close_steps + 1 if close else 0
        if self.close_steps > s.patience:
            self.result.status = "converged"

    # --- checkpoints -------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {"optimizers": {i: o.state_dict() for i, o in self.optimizers.items()}}

    def load_extra_state(self, state: dict) -> None:
        for index, optimizer_state in state["optimizers"].items():
            self.optimizer(index).load_state_dict(optimizer_state)


class ReferenceRun(ReferenceRules, LSCRun):
    """``mode: reference``: the reference's rules (reference.py) in this loop."""


# settings.mode -> the run class
MODES = {"fixed": LSCRun, "reference": ReferenceRun}


# --- what lscrepro/cost asks of this procedure (lscrepro.catalog.procedures) -------------------
def cost_step(model, settings: LSCSettings, inputs, generator: torch.Generator, timer) -> dict:
    """``timer(call)`` (its seconds, or FLOPs) of this procedure's pieces: ``lsc_step_s`` one
    step (a site's batched Jacobians, radii, loss, backward and update; the middle site of those
    pre-trained) and ``measure_s`` one before-or-after measurement (every site's radii on
    ``measure_batches`` batches). ``inputs(batch)``: network inputs at the task's sizes. The
    shuffle trials' extra radii (at a probability) are not counted."""
    sites = [s for s in model.lsc_sites() if s.core or settings.end_blocks]
    site = sites[len(sites) // 2]
    optimizer = adabelief_lookahead(site.params, settings.lr, settings.weight_decay)
    x = inputs(settings.batch_size)

    def radii():
        return site_radii(site, site.inputs(x).detach(), settings.radius_method, generator)

    def radii_only():
        with torch.no_grad():
            radii()
    # the measurement takes every site's radii on each measure batch (measure_radii); the
    # reference mode's sites of a dense stack are its 2L + 1 (reference.ReferenceRules)
    reference = settings.mode == "reference" and hasattr(model, "reference_lsc_sites")
    measured = len(model.reference_lsc_sites() if reference else model.lsc_sites()) * settings.measure_batches
    return {"lsc_step_s": timer(lambda: optimizer_step(optimizer, site_loss(radii(), settings.target))),
            "measure_s": measured * timer(radii_only)}


def step_bound(settings: LSCSettings, dims: dict, sizes: dict, timed: dict) -> tuple[int, float]:
    """The stop rule's most steps (``epochs`` of the full training batches lsc_inputs draws, at
    most ``steps_per_epoch`` each) and the seconds of the before and after measurements."""
    per_epoch = max((sizes["train"] - settings.batch_size) // settings.batch_size + 1, 1)
    if settings.steps_per_epoch is not None:
        per_epoch = min(per_epoch, settings.steps_per_epoch)
    return settings.epochs * per_epoch, 2 * timed["measure_s"]
