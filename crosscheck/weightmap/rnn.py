"""Keras <-> port weight map of the Figure-3 networks (numpy only; torch only in ``load_into``).

Keras side: the variables that the reference's layers create at era "fig3"
(stable_spike@67f1ce7 ``neural_models/full_model.py`` ``Expert`` and ``lsnn.py``), keyed by
their short name (the last part of the TF variable name, without ``:0``):

=========== ============================================ =========================================
cell        Keras variables (shape)                      port parameters of the layer (shape)
=========== ============================================ =========================================
LSTM        kernel (I, 4n), recurrent_kernel (n, 4n),    fused.weight_ih_l0 (4n, I), weight_hh_l0
            bias (4n,); gates i, f, c, o                 (4n, n), bias_ih_l0, bias_hh_l0 (4n,);
                                                         gates i, f, g, o (same order)
GRU         kernel (I, 3n), recurrent_kernel (n, 3n),    fused.weight_ih_l0 (3n, I), weight_hh_l0
            bias (2, 3n) = [input bias; recurrent        (3n, n), bias_ih_l0 (= bias[0]),
            bias] (reset_after=True); gates z, r, h      bias_hh_l0 (= bias[1]); gates r, z, n
rsimplernn, kernel (I, n), recurrent_kernel (n, n),      the same names and layouts (x @ kernel)
ssimplernn  bias (n,)
maLSNN,     input_weights (I, n), recurrent_weights      the same names and layouts
maLSNNb     (n, n), tau, tau_adaptation, thr, beta (n,)
=========== ============================================ =========================================

Keras' LSTM has one bias, PyTorch's two (summed): Keras -> port puts it all in ``bias_ih_l0``
and zeroes ``bias_hh_l0`` (as the port's own initialisation does); port -> Keras sums them.
The GRU's two biases are Keras' two rows. Whole networks (``DeepRNN``): layer i's parameters
carry the prefix ``layers.{i}.``; the embedding ``embeddings`` (V, D) is the port's
``embedding`` (V, D); the Dense readout ``decoder`` kernel (n, C) and bias (C,) are the port's
``dense_readout.weight`` (C, n) and ``dense_readout.bias``.
"""

from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np

CELLS = ("LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb")

# the gate blocks along the Keras kernel's columns and along PyTorch's weight rows
KERAS_GATES = {"LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h")}
TORCH_GATES = {"LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
# PyTorch block j holds Keras block TORCH_FROM_KERAS[cell][j]
TORCH_FROM_KERAS = {"LSTM": (0, 1, 2, 3), "GRU": (1, 0, 2)}

ALIF_NAMES = ("input_weights", "recurrent_weights", "tau", "tau_adaptation", "thr", "beta")
SIMPLE_NAMES = ("kernel", "recurrent_kernel", "bias")
FUSED_NAMES = ("fused.weight_ih_l0", "fused.weight_hh_l0", "fused.bias_ih_l0", "fused.bias_hh_l0")
KERAS_NAMES = {"LSTM": SIMPLE_NAMES, "GRU": SIMPLE_NAMES, "rsimplernn": SIMPLE_NAMES,
               "ssimplernn": SIMPLE_NAMES, "maLSNN": ALIF_NAMES, "maLSNNb": ALIF_NAMES}
PORT_NAMES = {"LSTM": FUSED_NAMES, "GRU": FUSED_NAMES, "rsimplernn": SIMPLE_NAMES,
              "ssimplernn": SIMPLE_NAMES, "maLSNN": ALIF_NAMES, "maLSNNb": ALIF_NAMES}


def _check_cell(cell: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; the map knows {', '.join(CELLS)}")


def _check_names(what: str, cell: str, given: Mapping, expected: Sequence[str]) -> None:
    if set(given) != set(expected):
        raise KeyError(f"{cell} {what} needs exactly {sorted(expected)}, got {sorted(given)}")


def short_name(variable_name: str) -> str:
    """'encoder_0_0/lstm_cell/kernel:0' -> 'kernel'."""
    return variable_name.split("/")[-1].split(":")[0]


def keras_kernel_to_torch(kernel: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Keras (I, k*n) gate kernel -> PyTorch (k*n, I) weight, blocks reordered."""
    n = kernel.shape[1] // len(order)
    return np.concatenate([kernel[:, g * n:(g + 1) * n] for g in order], axis=1).T.copy()


def torch_weight_to_keras(weight: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """The inverse of :func:`keras_kernel_to_torch`."""
    n = weight.shape[0] // len(order)
    blocks = {keras: weight[j * n:(j + 1) * n] for j, keras in enumerate(order)}
    return np.concatenate([blocks[g] for g in range(len(order))], axis=0).T.copy()


def _vector_to_torch(bias: np.ndarray, order: Sequence[int]) -> np.ndarray:
    return keras_kernel_to_torch(bias[None, :], order)[:, 0]


def _vector_to_keras(bias: np.ndarray, order: Sequence[int]) -> np.ndarray:
    return torch_weight_to_keras(bias[:, None], order)[0]


def keras_to_port(cell: str, keras: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One layer's Keras variables (short names) -> the port layer's parameters."""
    _check_cell(cell)
    keras = {short_name(k): np.asarray(v) for k, v in keras.items()}
    _check_names("Keras weights", cell, keras, KERAS_NAMES[cell])
    if cell not in TORCH_FROM_KERAS:  # simple RNNs and ALIF: same names, same layouts
        return {k: v.copy() for k, v in keras.items()}
    order = TORCH_FROM_KERAS[cell]
    kernel, recurrent, bias = keras["kernel"], keras["recurrent_kernel"], keras["bias"]
    if bias.ndim == 2:  # GRU reset_after: rows are the input and the recurrent bias
        bias_ih, bias_hh = _vector_to_torch(bias[0], order), _vector_to_torch(bias[1], order)
    else:  # LSTM: one bias, all on the input side
        bias_ih = _vector_to_torch(bias, order)
        bias_hh = np.zeros_like(bias_ih)
    return {"fused.weight_ih_l0": keras_kernel_to_torch(kernel, order),
            "fused.weight_hh_l0": keras_kernel_to_torch(recurrent, order),
            "fused.bias_ih_l0": bias_ih, "fused.bias_hh_l0": bias_hh}


def port_to_keras(cell: str, port: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One port layer's parameters -> the Keras layer's variables (short names)."""
    _check_cell(cell)
    port = {k: np.asarray(v) for k, v in port.items()}
    _check_names("port parameters", cell, port, PORT_NAMES[cell])
    if cell not in TORCH_FROM_KERAS:
        return {k: v.copy() for k, v in port.items()}
    order = TORCH_FROM_KERAS[cell]
    bias_ih, bias_hh = port["fused.bias_ih_l0"], port["fused.bias_hh_l0"]
    if cell == "GRU":
        bias = np.stack([_vector_to_keras(bias_ih, order), _vector_to_keras(bias_hh, order)])
    else:  # PyTorch adds its two LSTM biases: Keras' one bias is their sum
        bias = _vector_to_keras(bias_ih + bias_hh, order)
    return {"kernel": torch_weight_to_keras(port["fused.weight_ih_l0"], order),
            "recurrent_kernel": torch_weight_to_keras(port["fused.weight_hh_l0"], order),
            "bias": bias}


def port_grads_to_keras(cell: str, grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gradients of the port layer's parameters -> gradients of the Keras variables. As
    :func:`port_to_keras` but for the LSTM's bias: Keras' b = bias_ih + bias_hh, so dL/db is
    dL/dbias_ih, not their sum (the port's bias_hh is frozen at zero and has no gradient)."""
    if cell != "LSTM":
        return port_to_keras(cell, grads)
    grads = dict(grads)
    grads["fused.bias_hh_l0"] = np.zeros_like(np.asarray(grads["fused.bias_ih_l0"]))
    return port_to_keras(cell, grads)


def model_keras_to_port(cell: str, layers: Sequence[Mapping[str, np.ndarray]],
                        embedding: np.ndarray | None = None,
                        readout: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """A whole DeepRNN: per-layer Keras dicts, the embedding (V, D) of a language task, the
    Dense readout {'kernel', 'bias'} of any other -> the port model's state names."""
    out = {}
    for i, layer in enumerate(layers):
        out.update({f"layers.{i}.{k}": v for k, v in keras_to_port(cell, layer).items()})
    if embedding is not None:
        out["embedding"] = np.asarray(embedding).copy()
    if readout is not None:
        readout = {short_name(k): np.asarray(v) for k, v in readout.items()}
        out["dense_readout.weight"] = readout["kernel"].T.copy()
        out["dense_readout.bias"] = readout["bias"].copy()
    return out


def model_port_to_keras(cell: str, port: Mapping[str, np.ndarray]) -> dict:
    """The inverse of :func:`model_keras_to_port`: {'layers': [...], 'embedding', 'readout'}."""
    layers: dict[int, dict] = {}
    for name, value in port.items():
        match = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
        if match:
            layers.setdefault(int(match.group(1)), {})[match.group(2)] = value
    readout = None
    if "dense_readout.weight" in port:
        readout = {"kernel": np.asarray(port["dense_readout.weight"]).T.copy(),
                   "bias": np.asarray(port["dense_readout.bias"]).copy()}
    return {"layers": [port_to_keras(cell, layers[i]) for i in sorted(layers)],
            "embedding": None if "embedding" not in port else np.asarray(port["embedding"]).copy(),
            "readout": readout}


def keras_model_weights(model) -> dict[str, np.ndarray]:
    """A Keras model's weights as {'<layer name>/<short name>': array}, e.g.
    'encoder_0_0/kernel', 'learned_None_None_12/embeddings', 'decoder/bias' (duck-typed: reads
    ``model.layers`` and each layer's ``weights``; no TensorFlow import here)."""
    return {f"{layer.name}/{short_name(w.name)}": np.asarray(w.numpy())
            for layer in model.layers for w in layer.weights}


def split_keras_model(named: Mapping[str, np.ndarray]) -> dict:
    """A reference model's weights -> {'layers': [per-layer dict of short names], 'embedding',
    'readout'}. Names either as :func:`keras_model_weights` gives them (layer i is the RNN the
    reference names ``encoder_{i}_0``) or as TF names them in ``model.weights`` order
    ('embeddings:0', 'gru_cell_1/kernel:0', ..., 'decoder/kernel:0'), where the layers are the
    cell scopes in their order of first appearance (the model's layer order)."""
    by_index: dict[int, dict] = {}
    by_scope: dict[str, dict] = {}
    embedding, readout = None, None
    for name, value in named.items():
        scope, short = name.rsplit("/", 1)[0] if "/" in name else "", short_name(name)
        encoder = re.search(r"encoder_(\d+)_\d+", name)
        if short == "embeddings" or "SymbolEmbedding" in name:
            embedding = np.asarray(value)
        elif scope.split("/")[-1] == "decoder":
            readout = dict(readout or {}, **{short: np.asarray(value)})
        elif encoder:
            by_index.setdefault(int(encoder.group(1)), {})[short] = np.asarray(value)
        else:
            by_scope.setdefault(scope, {})[short] = np.asarray(value)
    if by_index and by_scope:
        raise ValueError(f"mixed weight naming: encoder layers {sorted(by_index)} and scopes {list(by_scope)}")
    layers = [by_index[i] for i in sorted(by_index)] if by_index else list(by_scope.values())
    return {"layers": layers, "embedding": embedding, "readout": readout}


def port_parameters(module) -> dict[str, np.ndarray]:
    """A port module's parameters as numpy arrays (names as ``named_parameters`` gives them)."""
    return {name: p.detach().cpu().numpy().copy() for name, p in module.named_parameters()}


def load_into(module, params: Mapping[str, np.ndarray], strict: bool = True):
    """Copy mapped arrays into a port module (layer or model) by parameter name; ``strict``:
    every parameter of the module must be given, and nothing else. Returns the module."""
    import torch  # only here: the map itself stays numpy-only

    named = dict(module.named_parameters())
    unknown = sorted(set(params) - set(named))
    missing = sorted(set(named) - set(params))
    if unknown or (strict and missing):
        raise KeyError(f"load_into {type(module).__name__}: unknown {unknown}, missing {missing}")
    with torch.no_grad():
        for name, value in params.items():
            target = named[name]
            value = torch.as_tensor(np.asarray(value), dtype=target.dtype)
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(f"{name}: shape {tuple(value.shape)} given, the port has {tuple(target.shape)}")
            target.copy_(value)
    return module
