"""Keras <-> port weight map of Figure 2's dense stack (numpy only).

Keras side: stable_drnn@4b667ae ``ffnandcnns.py`` ``build_ffn``: an Input, then ``layers`` x
(Dense(width), Activation), then Dense(classes). ``model.get_weights()`` lists
[kernel_0, bias_0, ..., kernel_L, bias_L]; the Dense layers are named ``dense``, ``dense_1``,
... ``dense_L`` in a fresh Keras session (variables ``dense_3/kernel:0``, ``dense_3/bias:0``).

Port side: ``lscrepro.models.dense.DenseStack``: ``hidden.{k}`` for k < L and ``readout`` for
k = L. A Keras kernel is (in, out), PyTorch's ``weight`` (out, in): the map transposes it;
biases are the same vectors.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

_KERAS_VARIABLE = re.compile(r"^dense(?:_(\d+))?/(kernel|bias)(?::0)?$")


def port_prefix(index: int, depth: int) -> str:
    """The port's module for the ``index``-th Dense layer (0-based) of a depth-``depth`` stack."""
    if not 0 <= index <= depth:
        raise ValueError(f"Dense layer {index} out of range for depth {depth}")
    return "readout" if index == depth else f"hidden.{index}"


def keras_variable_to_port(name: str, depth: int) -> tuple[str, bool]:
    """``'dense_3/kernel:0'`` -> (``'hidden.3.weight'``, True): the port's parameter and
    whether the array must be transposed."""
    match = _KERAS_VARIABLE.match(name)
    if not match:
        raise ValueError(f"not a Dense variable of build_ffn: {name!r}")
    index = int(match.group(1) or 0)
    kind = match.group(2)
    return f"{port_prefix(index, depth)}.{'weight' if kind == 'kernel' else 'bias'}", kind == "kernel"


def keras_to_port(weights: Sequence[np.ndarray], depth: int) -> dict[str, np.ndarray]:
    """``model.get_weights()`` of build_ffn -> a DenseStack state dict (numpy arrays)."""
    if len(weights) != 2 * (depth + 1):
        raise ValueError(f"expected {2 * (depth + 1)} arrays (kernel, bias per Dense), got {len(weights)}")
    state = {}
    for index in range(depth + 1):
        kernel, bias = weights[2 * index], weights[2 * index + 1]
        prefix = port_prefix(index, depth)
        state[f"{prefix}.weight"] = np.ascontiguousarray(np.asarray(kernel).T)
        state[f"{prefix}.bias"] = np.asarray(bias).copy()
    return state


def port_to_keras(state: Mapping[str, np.ndarray], depth: int) -> list[np.ndarray]:
    """A DenseStack state dict -> the list ``model.set_weights`` of build_ffn takes."""
    weights = []
    for index in range(depth + 1):
        prefix = port_prefix(index, depth)
        weights += [np.ascontiguousarray(np.asarray(state[f"{prefix}.weight"]).T),
                    np.asarray(state[f"{prefix}.bias"]).copy()]
    return weights


def load_into(model, state: Mapping[str, np.ndarray]) -> None:
    """Copy a mapped state dict into a DenseStack (imports torch only here)."""
    import torch

    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()}, strict=True)
