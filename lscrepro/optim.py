"""The optimiser of the reference: AdaBelief wrapped in Lookahead (pytorch-optimizer)."""

from __future__ import annotations

from typing import Iterable

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
