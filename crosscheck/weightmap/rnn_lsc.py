"""The weight list of the reference's recLSC model <-> the port's DeepRNN (numpy only).

``apply_LSC`` moves weights as ``model.get_weights()`` lists, named by
``[w.name for layer in model.layers for w in layer.weights]``. In its PTB model (TF 2.12) the
RNN layers' variables carry the *cell's* name, not the layer's: ``embeddings:0``, then
``lstm_cell_1/kernel:0``, ... ``lstm_cell_2/bias:0`` (``gru_cell_k``, ``simple_rnn_cell_k``,
``ma_lsnn_k``, ``ma_lsn_nb_k``), so :func:`crosscheck.weightmap.rnn.split_keras_model`, which
looks for ``encoder_i_0``, does not apply. Here the layers are the cell prefixes in order of
first appearance (Keras' layer order, which is the stack's); the layouts are rnn.py's.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from . import rnn


def split_lsc_weights(names: Sequence[str], weights: Sequence[np.ndarray]) -> dict:
    """{'layers': [per-layer {short name: array}], 'embedding', 'readout'} from the
    reference's LSC weight list and its names."""
    if len(names) != len(weights):
        raise ValueError(f"{len(names)} names for {len(weights)} weights")
    layers: dict[str, dict] = {}
    embedding, readout = None, None
    for name, value in zip(names, weights):
        name = str(name)
        if rnn.short_name(name) == "embeddings":
            embedding = np.asarray(value)
        elif name.startswith("decoder/"):
            readout = dict(readout or {}, **{rnn.short_name(name): np.asarray(value)})
        elif "/" in name:
            layers.setdefault(name.split("/")[0], {})[rnn.short_name(name)] = np.asarray(value)
        else:
            raise KeyError(f"unmapped reference weight {name!r}")
    return {"layers": list(layers.values()), "embedding": embedding, "readout": readout}


def lsc_to_port(cell: str, names: Sequence[str], weights: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The reference's LSC weight list -> the port DeepRNN's parameters (``rnn.load_into``)."""
    parts = split_lsc_weights(names, weights)
    return rnn.model_keras_to_port(cell, parts["layers"], parts["embedding"], parts["readout"])


def port_to_lsc(cell: str, port: dict, names: Sequence[str]) -> list[np.ndarray]:
    """The port's parameters -> a weight list in the order of ``names`` (for ``set_weights``)."""
    keras = rnn.model_port_to_keras(cell, port)
    prefixes = list(dict.fromkeys(str(n).split("/")[0] for n in names if "/" in str(n)
                                  and not str(n).startswith("decoder/")))
    out = []
    for name in map(str, names):
        short = rnn.short_name(name)
        if short == "embeddings":
            out.append(keras["embedding"])
        elif name.startswith("decoder/"):
            out.append(keras["readout"][short])
        else:
            out.append(keras["layers"][prefixes.index(name.split("/")[0])][short])
    return [np.asarray(w, dtype=np.float32) for w in out]
