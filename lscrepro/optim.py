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
