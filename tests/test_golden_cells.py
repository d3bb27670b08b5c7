"""Each Figure-3 cell of the port against the reference's own Keras layer (goldens cell_*, made by
crosscheck/goldens/cells.py from stable_spike@67f1ce7 full_model.py / lsnn.py): the weights the
reference initialised, loaded through crosscheck/weightmap/rnn.py, give the same outputs at every
step, the same final states and the same gradients of sum(output * R) with respect to every
weight and the inputs, through each of the port's paths (the fused/sequence forward, the
autograd loop where the layer has one, and the per-step ``step``).

Tolerance: 1e-5 relative, with an absolute floor of 1e-5 times the array's largest magnitude
(float32 on both sides; the sums run in another order, so entries near zero carry the rounding
of their larger neighbours). Spikes must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from crosscheck.weightmap import rnn as weightmap
from lscrepro.models.rnn import DeepRNN, make_layer

# golden name -> (port cell, rsimplernn activation)
CELLS = {
    "LSTM": ("LSTM", "relu"),
    "GRU": ("GRU", "relu"),
    "rsimplernn": ("rsimplernn", "swish"),  # PTB
    "rsimplernn_relu": ("rsimplernn", "relu"),  # SHD, sl-MNIST
    "ssimplernn": ("ssimplernn", "relu"),
    "maLSNN": ("maLSNN", "relu"),
    "maLSNNb": ("maLSNNb", "relu"),
    # the LSC's state (v, a) ('_reoldspike'): the port's ALIFView
    "maLSNN_reoldspike": ("maLSNN", "relu"),
    "maLSNNb_reoldspike": ("maLSNNb", "relu"),
}
LAYER_CELLS = [name for name in CELLS if not name.endswith("_reoldspike")]
SPIKING = ("maLSNN", "maLSNNb")
RTOL = 1e-5


def close(actual, expected, what: str, rtol: float = RTOL) -> None:
    expected = np.asarray(expected)
    atol = rtol * max(float(np.abs(expected).max()), 1e-30)
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol, err_msg=what)


def keras_weights(g: golden.Golden) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in g.arrays.items() if k.startswith("weight/")}


def port_layer(name: str, g: golden.Golden):
    cell, activation = CELLS[name]
    n_in, width = g["input"].shape[-1], g["output"].shape[-1]
    layer = make_layer(cell, n_in, width, torch.Generator().manual_seed(0), activation=activation,
                       steps=g["input"].shape[1])
    return weightmap.load_into(layer, weightmap.keras_to_port(cell, keras_weights(g)))


def run_steps(layer, x: torch.Tensor, state=None):
    """The per-step path: ``step`` in a loop; for ALIF also v, thr + beta a and v - that."""
    state = layer.initial_state(x.shape[0], dtype=x.dtype) if state is None else state
    outputs, extras = [], []
    for t in range(x.shape[1]):
        h, state = layer.step(x[:, t], state)
        outputs.append(h)
        if hasattr(layer, "thr"):
            _, v, a = state
            threshold = layer.thr + layer.beta * a
            extras.append((v, threshold, v - threshold))
    extra = {k: torch.stack(parts, dim=1) for k, parts in zip(("voltage", "threshold", "v_scaled"),
                                                               zip(*extras))} if extras else {}
    return torch.stack(outputs, dim=1), state, extra


def run_view(layer, x: torch.Tensor, state=None):
    """The LSC view's ``step`` on the flat state s = (v, a); z_t is ``output(s_t)``."""
    view = layer.lsc_view()
    s = view.zeros(x.shape[0], x.device) if state is None else torch.cat(state, dim=-1)
    outputs, extras = [], []
    for t in range(x.shape[1]):
        s = view.step(x[:, t], s)
        outputs.append(view.output(s))
        v, a = s.split(view.n, dim=-1)
        threshold = layer.thr + layer.beta * a
        extras.append((v, threshold, v - threshold))
    extra = {k: torch.stack(parts, dim=1) for k, parts in zip(("voltage", "threshold", "v_scaled"),
                                                               zip(*extras))}
    return torch.stack(outputs, dim=1), tuple(s.split(view.n, dim=-1)), extra


def run_path(layer, x: torch.Tensor, path: str, state=None):
    if path == "view":
        return run_view(layer, x, state)
    if path == "fused":
        return (*layer(x, state), {})
    if path == "stepwise":
        return (*layer.forward_stepwise(x, state), {})
    return run_steps(layer, x, state)


def paths(name: str) -> list[str]:
    if name.endswith("_reoldspike"):
        return ["view"]
    return ["fused", "step"] + (["stepwise"] if CELLS[name][0] not in ("LSTM", "GRU") else [])


CASES = [(name, path, segment) for name in CELLS for path in paths(name) for segment in ("", "second/")]


@pytest.mark.parametrize("name,path,segment", CASES,
                         ids=[f"{n}-{p}-{s.strip('/') or 'first'}" for n, p, s in CASES])
def test_cell_matches_the_reference(name, path, segment):
    """Segment 1 from zero states; segment 2 from the states segment 1 left (the golden's)."""
    g = golden.load(f"cell_{name}")
    cell = CELLS[name][0]
    layer = port_layer(name, g)
    carried = None
    if segment:
        count = sum(key.startswith("state/") for key in g.arrays)
        carried = tuple(torch.from_numpy(g[f"state/{k}"]) for k in range(count))
    x = torch.tensor(g[segment + "input"], requires_grad=True)
    out, state, extra = run_path(layer, x, path, carried)
    if cell in SPIKING:
        np.testing.assert_array_equal(out.detach().numpy(), g[segment + "output"], err_msg="spikes")
    else:
        close(out.detach().numpy(), g[segment + "output"], "output")
    for k, part in enumerate(state):
        close(part.detach().numpy(), g[f"{segment}state/{k}"], f"final state {k}")
    for key, value in extra.items():
        close(value.detach().numpy(), g[segment + key], key)
    loss = (out * torch.from_numpy(g[segment + "probe"])).sum()
    close(loss.item(), g[segment + "loss"], "loss")
    loss.backward()
    close(x.grad.numpy(), g[segment + "grad/input"], "d loss / d input")
    grads = weightmap.port_grads_to_keras(
        cell, {n: p.grad.numpy() for n, p in layer.named_parameters() if p.requires_grad})
    for key, value in grads.items():
        close(value, g[f"{segment}grad/{key}"], f"d loss / d {key}")


# golden -> (cell, widths, dims): build_model's two-layer networks (embedding / readout / wiring)
NETWORKS = {
    "net_GRU_ptb": ("GRU", [10, 14], {"vocab_size": 20, "num_classes": 20, "steps": 24}),
    "net_maLSNN_shd": ("maLSNN", [10, 14], {"in_features": 10, "num_classes": 20, "steps": 24}),
}


def scoped(g: golden.Golden, prefix: str) -> dict[str, np.ndarray]:
    """{'<Keras layer>/<variable>': array} of the golden's ``prefix/`` arrays."""
    return {k.split("/", 1)[1]: v for k, v in g.arrays.items()
            if k.startswith(prefix + "/") and k.count("/") == 2}


@pytest.mark.parametrize("name", NETWORKS)
def test_network_matches_the_reference(name):
    """The whole DeepRNN (dropout off) against build_model's network: embedding, layer wiring,
    tied or Dense readout, by the logits and every gradient."""
    cell, widths, dims = NETWORKS[name]
    g = golden.load(f"cell_{name}")
    parts = weightmap.split_keras_model(scoped(g, "weight"))
    model = DeepRNN(cell, widths, dims, seed=0, embedding=widths[-1] if "vocab_size" in dims else None)
    weightmap.load_into(model, weightmap.model_keras_to_port(cell, parts["layers"], parts["embedding"],
                                                             parts["readout"]))
    model.eval()  # the golden ran with training=False: no dropout
    x = torch.tensor(g["input"], requires_grad="vocab_size" not in dims)
    logits, _ = model(x)
    close(logits.detach().numpy(), g["output"], "logits")
    (logits * torch.from_numpy(g["probe"])).sum().backward()
    if x.requires_grad:
        close(x.grad.numpy(), g["grad/input"], "d loss / d input")
    port_grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    expected = weightmap.split_keras_model(scoped(g, "grad"))
    for i, layer in enumerate(expected["layers"]):
        layer_grads = {k.split(".", 2)[2]: v for k, v in port_grads.items() if k.startswith(f"layers.{i}.")}
        for key, value in weightmap.port_grads_to_keras(cell, layer_grads).items():
            close(value, layer[key], f"layer {i} d loss / d {key}")
    if expected["embedding"] is not None:
        close(port_grads["embedding"], expected["embedding"], "d loss / d embedding")
    if expected["readout"] is not None:
        close(port_grads["dense_readout.weight"].T, expected["readout"]["kernel"], "d loss / d readout kernel")
        close(port_grads["dense_readout.bias"], expected["readout"]["bias"], "d loss / d readout bias")


def test_goldens_exercise_what_they_claim():
    """Spikes both ways, the surrogate's gradient reaches every ALIF constant, and each golden
    names the reference's code."""
    for name in CELLS:
        g = golden.load(f"cell_{name}")
        assert g.meta["reference"]["commit"].startswith("67f1ce7"), name
        assert g["input"].shape[1] >= 20
        assert all(np.abs(g[k]).max() > 0 for k in g.arrays if "grad/" in k), name
    for name in SPIKING:
        for segment in ("", "second/"):
            rate = golden.load(f"cell_{name}")[segment + "output"].mean()
            assert 0.05 < rate < 0.95, (name, segment, rate)
    for name in CELLS:  # the carried state matters: segment 2 from zeros would differ
        g = golden.load(f"cell_{name}")
        layer = port_layer(name, g)
        with torch.no_grad():
            out, _ = layer(torch.from_numpy(g["second/input"]))
        assert not np.allclose(out.numpy(), g["second/output"], rtol=1e-3, atol=1e-4), name


def glorot_limit(shape: tuple[int, ...]) -> float:
    """Keras glorot_uniform's limit; a 1-D shape has fan_in = fan_out = its length."""
    fan_in, fan_out = (shape[0], shape[0]) if len(shape) == 1 else shape
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def assert_same_draw(name: str, key: str, ours: np.ndarray, theirs: np.ndarray, n_in: int, steps: int) -> None:
    """Both initialisations satisfy the property of the reference's initialiser for ``key``."""
    what = f"{name} {key}"
    if key == "recurrent_kernel":  # Keras Orthogonal of (n, k n): orthonormal rows
        for w in (ours, theirs):
            np.testing.assert_allclose(w @ w.T, np.eye(w.shape[0]), atol=1e-5, err_msg=what)
    elif key in ("kernel", "input_weights", "recurrent_weights") or (key == "bias" and "simplernn" in name):
        limit = glorot_limit(theirs.shape)
        for w in (ours, theirs):  # uniform on +-limit: at most the limit, and near it
            assert limit * 0.75 < np.abs(w).max() <= limit, (what, np.abs(w).max(), limit)
    elif key == "bias":  # LSTM: forget gate 1, else 0; GRU: 0
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
    elif key == "beta" and name == "maLSNNb":  # RandomNormal(0, 1.8 / sqrt(n_in)): not truncated
        std = 1.8 / np.sqrt(n_in)
        for w in (ours, theirs):
            assert (w < 0).any() and np.abs(w).max() < 4 * std, what
    else:  # TruncatedNormal(p, 3p/7), cut at 2 std
        mean = {"tau": 0.1, "thr": 0.01, "beta": 1.8, "tau_adaptation": float(int(steps / 2))}[key]
        for w in (ours, theirs):
            assert np.all(np.abs(w - mean) <= 2 * 3 * mean / 7 * (1 + 1e-6)), (what, w)


@pytest.mark.parametrize("name", LAYER_CELLS)
def test_port_initialises_as_the_reference(name):
    """The port's own draws (its seed, not the reference's numbers) have the properties of the
    weights that the reference's initialisers drew (orthogonality, uniform limits, constant
    biases, truncation around the Figure-3 constants, tau_adaptation about int(in_len / 2))."""
    g = golden.load(f"cell_{name}")
    cell, activation = CELLS[name]
    n_in, steps = g["input"].shape[-1], g["input"].shape[1]
    layer = make_layer(cell, n_in, g["output"].shape[-1], torch.Generator().manual_seed(0),
                       activation=activation, steps=steps)
    ours = weightmap.port_to_keras(cell, weightmap.port_parameters(layer))
    theirs = dict(keras_weights(g), **({"bias": g["initial/bias"]} if "initial/bias" in g.arrays else {}))
    assert set(ours) == set(theirs)
    for key in theirs:
        assert_same_draw(name, key, ours[key], theirs[key], n_in, steps)


def test_a_wrong_gate_order_would_fail():
    """The GRU golden tells Keras' z, r, h from PyTorch's r, z, n: swapping z and r breaks it."""
    g = golden.load("cell_GRU")
    layer = port_layer("GRU", g)
    with torch.no_grad():
        for weight in (layer.fused.weight_ih_l0, layer.fused.weight_hh_l0):
            r, z, n = weight.chunk(3)
            weight.copy_(torch.cat([z, r, n]))
        out, _ = layer(torch.from_numpy(g["input"]))
    assert not np.allclose(out.numpy(), g["output"], rtol=1e-3, atol=1e-3)
