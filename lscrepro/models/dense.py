"""The dense stack of Figure 2 (30 hidden layers of width 128 in the paper)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..lsc.sites import LSCSite

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "relu": torch.relu,
}
INITIALIZATIONS = ("glorot_normal", "he_normal")

# Keras draws "normal" initialisers from a normal truncated at 2 std and divides the
# std by this constant so the truncated draw keeps the intended variance.
_TRUNCATION_STD_CORRECTION = 0.87962566103423978


def keras_truncated_normal_(weight: torch.Tensor, scheme: str, generator: torch.Generator) -> None:
    """Fill a (out, in) weight as Keras' glorot_normal or he_normal would."""
    fan_out, fan_in = weight.shape
    if scheme == "glorot_normal":
        variance = 2.0 / (fan_in + fan_out)
    elif scheme == "he_normal":
        variance = 2.0 / fan_in
    else:
        raise ValueError(f"unknown initialization {scheme!r}; choose one of {INITIALIZATIONS}")
    std = math.sqrt(variance) / _TRUNCATION_STD_CORRECTION
    with torch.no_grad():
        nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std, generator=generator)


class DenseStack(nn.Module):
    """``depth`` Dense+activation blocks, then a linear readout to logits.

    Block ``i`` maps h_i to h_{i+1}; block ``depth`` is the readout. Each block is an
    LSC site; the hidden-to-hidden ones (square Jacobians) are the core sites.
    """

    def __init__(self, in_features: int, width: int, depth: int, num_classes: int,
                 activation: str, initialization: str = "glorot_normal", seed: int = 0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.activation_name = activation
        self.activation = ACTIVATIONS[activation]
        self.depth = depth
        sizes = [in_features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(width, num_classes)
        generator = torch.Generator().manual_seed(seed)
        for layer in [*self.hidden, self.readout]:
            keras_truncated_normal_(layer.weight, initialization, generator)
            nn.init.zeros_(layer.bias)

    @property
    def n_blocks(self) -> int:
        return self.depth + 1

    def layer(self, index: int) -> nn.Linear:
        return self.readout if index == self.depth else self.hidden[index]

    def block(self, index: int, h: torch.Tensor) -> torch.Tensor:
        out = self.layer(index)(h)
        return out if index == self.depth else self.activation(out)

    def block_input(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """h_index: the input of block ``index`` for network input x."""
        for i in range(index):
            x = self.block(i, x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_input(self.n_blocks, x)

    def lsc_sites(self) -> list[LSCSite]:
        return [self._site(i) for i in range(self.n_blocks)]

    def reference_lsc_sites(self) -> list[LSCSite]:
        """The reference's 2L + 1 picks (nonrecLSC with ``nlayerjump=2``): in Keras' layer list
        (Input, Dense, Activation, ..., Dense) it draws pairs[0] = p in 0..2L and pre-trains layers
        p + 1 and p + 2. Even p: a Dense + activation block (the readout alone at p = 2L); odd p:
        an activation, then the next Dense, from that Dense's pre-activation input."""
        blocks = [self._site(i) for i in range(self.n_blocks)]
        return blocks + [self._between_site(i) for i in range(1, self.n_blocks)]

    def pre_activation(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """z: block ``index``'s Dense output before its activation, for network input x."""
        return self.layer(index)(self.block_input(index, x))

    def _between_site(self, index: int) -> LSCSite:
        """Block ``index - 1``'s activation, then Dense ``index`` (no activation after it):
        its Jacobian W_index diag(act'(z_{index-1})). Its rescale is block ``index``'s."""
        layer = self.layer(index)
        return LSCSite(
            name=f"between{index}",
            inputs=lambda x: self.pre_activation(index - 1, x),
            function=lambda z: layer(self.activation(z)),
            params=(layer.weight, layer.bias),
            rescale=lambda radius, target: self._rescale(index, radius, target),
            shuffled=(layer.weight,),
            core=False,
        )

    def _site(self, index: int) -> LSCSite:
        layer = self.layer(index)
        return LSCSite(
            name=f"block{index}",
            inputs=lambda x: self.block_input(index, x),
            function=lambda h: self.block(index, h),
            params=(layer.weight, layer.bias),
            rescale=lambda radius, target: self._rescale(index, radius, target),
            shuffled=(layer.weight,),
            core=0 < index < self.depth or self.depth == 1,
        )

    @torch.no_grad()
    def _rescale(self, index: int, radius: float, target: float) -> float:
        """The reference's multiplier: the first and last kernels are measured by
        std * sqrt(fan), hidden ones by the radius; the factor is clipped."""
        weight = self.layer(index).weight
        if index == 0:
            local = weight.std().item() * weight.shape[0] ** 0.5
        elif index == self.depth:
            local = weight.std().item() * weight.shape[1] ** 0.5
        else:
            local = radius
        if not local > 0:
            return 1.0  # a dead block (every ReLU off) cannot be revived by scaling its kernel
        factor = float(np.clip(target / local, 0.85, 3.0 if local < 0.5 else 1.15))
        weight.mul_(factor)
        bias = self.layer(index).bias
        # cos'(0) = 0 kills the Jacobian of a block whose pre-activations sit at zero, so
        # the reference replaces an all-zero bias of a cos net by U[0, 1) draws.
        if self.activation_name == "cos" and bool((bias == 0).all()):
            bias.uniform_(0.0, 1.0)
        return factor


def build(config: dict, dims: dict, seed: int) -> DenseStack:
    """From the model config (depth, width, activation, init) and the task's sizes."""
    return DenseStack(dims["in_features"], config["width"], config["depth"], dims["num_classes"],
                      config["activation"], config.get("init", "glorot_normal"), seed=seed)
