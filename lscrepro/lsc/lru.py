"""LSC pre-training of the residual LRU stack (the reference's ``lruLSC``): no gradient
step, only the two heuristics, driven by the radii of two local Jacobians.

Each iteration picks two distinct random blocks l1, l2 (l2 fed by l1's output), draws
Gaussian-noise inputs x and states s1, s2 (``batch_size`` samples, one time step) and
measures per sample

    M_t = d s1' / d s1          (time: l1's state over one step)
    M_l = d s2' / d s1          (depth: a diagonal step of the grid, l1's old state to
                                 l2's new state, through l1's output)

with their spectral radii a_t, a_l. Then (``rescale``) l1's and l2's ``lambda_nu`` are
multiplied by clip(mean(rho_t*/a_t), 1 -+ max_change) and l2's B and C by
clip(mean(rho_l*/a_l), ...); (``shuffle``) every parameter of both blocks is flattened
and permuted; (``swap_halves``) the first halves of the flattened parameters (flattened
as the reference's Keras arrays are: a Linear weight as its transpose, Keras' Dense kernel)
are mixed as ``halves`` says: "copy" (default, the reference) overwrites l1's first half with
l2's and leaves l2 as it was, "swap" exchanges them. The reference's
``w1i[:h], w2i[:h] = w2i[:h], w1i[:h]`` on numpy views is that one-way copy: the right
side is two views, so w1i[:h] first receives l2's values and w2i[:h] then receives
w1i[:h], which by then holds l2's own values. Targets: rho* for both, or with
``unbalanced`` (the reference's ``targetnorm:.5_unbalanced``) rho_l* = L/(L+T),
rho_t* = T/(L+T), T the training sequence length.

The radii are exact and cheap because of the LRU's structure (tested against eigvals of
the full Jacobians): s' = lambda s + gamma (u B) is linear in s with 2x2 rotation-scaling
blocks, so rho(M_t) = max |lambda| of l1; and M_l = P Q with P = d s2'/d u2 (4H x H, u2
the LayerNorm output that enters l2's LRU) and Q = d u2/d s1 (H x 4H), whose nonzero
eigenvalues are those of the H x H matrix Q P, the Jacobian of v -> u2(s1 + P v).

Differences from the reference (docs/deviations.md): the before/after radii are measured on fixed
noise draws of their own, and the layer pair is drawn with numpy's default_rng, not
np.random.shuffle of the layer list. Kept: the moving averages (time constant 2L) in
the report; the weights are those after the last iteration (no selection).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.func import jacrev, vmap

from .driver import LSCProcedure, drive, permute_entries
from .jacobians import RadiusMethod, spectral_radius

B_AND_C = ("lru.B_re", "lru.B_im", "lru.C_re", "lru.C_im")
# the Linear weights whose Keras kernels are their transposes (the halves are Keras' halves)
KERAS_TRANSPOSED = ("w_1.weight", "w_3.weight", "adapter.weight")
HALVES = ("copy", "swap")


@dataclass(frozen=True)
class LRULSCSettings:
    target: float = 1.0
    unbalanced: bool = False  # rho_l* = L/(L+T), rho_t* = T/(L+T); needs target 0.5
    iterations: int = 500  # the reference's ts
    batch_size: int = 8
    max_change: float = 0.05  # rescale factors clipped to [1 - max_change, 1 + max_change]
    rescale: bool = True  # the reference's wmultiplier
    shuffle: bool = True  # wshuff: every parameter of both blocks
    swap_halves: bool = True
    halves: str = "copy"  # "copy": l2's first halves into l1 (the reference); "swap": exchanged
    # the reference's save path re-initialises the embedding (and a Dense readout)
    reinit_embedding: bool = True
    radius_method: RadiusMethod = "eig"
    measure_iterations: int = 10  # before/after (the reference re-measures over 10 steps)
    tolerance: float = 0.08  # "converged": both mean radii this close to their targets
    checkpoint_every: int = 50
    max_seconds: float | None = None  # wall-clock cap: wall time in total, across resumes; None: none

    def __post_init__(self):
        if self.unbalanced and self.target != 0.5:
            raise ValueError(f"lsc.unbalanced needs lsc.target 0.5 (the reference's "
                             f"targetnorm:.5_unbalanced), got target {self.target}")
        if self.iterations < 0 or self.batch_size < 1 or not 0 <= self.max_change < 1:
            raise ValueError("lsc: iterations >= 0, batch_size >= 1 and 0 <= max_change < 1 needed, got "
                             f"{self.iterations}, {self.batch_size}, {self.max_change}")
        if self.halves not in HALVES:
            raise ValueError(f"lsc.halves must be one of {HALVES} (copy: the reference's one-way "
                             f"copy of l2's first halves into l1), got {self.halves!r}")


@dataclass
class LRULSCResult:
    status: str = "not_converged"  # "converged", "not_converged" or "diverged"
    targets: dict = field(default_factory=dict)  # {"time": rho_t*, "depth": rho_l*}
    radius_before_mean: float = float("nan")  # mean of (M_t, M_l) radii, as the reference's ni
    radius_before_std: float = float("nan")
    radius_after_mean: float = float("nan")
    radius_after_std: float = float("nan")
    radius_before_per_kind: dict = field(default_factory=dict)  # {"time": M_t, "depth": M_l}
    radius_after_per_kind: dict = field(default_factory=dict)
    moving_average_radius: float | None = None  # the reference's ma_norm
    loss_curve: list[float] = field(default_factory=list)
    radius_curve: list[float] = field(default_factory=list)
    steps: int = 0
    selected_step: int | None = None  # steps the handed-back weights had had (0: the initial ones)
    seconds: float = 0.0
    resumed_from_step: int = 0


def targets(settings: LRULSCSettings, depth: int, steps: int) -> dict[str, float]:
    if settings.unbalanced:
        return {"time": steps / (depth + steps), "depth": depth / (depth + steps)}
    return {"time": settings.target, "depth": settings.target}


def time_radius(block) -> torch.Tensor:
    """rho(d s'/d s) of a block: max |lambda| (its step is lambda s + input)."""
    return torch.exp(-torch.exp(block.lru.lambda_nu)).max()


def depth_radii(first, second, x: torch.Tensor, s1: torch.Tensor, method: RadiusMethod,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """rho(d s2'/d s1) per sample, from the H x H matrix Q P (see the module docstring)."""
    lru = second.lru
    gamma = torch.exp(lru.gamma_log)

    def into_state(v):  # P v: how l2's LRU input moves its new state
        return torch.cat([gamma * (v @ lru.B_re), gamma * (v @ lru.B_im)], dim=-1)

    def sample(x_b, s_b):
        def lru_input(v):
            out, _ = first.step(x_b, (s_b + into_state(v),))
            return second._head(out)[1]
        return jacrev(lru_input)(torch.zeros(first.n, dtype=x_b.dtype, device=x_b.device))

    product = vmap(sample)(x, s1)
    return spectral_radius(product.detach(), method, generator=generator)


def pair_radii(model, pair: tuple[int, int], batch_size: int, method: RadiusMethod,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_t, a_l) for the blocks ``pair`` on Gaussian-noise inputs and states."""
    first, second = (model.layers[i] for i in pair)
    device = first.lru.lambda_nu.device
    n_in = first.n if first.adapter is None else first.adapter.in_features
    x = torch.randn(batch_size, n_in, generator=generator, device=device)
    s1 = torch.randn(batch_size, 4 * first.n, generator=generator, device=device)
    a_t = time_radius(first).detach().expand(batch_size)
    return a_t, depth_radii(first, second, x, s1, method, generator)


# --- the heuristics -----------------------------------------------------------------------------
@torch.no_grad()
def rescale(model, pair: tuple[int, int], a_t: torch.Tensor, a_l: torch.Tensor, goals: dict,
            max_change: float) -> tuple[float, float]:
    """Both blocks' lambda_nu by the time factor, the second's B and C by the depth factor."""
    low, high = 1 - max_change, 1 + max_change
    time_factor = float(np.clip((goals["time"] / a_t).mean().item(), low, high))
    depth_factor = float(np.clip((goals["depth"] / a_l).mean().item(), low, high))
    for block in (model.layers[i] for i in pair):
        block.lru.lambda_nu.mul_(time_factor)
    second = dict(model.layers[pair[1]].named_parameters())
    for name in B_AND_C:
        second[name].mul_(depth_factor)
    return time_factor, depth_factor


@torch.no_grad()
def shuffle_and_swap(model, pair: tuple[int, int], shuffle: bool, swap: bool,
                     generator: torch.Generator, halves: str = "copy") -> None:
    """Permute every parameter of both blocks; then mix the first halves: "copy" puts the
    second block's into the first (the reference), "swap" exchanges them."""
    if halves not in HALVES:
        raise ValueError(f"halves must be one of {HALVES}, got {halves!r}")
    first, second = (dict(model.layers[i].named_parameters()) for i in pair)
    for params in (first, second):
        if shuffle:
            for p in params.values():
                permute_entries(p.view(-1), generator)
    if not swap:
        return
    for name in sorted(set(first) & set(second)):  # an adapter exists in one block only
        if first[name].shape != second[name].shape:
            continue
        a, b = _keras_flat(first[name], name), _keras_flat(second[name], name)
        half = a.numel() // 2
        kept = a[:half].clone()
        a[:half] = b[:half]
        if halves == "swap":
            b[:half] = kept
        _set_from_keras_flat(first[name], a, name)
        _set_from_keras_flat(second[name], b, name)


def _keras_flat(param: torch.Tensor, name: str) -> torch.Tensor:
    """The parameter flattened in the order of the reference's Keras array (row-major): a
    Linear weight (out, in) is the transpose of Keras' Dense kernel (in, out), so its first
    half there is the first in/2 input rows (here a copy); other parameters as they are (a view)."""
    return param.T.reshape(-1) if name in KERAS_TRANSPOSED else param.view(-1)


def _set_from_keras_flat(param: torch.Tensor, flat: torch.Tensor, name: str) -> None:
    if name in KERAS_TRANSPOSED:
        param.copy_(flat.view(param.shape[1], param.shape[0]).T)


# --- the run ----------------------------------------------------------------------------------
def measure(model, settings: LRULSCSettings, seed: int, device) -> dict[str, float]:
    """Mean radii over ``measure_iterations`` fixed draws (the same before and after)."""
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    rng = np.random.default_rng(seed + 1)
    times, depths = [], []
    for _ in range(settings.measure_iterations):
        pair = tuple(int(i) for i in rng.choice(len(model.layers), 2, replace=False))
        a_t, a_l = pair_radii(model, pair, settings.batch_size, settings.radius_method, generator)
        times.append(a_t.mean().item())
        depths.append(a_l.mean().item())
    return {"time": float(np.mean(times)), "depth": float(np.mean(depths)),
            "std": float(np.std([*times, *depths]))}


class LRULSC(LSCProcedure):
    """One pre-training: the iterations, their record, checkpoints (every
    ``checkpoint_every`` iterations)."""

    NAME = "LRU LSC"
    RESUMED = "LRU LSC: resumed from checkpoint after iteration {}"
    RESUMED_FIELD = "resumed_from_step"
    STATE_FIELDS = ("result",)

    def __init__(self, model, settings: LRULSCSettings, goals: dict, seed: int, device, log):
        super().__init__(model, settings, seed, device, log, settings.iterations)
        self.goals = goals
        self.result = LRULSCResult(targets=dict(goals))

    def _report(self, when: str) -> None:
        radii = measure(self.model, self.settings, self.seed, self.device)
        per_kind = {"time": radii["time"], "depth": radii["depth"]}
        self.set_radii(when, (radii["time"] + radii["depth"]) / 2, radii["std"], per_kind)
        self.log(f"LRU LSC {when}: M_t radius {radii['time']:.4f} (target {self.goals['time']:.4g}), "
                 f"M_l radius {radii['depth']:.4f} (target {self.goals['depth']:.4g})")

    def measure_before(self) -> None:
        self._report("before")

    def units_done(self) -> int:
        return self.result.steps

    def run_unit(self) -> None:
        if not self.iterate():
            self.log(f"LRU LSC iteration {self.result.steps}: a radius is not finite; stopping (diverged)")
            self.result.status = "diverged"

    def checkpoint_due(self) -> bool:
        return self.result.status != "diverged" and self.result.steps % self.settings.checkpoint_every == 0

    def unit_done(self, saved: bool) -> None:
        if saved:
            self.log(f"LRU LSC iteration {self.result.steps}: checkpoint saved")

    def iterate(self) -> bool:
        """One iteration; False when the radii are not finite (diverged)."""
        s = self.settings
        pair = tuple(int(i) for i in self.rng.choice(len(self.model.layers), 2, replace=False))
        a_t, a_l = pair_radii(self.model, pair, s.batch_size, s.radius_method, self.generator)
        finite = torch.isfinite(a_t).all() & torch.isfinite(a_l).all()
        loss = ((a_t - self.goals["time"]) ** 2).mean() + ((a_l - self.goals["depth"]) ** 2).mean()
        # the iteration's one host read (besides rescale's factors): the stop and the record
        finite, loss, radius = torch.stack([finite.to(loss.dtype), loss, ((a_t + a_l) / 2).mean()]).tolist()
        if not finite:
            return False
        if s.rescale:
            rescale(self.model, pair, a_t, a_l, self.goals, s.max_change)
        if s.shuffle or s.swap_halves:
            shuffle_and_swap(self.model, pair, s.shuffle, s.swap_halves, self.generator, s.halves)
        tc = 2 * len(self.model.layers)  # the reference's moving-average time constant
        ma = self.result.moving_average_radius
        self.result.moving_average_radius = radius if ma is None else ma * (tc - 1) / tc + radius / tc
        self.record_step(loss, radius, loss=loss, radius=radius)
        return True

    def converged(self) -> bool:
        after = self.result.radius_after_per_kind
        return all(abs(after[kind] - goal) <= self.settings.tolerance for kind, goal in self.goals.items())

    def conclude(self) -> None:
        """No selection: the weights are those after the last iteration."""
        self._report("after")
        if self.result.status != "diverged":
            self.result.status = "converged" if self.converged() else "not_converged"
        if self.settings.reinit_embedding:
            self.model.reinitialise_embedding(torch.Generator().manual_seed(self.seed + 2))
        self.log(f"LRU LSC {self.result.status} after {self.result.steps} iterations")


def pretrain_lru(model, task, settings: LRULSCSettings, seed: int, device, checkpoint: Path | None = None,
                 fingerprint: str = "", log=print) -> LRULSCResult:
    """The reference's lruLSC on ``model`` (a ResLRUNet of >= 2 blocks), in place."""
    if len(model.layers) < 2:
        raise ValueError(f"the LRU LSC picks two blocks per iteration; the model has {len(model.layers)}")
    goals = targets(settings, len(model.layers), task.dims["steps"])
    run = LRULSC(model.eval(), settings, goals, seed, device, log)
    return drive(run, settings.iterations, checkpoint, fingerprint, log)


# --- what lscrepro/cost asks of this procedure (lscrepro.catalog.procedures) -------------------
def cost_step(model, settings: LRULSCSettings, inputs, generator: torch.Generator, timer) -> dict:
    """``timer(call)`` (its seconds, or FLOPs) of one iteration as ``lsc_step_s`` (the radii
    of a block pair, rescale, shuffle and halves) and of one measurement draw (a pair's radii)
    as ``pair_s``. The inputs are noise of the blocks' widths: ``inputs`` is not used."""
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


def step_bound(settings: LRULSCSettings, dims: dict, sizes: dict, timed: dict) -> tuple[int, float]:
    """The run's steps (``iterations``: no stop rule ends it early) and the seconds of the
    before and after measurements, ``measure_iterations`` pairs each."""
    return settings.iterations, 2 * settings.measure_iterations * timed["pair_s"]
