"""The optimiser of the reference: AdaBelief wrapped in Lookahead (pytorch-optimizer)."""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from pytorch_optimizer import AdaBelief, Lookahead


def adabelief_lookahead(params: Iterable[torch.Tensor], lr: float, weight_decay: float = 1e-4,
                        sync_period: int = 6, slow_step: float = 0.5) -> Lookahead:
    """AdaBelief (decoupled decay, RAdam-style rectification and eps=1e-14 as in
    tensorflow-addons, which the reference used) inside Lookahead(k=6, alpha=0.5)."""
    inner = AdaBelief(params, lr=lr, weight_decay=weight_decay, weight_decouple=True,
                      rectify=True, eps=1e-14)
    return Lookahead(inner, k=sync_period, alpha=slow_step)


@torch.no_grad()
def resync_slow_weights(optimizer: Lookahead) -> None:
    """Make Lookahead's slow copies equal the current weights.

    Lookahead pulls the weights half-way back to its slow copies at each sync; after an
    edit made outside the optimiser (an LSC rescale or shuffle) the old slow copies would
    undo half of that edit at the next sync."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state[p]
            if "slow_params" in state:
                state["slow_params"].copy_(p)


# "constant": the learning rate as given (Figures 2-4: the reference's lr_schedule='');
# "cosine_no_restarts": Table 1's (module docstring of learning_rate_schedule)
LR_SCHEDULES = ("constant", "cosine_no_restarts")


def learning_rate_schedule(name: str, lr: float, total_steps: int | None) -> Callable[[int], float]:
    """The learning rate of optimiser step ``step`` (0-based), as the reference's
    py-aromatics ``optimizer_selection.get_optimizer`` schedules it.

    ``cosine_no_restarts`` (Table 1's grid): Keras' ``CosineDecay(lr, decay_steps, alpha=0.1)``
    with decay_steps = max(int(total_steps / 6.5), 2), total_steps = epochs x steps per epoch
    (stable_spike ``full_model.py``): half a cosine from lr down to 0.1 lr over decay_steps,
    then 0.1 lr to the end (Keras clips the step at decay_steps)."""
    if name not in LR_SCHEDULES:
        raise ValueError(f"train.lr_schedule must be one of {LR_SCHEDULES}, got {name!r}")
    if name == "constant":
        return lambda step: lr
    if not total_steps or total_steps < 1:
        raise ValueError(f"lr_schedule {name!r} needs the run's total steps (epochs x steps per epoch), "
                         f"got {total_steps!r}")
    decay_steps = max(int(total_steps / 6.5), 2)
    alpha = 0.1

    def cosine(step: int) -> float:
        done = min(step, decay_steps) / decay_steps
        return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * done)) + alpha)

    return cosine


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The rate of the next step. Lookahead's param_groups are its inner optimiser's, so this
    reaches AdaBelief (whose decoupled weight decay scales with it, as tensorflow-addons')."""
    for group in optimizer.param_groups:
        group["lr"] = lr
