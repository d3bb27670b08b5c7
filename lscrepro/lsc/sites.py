"""An LSC site: one local Jacobian a model exposes to LSC pre-training.

The LSC loop knows nothing else about a model: a site says which inputs it takes, the
per-sample function whose Jacobian is pre-trained, the parameters that function depends
on (its optimiser updates only these), how to rescale them towards a target radius,
and which weights the shuffle heuristic permutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class LSCSite:
    name: str
    # network input batch -> this site's input batch (computed without gradient)
    inputs: Callable[[torch.Tensor], torch.Tensor]
    # one sample's site input -> its output; the Jacobian of this is pre-trained
    function: Callable[[torch.Tensor], torch.Tensor]
    params: tuple[torch.nn.Parameter, ...]
    # (measured radius, target) -> factor the hook multiplied the site's weights by
    rescale: Callable[[float, float], float]
    # the weights the shuffle heuristic permutes (entries of each, independently)
    shuffled: tuple[torch.Tensor, ...]
    # core sites enter the reported mean; the others (e.g. non-square input and readout
    # Jacobians) are pre-trained only when the settings ask for every site
    core: bool = True
