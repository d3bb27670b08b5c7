"""The Keras <-> port weight map of the Figure-3 cells (crosscheck/weightmap/rnn.py): round trips,
each Keras gate block driving exactly the PyTorch gate its formula needs, and the port's layers
computing Keras' cell formulas (written out here in numpy) from mapped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck.weightmap import rnn as weightmap
from lscrepro.models.rnn import make_layer

N_IN, N, BATCH = 5, 4, 3


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def keras_weights(cell: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random Keras-layout variables of one layer, as the reference's cell names them."""
    draw = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    gates = {"LSTM": 4, "GRU": 3}.get(cell, 1)
    if cell in ("maLSNN", "maLSNNb"):
        return {"input_weights": draw(N_IN, N), "recurrent_weights": draw(N, N),
                **{k: draw(N) for k in ("tau", "tau_adaptation", "thr", "beta")}}
    bias = draw(2, 3 * N) if cell == "GRU" else draw(gates * N)
    return {"kernel": draw(N_IN, gates * N), "recurrent_kernel": draw(N, gates * N), "bias": bias}


def port_layer(cell: str):
    return make_layer(cell, N_IN, N, torch.Generator().manual_seed(0), activation="swish", steps=20)


@pytest.mark.parametrize("cell", weightmap.CELLS)
def test_keras_port_keras_round_trip_is_exact(cell):
    keras = keras_weights(cell, np.random.default_rng(0))
    back = weightmap.port_to_keras(cell, weightmap.keras_to_port(cell, keras))
    assert set(back) == set(keras)
    for name in keras:
        np.testing.assert_array_equal(back[name], keras[name], err_msg=name)


@pytest.mark.parametrize("cell", weightmap.CELLS)
def test_mapped_weights_fit_the_port_layer_and_come_back(cell):
    keras = keras_weights(cell, np.random.default_rng(1))
    layer = weightmap.load_into(port_layer(cell), weightmap.keras_to_port(cell, keras))
    back = weightmap.port_to_keras(cell, weightmap.port_parameters(layer))
    for name in keras:
        np.testing.assert_array_equal(back[name], keras[name], err_msg=name)


def test_port_to_keras_sums_the_two_lstm_biases():
    layer = port_layer("LSTM")
    port = weightmap.port_parameters(layer)
    port["fused.bias_hh_l0"] = np.arange(4 * N, dtype=np.float32)
    keras = weightmap.port_to_keras("LSTM", port)
    np.testing.assert_array_equal(keras["bias"], port["fused.bias_ih_l0"] + port["fused.bias_hh_l0"])


@pytest.mark.parametrize("cell,keras_gate,torch_gate", [
    ("LSTM", 0, 0), ("LSTM", 1, 1), ("LSTM", 2, 2), ("LSTM", 3, 3),
    ("GRU", 0, 1), ("GRU", 1, 0), ("GRU", 2, 2)])
@pytest.mark.parametrize("which", ["kernel", "recurrent_kernel", "bias"])
def test_one_keras_gate_block_drives_exactly_its_torch_gate(cell, keras_gate, torch_gate, which):
    """Only Keras block ``keras_gate`` (z, r, h for the GRU) nonzero: only PyTorch's gate
    ``torch_gate`` (r, z, n) gets a nonzero pre-activation."""
    keras = {k: np.zeros_like(v) for k, v in keras_weights(cell, np.random.default_rng(2)).items()}
    columns = slice(keras_gate * N, (keras_gate + 1) * N)
    if which == "bias" and cell == "GRU":
        keras["bias"][1, columns] = 1.0  # the recurrent bias row: PyTorch's bias_hh
    else:
        keras[which][..., columns] = 1.0
    layer = weightmap.load_into(port_layer(cell), weightmap.keras_to_port(cell, keras))
    x, h = torch.ones(1, N_IN), torch.ones(1, N)
    with torch.no_grad():
        if cell == "LSTM":
            parts = layer.gates(x, h)
        else:
            x_r, x_z, x_n, h_r, h_z, h_n = layer.projections(x, h)
            parts = (x_r + h_r, x_z + h_z, x_n + h_n)
            if which == "bias":
                assert torch.count_nonzero(torch.cat((x_r, x_z, x_n))) == 0  # row 1 is bias_hh
    nonzero = [bool(torch.count_nonzero(p)) for p in parts]
    assert nonzero == [g == torch_gate for g in range(len(parts))]


def keras_lstm_step(w, x, h, c):
    """tf.keras LSTMCell (implementation 2): z = x K + h R + b split into i, f, c, o."""
    z = x @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
    i, f, g, o = np.split(z, 4, axis=-1)
    c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c_new), c_new


def keras_gru_step(w, x, h):
    """tf.keras GRUCell(reset_after=True): blocks z, r, h; bias rows input, recurrent."""
    x_z, x_r, x_h = np.split(x @ w["kernel"] + w["bias"][0], 3, axis=-1)
    h_z, h_r, h_h = np.split(h @ w["recurrent_kernel"] + w["bias"][1], 3, axis=-1)
    z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
    return z * h + (1 - z) * np.tanh(x_h + r * h_h)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_port_computes_the_keras_cell_from_mapped_weights(cell):
    rng = np.random.default_rng(3)
    keras = {k: 0.5 * v for k, v in keras_weights(cell, rng).items()}
    layer = weightmap.load_into(port_layer(cell), weightmap.keras_to_port(cell, keras))
    x = rng.standard_normal((BATCH, 6, N_IN)).astype(np.float32)
    h, c = np.zeros((BATCH, N), np.float32), np.zeros((BATCH, N), np.float32)
    expected = []
    for t in range(x.shape[1]):
        if cell == "LSTM":
            h, c = keras_lstm_step(keras, x[:, t], h, c)
        else:
            h = keras_gru_step(keras, x[:, t], h)
        expected.append(h)
    with torch.no_grad():
        fused, _ = layer(torch.from_numpy(x))
    np.testing.assert_allclose(fused.numpy(), np.stack(expected, axis=1), rtol=1e-5, atol=1e-6)


def test_model_map_prefixes_layers_and_transposes_the_readout():
    from lscrepro.models.rnn import DeepRNN

    model = DeepRNN("GRU", [N, N], {"in_features": N_IN, "num_classes": 2, "steps": 20}, seed=0)
    rng = np.random.default_rng(4)
    layers = [keras_weights("GRU", rng), {k: v[:N] if k == "kernel" else v
                                          for k, v in keras_weights("GRU", rng).items()}]
    readout = {"kernel": rng.standard_normal((N, 2)).astype(np.float32), "bias": np.ones(2, np.float32)}
    params = weightmap.model_keras_to_port("GRU", layers, readout=readout)
    weightmap.load_into(model, params)
    np.testing.assert_array_equal(model.dense_readout.weight.detach().numpy(), readout["kernel"].T)
    back = weightmap.model_port_to_keras("GRU", weightmap.port_parameters(model))
    np.testing.assert_array_equal(back["layers"][1]["bias"], layers[1]["bias"])
    np.testing.assert_array_equal(back["readout"]["kernel"], readout["kernel"])


def test_split_keras_model_groups_variables_by_layer():
    """Both namings: keras_model_weights' '<layer>/<short>' and TF's own, in model.weights order
    (as the reference's ModelBuilder names them: embeddings:0, gru_cell_1/..., decoder/...)."""
    layer_names = {"encoder_1_0/kernel": np.ones((2, 3)), "encoder_0_0/kernel": np.zeros((2, 3)),
                   "learned_None_None_2/embeddings": np.ones((7, 2)),
                   "decoder/kernel": np.ones((2, 7)), "decoder/bias": np.zeros(7)}
    tf_names = {"embeddings:0": np.ones((7, 2)), "gru_cell_1/kernel:0": np.zeros((2, 3)),
                "gru_cell_1/bias:0": np.zeros((2, 3)), "gru_cell_2/kernel:0": np.ones((2, 3)),
                "decoder/kernel:0": np.ones((2, 7)), "decoder/bias:0": np.zeros(7)}
    for named in (layer_names, tf_names):
        parts = weightmap.split_keras_model(named)
        assert [layer["kernel"].sum() for layer in parts["layers"]] == [0, 6]
        assert parts["embedding"].shape == (7, 2) and set(parts["readout"]) == {"kernel", "bias"}


def test_wrong_names_and_shapes_are_refused():
    with pytest.raises(KeyError):
        weightmap.keras_to_port("LSTM", {"kernel": np.zeros((N_IN, 4 * N))})
    with pytest.raises(ValueError):
        weightmap.keras_to_port("indrnn", {})
    layer = port_layer("rsimplernn")
    with pytest.raises(ValueError):
        weightmap.load_into(layer, {"kernel": np.zeros((N, N)), "recurrent_kernel": np.zeros((N, N)),
                                    "bias": np.zeros(N)})
    with pytest.raises(KeyError):
        weightmap.load_into(layer, {"kernel": np.zeros((N_IN, N))})
