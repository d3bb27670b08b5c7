"""Keras <-> port weight map of the ResLRU block (numpy only; torch only in ``load_into``).

Keras side: pyaromatics@61c9b10 ``keras_tools/esoteric_layers/linear_recurrent_unit.py``,
``ResLRUFFN`` (the ``reslruffn`` block of Figures 4 and Table 1) and ``ResLRUCell`` (the cell
that ``lruLSC`` pre-trains; ``equivalence_and_save`` copies its weights into ``ResLRUFFN``s
by position). Both hold the same variables in the same ``get_weights()`` order. Their short
names repeat (``kernel``, ``bias`` three times), so the map is by *position*; the attribute
path pins each position to the sub-layer that owns it (a generator can assert
``layer.weights[i] is <path>``). The port: ``lscrepro.models.lru.ResLRUBlock``.

== ============ ===================== ============================== ================= =========
#  Keras name   Keras attribute       Keras shape                    port parameter    layout
== ============ ===================== ============================== ================= =========
0  C_re         lru.C_re              (2H, H)                        lru.C_re          same
1  B_re         lru.B_re              (H, 2H)                        lru.B_re          same
2  C_im         lru.C_im              (2H, H)                        lru.C_im          same
3  B_im         lru.B_im              (H, 2H)                        lru.B_im          same
4  D            lru.D                 (H,)                           lru.D             same
5  lambda_nu    lru.nu                (2H,)                          lru.lambda_nu     same
6  lambda_theta lru.theta             (2H,)                          lru.lambda_theta  same
7  gamma_log    lru.gamma_log         (2H,)                          lru.gamma_log     same
8  gamma        norm.gamma            (H,)  LayerNormalization scale norm.weight       same
9  beta         norm.beta             (H,)  LayerNormalization shift norm.bias         same
10 kernel       glu.w_1.kernel        (H, H)  gate (sigmoid) Dense   w_1.weight        transposed
11 bias         glu.w_1.bias          (H,)                           w_1.bias          same
12 kernel       glu.w_3.kernel        (H, H)  linear Dense           w_3.weight        transposed
13 bias         glu.w_3.bias          (H,)                           w_3.bias          same
14 kernel       adapter.kernel        (I, H)  only when I != H       adapter.weight    transposed
15 bias         adapter.bias          (H,)    only when I != H       adapter.bias      same
== ============ ===================== ============================== ================= =========

The block computes ``a = adapter(x)``, ``u = LayerNorm(a)``, ``x_t = lambda x_{t-1} +
gamma (u B)`` with ``lambda = exp(-exp(nu) + i theta)``, ``gamma = exp(gamma_log)``,
``B = B_re + i B_im``, ``C = C_re + i C_im``; ``y = Re(x C) + D u``; ``out = sigmoid(W1
gelu(y) + b1) * (W3 gelu(y) + b3) + a``. Keras' Dense computes ``x @ kernel``, PyTorch's
Linear ``x @ weight.T``: hence the transposes. The port stores the LRU matrices in Keras'
layout (``u @ B_re``, ``x_re @ C_re``), so they pass as they are.

Whole networks (``equivalence_and_save``'s ``ffn_model.get_weights()``): the Keras
``Embedding`` (V, H), each block's list in the order above, then (without ``embproj``) the
Dense readout kernel (H, C) and bias (C,). The port's ``ResLRUNet``: ``embedding`` (V, H),
``layers.{i}.<name>``, ``dense_readout.weight`` (C, H) and ``dense_readout.bias``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .rnn import load_into, port_parameters  # noqa: F401  (re-exported for the LRU tests)


@dataclass(frozen=True)
class Entry:
    keras_name: str  # the variable's short name ('.../C_re:0' -> 'C_re')
    keras_path: str  # the attribute path from the Keras block to the variable
    port_name: str  # the port block's parameter name
    transpose: bool  # Keras (in, out) kernel vs PyTorch (out, in) weight


BLOCK = (
    Entry("C_re", "lru.C_re", "lru.C_re", False),
    Entry("B_re", "lru.B_re", "lru.B_re", False),
    Entry("C_im", "lru.C_im", "lru.C_im", False),
    Entry("B_im", "lru.B_im", "lru.B_im", False),
    Entry("D", "lru.D", "lru.D", False),
    Entry("lambda_nu", "lru.nu", "lru.lambda_nu", False),
    Entry("lambda_theta", "lru.theta", "lru.lambda_theta", False),
    Entry("gamma_log", "lru.gamma_log", "lru.gamma_log", False),
    Entry("gamma", "norm.gamma", "norm.weight", False),
    Entry("beta", "norm.beta", "norm.bias", False),
    Entry("kernel", "glu.w_1.kernel", "w_1.weight", True),
    Entry("bias", "glu.w_1.bias", "w_1.bias", False),
    Entry("kernel", "glu.w_3.kernel", "w_3.weight", True),
    Entry("bias", "glu.w_3.bias", "w_3.bias", False),
)
ADAPTER = (
    Entry("kernel", "adapter.kernel", "adapter.weight", True),
    Entry("bias", "adapter.bias", "adapter.bias", False),
)


def entries(adapter: bool) -> tuple[Entry, ...]:
    """The block's entries in Keras' ``get_weights()`` order."""
    return BLOCK + ADAPTER if adapter else BLOCK


def short_name(variable_name: str) -> str:
    """'res_lruffn/lambda_nu:0' -> 'lambda_nu'."""
    return variable_name.split("/")[-1].split(":")[0]


def _layout(array, transpose: bool) -> np.ndarray:
    array = np.asarray(array)
    return array.T.copy() if transpose else array.copy()


def keras_to_port(weights: Sequence[np.ndarray], names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """One block's Keras ``get_weights()`` list (14 arrays, or 16 with the adapter) -> the
    port block's parameters. ``names`` (the variables' names, optional) are checked against
    the map, so a reordered list fails instead of loading weights into the wrong place."""
    if len(weights) not in (len(BLOCK), len(BLOCK) + len(ADAPTER)):
        raise ValueError(f"a ResLRU block has {len(BLOCK)} weights ({len(BLOCK) + len(ADAPTER)} with "
                         f"the adapter), got {len(weights)}")
    table = entries(len(weights) > len(BLOCK))
    if names is not None:
        given = [short_name(n) for n in names]
        expected = [e.keras_name for e in table]
        if given != expected:
            raise KeyError(f"Keras weight names {given} are not the map's order {expected}")
    return {e.port_name: _layout(w, e.transpose) for e, w in zip(table, weights)}


def port_to_keras(params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The inverse of :func:`keras_to_port`: the Keras ``get_weights()`` list."""
    table = entries("adapter.weight" in params)
    expected = {e.port_name for e in table}
    if set(params) != expected:
        raise KeyError(f"ResLRU block parameters must be exactly {sorted(expected)}, got {sorted(params)}")
    return [_layout(params[e.port_name], e.transpose) for e in table]


def model_keras_to_port(weights: Sequence[np.ndarray], depth: int, adapters: Sequence[bool] = (),
                        embedding: bool = True, readout: bool = True) -> dict[str, np.ndarray]:
    """A whole net's Keras list (``ffn_model.get_weights()``: [embedding] + blocks + [readout
    kernel, bias]) -> the port ``ResLRUNet``'s parameters. ``adapters[i]``: block i has one."""
    weights = list(weights)
    adapters = list(adapters) or [False] * depth
    out = {}
    if embedding:
        out["embedding"] = np.asarray(weights.pop(0)).copy()
    for i in range(depth):
        count = len(entries(adapters[i]))
        block, weights = weights[:count], weights[count:]
        out.update({f"layers.{i}.{k}": v for k, v in keras_to_port(block).items()})
    if readout:
        kernel, bias = weights[:2]
        weights = weights[2:]
        out["dense_readout.weight"], out["dense_readout.bias"] = _layout(kernel, True), _layout(bias, False)
    if weights:
        raise ValueError(f"{len(weights)} Keras weights left over after {depth} blocks")
    return out


def model_port_to_keras(params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The inverse of :func:`model_keras_to_port`."""
    blocks: dict[int, dict] = {}
    for name, value in params.items():
        match = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
        if match:
            blocks.setdefault(int(match.group(1)), {})[match.group(2)] = value
    out = [np.asarray(params["embedding"]).copy()] if "embedding" in params else []
    for i in sorted(blocks):
        out.extend(port_to_keras(blocks[i]))
    if "dense_readout.weight" in params:
        out += [_layout(params["dense_readout.weight"], True), _layout(params["dense_readout.bias"], False)]
    return out
