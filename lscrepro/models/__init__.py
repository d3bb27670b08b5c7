"""Networks, each built from a config mapping and the task's sizes (``dims``)."""

from __future__ import annotations

from typing import Callable

from torch import nn

from . import dense, rnn
from .dense import ACTIVATIONS, INITIALIZATIONS, DenseStack, keras_truncated_normal_

MODELS: dict[str, Callable[[dict, dict, int], nn.Module]] = {
    "dense": dense.build,
    "rnn": rnn.build,
}


def register_model(name: str, builder: Callable[[dict, dict, int], nn.Module]) -> None:
    MODELS[name] = builder


def build_model(config: dict, dims: dict, seed: int) -> nn.Module:
    """The model named by ``config["name"]``; it must expose ``lsc_sites()`` to be pre-trained."""
    if config["name"] not in MODELS:
        raise ValueError(f"unknown model {config['name']!r}; registered models: {', '.join(sorted(MODELS))}")
    return MODELS[config["name"]](config, dims, seed)


__all__ = ["ACTIVATIONS", "INITIALIZATIONS", "MODELS", "DenseStack", "build_model",
           "keras_truncated_normal_", "register_model"]
