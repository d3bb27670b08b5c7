"""The reference's LSC algorithm (stable_drnn nonrecLSC.apply_LSC_no_time), for a
side-by-side check in the same pipeline (``lsc.mode: reference``). Where the default
loop (loop.LSCRun) departs from it, these rules do what the reference does (loop.py
mixes them into its run class as ``ReferenceRun``, its ``MODES["reference"]``; this
module imports nothing of loop.py):

- every site, end blocks included (their kernels rescaled by std * sqrt(fan)), drawn
  uniformly with replacement at each step; for a dense stack the reference's 2L + 1 pairs of
  Keras layers (``DenseStack.reference_lsc_sites``: the L + 1 Dense + activation blocks, and
  the L activation -> Dense sites between them);
- the shuffle permutes every weight of the net (kernels and biases), unconditionally;
- the weights kept and the stop rule follow a moving average of the per-step radius
  (window = number of Dense layers, the reference's ema_t) and a moving average of its
  squared error (from 1):
  a candidate replaces the best when |ma - target| < |best - target| and that error
  average is under 0.4 (0.1 after two saves); after 30 steps without one the best
  weights come back; the run stops once both hold within ``tolerance`` for more than
  ``patience`` consecutive steps;
- a wall-clock cap of 1800 s unless ``max_seconds`` says otherwise.

What stays ours (docs/deviations.md): the optimiser state persists across steps and per site,
and the before/after radii are measured on validation inputs.
"""

from __future__ import annotations

import torch

from ..optim import resync_slow_weights
from .driver import permute_entries

REFERENCE_MAX_SECONDS = 1800.0
STD_THRESHOLDS = (0.4, 0.1)  # the error-average bound before and after two saves
RELOAD_AFTER = 30  # steps without a new best before the best weights come back


class ReferenceRules:
    """The reference's choices, over loop.LSCRun's (a mixin: ``ReferenceRun(ReferenceRules,
    LSCRun)``); its STATE_FIELDS add to the run's in a checkpoint."""

    STATE_FIELDS = ("ma_error", "saves", "reference_best")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ma_error, self.saves, self.reference_best = 1.0, 0, None
        if hasattr(self.model, "reference_lsc_sites"):  # the reference's pairs of a dense stack
            self.sites = self.model.reference_lsc_sites()
            self.active = list(range(len(self.sites)))
        # sites that train the same weights share one optimiser: two would each keep a
        # Lookahead slow copy of the Dense, and one's sync would undo the other's steps
        first = {}
        self.owner = [first.setdefault(tuple(id(w) for w in site.params), i) for i, site in enumerate(self.sites)]

    def optimizer(self, index: int):
        return super().optimizer(self.owner[index])

    def all_sites(self) -> bool:
        return True

    def window(self) -> int:
        """The reference's ema_t: half its number of weight tensors, one per Dense layer of a
        dense stack (not one per site: its 2L + 1 sites share L + 1 kernels)."""
        return len(self.weights()) // 2

    def weights(self) -> list[torch.Tensor]:
        """Every parameter of the sites once (a Dense belongs to two of the reference's sites)."""
        unique = {}
        for site in self.sites:
            unique.update((id(weight), weight) for weight in site.params)
        return list(unique.values())

    def time_cap(self) -> float:
        return self.settings.max_seconds or REFERENCE_MAX_SECONDS

    def next_site(self) -> int:
        return int(self.rng.choice(self.active))

    def heuristics(self, index: int, h: torch.Tensor, radius: float) -> float:
        s = self.settings
        if s.shuffle and self.rng.random() < s.shuffle_probability:
            for weight in self.weights():
                permute_entries(weight.data.view(-1), self.generator)
            for optimizer in self.optimizers.values():
                resync_slow_weights(optimizer)
        if s.rescale and self.rng.random() < s.rescale_probability:
            radius *= self.sites[index].rescale(radius, s.target)
            resync_slow_weights(self.optimizer(index))
        return radius

    def select_and_stop(self) -> None:
        s, target = self.settings, self.settings.target
        radius = self.result.radius_curve[-1]
        window = self.window()
        if self.result.steps == 1:
            self.ma_radius = radius
        self.ma_error += ((radius - target) ** 2 - self.ma_error) / window
        threshold = STD_THRESHOLDS[self.saves >= 2]
        best = self.reference_best if self.reference_best is not None else radius
        if abs(self.ma_radius - target) < abs(best - target) and self.ma_error < threshold:
            self.reference_best, self.saves, self.since_best = self.ma_radius, self.saves + 1, 0
            self.keep_best(distance=abs(self.ma_radius - target), estimate=dict(self.estimate))
        elif self.reference_best is None:
            self.reference_best = radius
        self.since_best += 1
        if self.since_best > RELOAD_AFTER:
            self.restore_best()
            self.since_best = 0
        close = abs(self.ma_radius - target) < s.tolerance and self.ma_error < threshold
        self.close_steps = self.close_steps + 1 if close else 0
        if self.close_steps > s.patience:
            self.result.status = "converged"
