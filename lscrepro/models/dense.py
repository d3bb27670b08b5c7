"""The dense stack of Figure 2 (30 hidden layers of width 128 in the paper)."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

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

    Block ``i`` maps h_i to h_{i+1}; block ``depth`` is the readout. LSC pre-training
    works on one block at a time, so blocks are addressable by index.
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
