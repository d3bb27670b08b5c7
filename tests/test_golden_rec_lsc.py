"""The recurrent LSC against goldens from the reference's own recLSC.apply_LSC (issue 24, 2b
and 2c): crosscheck/goldens/rec_lsc.py, stable_drnn@4b667ae. Tiny PTB-like nets (vocabulary
20, embedding 12, stack 12:12, tied readout), the reference's initial weights mapped through
crosscheck/weightmap/rnn_lsc.py.

Jacobians and the radii whose blocks the reference cut at random (sample_axis) are compared
on the reference's own kept rows/columns, recorded in the golden."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from crosscheck.weightmap import rnn as weightmap
from crosscheck.weightmap.rnn_lsc import lsc_to_port, port_to_lsc
from lscrepro.lsc import recurrent
from lscrepro.lsc.jacobians import spectral_radius
from lscrepro.models.rnn import DeepRNN
from lscrepro.optim import adabelief_lookahead
from test_recurrent_lsc import one_thread  # noqa: F401  (an autouse fixture: small eigensolves)

CELLS = ("LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb")
KINDS = (("rec", 0), ("enc", 0), ("rec", 1), ("depth", 1), ("dec", 1))  # apply_LSC's call order
TARGET = 0.5
# float32 throughout; eigenvalues and their gradients amplify rounding a little beyond 1e-5
JACOBIAN_RTOL = 1e-5  # relative to the largest entry of the Jacobian
RADIUS_RTOL = 1e-5
LOSS_RTOL = 3e-5  # a mean of (rho - target)^2: the radii's 1e-5 doubled, plus the sums' rounding
GRADIENT_RTOL = 1e-4  # of each gradient's largest entry: the reference's own float32 rounding
# of the update's size: the first step moves a weight by lr * g ~ 1e-4, and float32 weights
# near 0.5 round at 3e-8
STEP_RTOL = 1e-3
# jacobians.py's Ritz pick: a converged pair's residual is below 1e-2 of rho (_RESIDUAL_TOL);
# measured here: within 2e-6 of the reference's eig
RITZ_RTOL = 1e-2


def _weights(g: golden.Golden, prefix: str) -> list[np.ndarray]:
    return [g[f"{prefix}{i}"] for i in range(len(g["names"]))]


def _model(cell: str, g: golden.Golden, prefix: str = "w") -> DeepRNN:
    activation = "swish" if cell == "rsimplernn" else "relu"  # the reference: swish on PTB
    model = DeepRNN(cell, [12, 12], {"vocab_size": 20, "num_classes": 20, "steps": 6}, seed=0,
                    dropout=0.0, activation=activation, embedding=12)
    return weightmap.load_into(model, lsc_to_port(cell, g["names"], _weights(g, prefix)))


def _reference_block(jac: torch.Tensor, g: golden.Golden, key: str) -> torch.Tensor:
    """The square block the reference took the radius of (its sample_axis rows or columns)."""
    if f"index_{key}" not in g.arrays:
        return jac
    index = torch.as_tensor(g[f"index_{key}"])
    return jac[:, index, :] if int(g[f"axis_{key}"]) == 1 else jac[:, :, index]


def _close(actual, expected, rtol: float, what: str) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(np.abs(expected).max(), 1e-12)
    err = np.abs(actual - expected).max() / scale
    assert err <= rtol, f"{what}: max error {err:.2e} of the largest entry (tolerance {rtol:.0e})"


def _step_radii(model, views, g, t, states, points="detached"):
    """The step's Jacobians (full layout) and the radii on the reference's blocks."""
    x = model.embed(torch.as_tensor(g["ids"][:, t]))
    jacobians, states = recurrent.local_jacobians(model, views, x, states, with_dec=True,
                                                  lstm_c_path=True, points=points)
    blocks = {(kind, l): _reference_block(jacobians[kind, l], g, f"{kind}{l}_t{t}") for kind, l in KINDS}
    return jacobians, blocks, states


@pytest.mark.parametrize("cell", CELLS)
def test_jacobians_and_radii_per_kind_equal_the_reference(cell):
    """2b: every kind's Jacobian and per-sample radius (eig: 1e-5; Ritz: its own bound) at
    three steps that carry the state, as apply_LSC does."""
    g = golden.load(f"rec_radii_{cell}")
    model = _model(cell, g)
    views = recurrent.cell_views(model)
    states = [v.zeros(len(g["ids"]), "cpu") for v in views]
    with torch.no_grad():
        for t in range(3):
            jacobians, blocks, states = _step_radii(model, views, g, t, states)
            for kind, l in KINDS:
                key = f"{kind}{l}_t{t}"
                full = g[f"full_{key}"] if f"full_{key}" in g.arrays else g[f"square_{key}"]
                _close(jacobians[kind, l], full, JACOBIAN_RTOL, f"{cell} {key} Jacobian")
                _close(blocks[kind, l], g[f"square_{key}"], JACOBIAN_RTOL, f"{cell} {key} block")
                radius = g[f"radius_{key}"]
                _close(spectral_radius(blocks[kind, l], "eig"), radius, RADIUS_RTOL, f"{cell} {key} eig")
                _close(spectral_radius(blocks[kind, l], "ritz"), radius, RITZ_RTOL,
                       f"{cell} {key} ritz")


@pytest.mark.parametrize("cell", CELLS)
def test_local_radii_of_square_kinds_equal_the_reference(cell):
    """The port's own path (local_radii: compact depth block, default settings): every kind
    whose Jacobian is square (no random block) gives the reference's radius."""
    g = golden.load(f"rec_radii_{cell}")
    model = _model(cell, g)
    views = recurrent.cell_views(model)
    states = [v.zeros(len(g["ids"]), "cpu") for v in views]
    settings = recurrent.RecurrentLSCSettings()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in range(3):
            x = model.embed(torch.as_tensor(g["ids"][:, t]))
            radii, states = recurrent.local_radii(model, views, x, states, settings, generator)
            for kind, l in KINDS:
                if f"index_{kind}{l}_t{t}" not in g.arrays:
                    _close(radii[kind, l], g[f"radius_{kind}{l}_t{t}"], RADIUS_RTOL, f"{cell} {kind}{l}_t{t}")


def _loss_and_grads(cell, g, points, dtype=torch.float32):
    model = _model(cell, g).to(dtype)
    views = recurrent.cell_views(model)
    states = [v.zeros(len(g["ids"]), "cpu", dtype) for v in views]
    _, blocks, _ = _step_radii(model, views, g, 0, states, points=points)
    radii = {key: spectral_radius(block, "eig") for key, block in blocks.items()}
    loss = recurrent.lsc_loss(radii, TARGET)
    loss.backward()
    port = {name: np.zeros(tuple(p.shape), np.float32) if p.grad is None else p.grad.numpy()
            for name, p in model.named_parameters()}
    layers = [weightmap.port_grads_to_keras(cell, {k[len(f"layers.{i}."):]: v for k, v in port.items()
                                                   if k.startswith(f"layers.{i}.")}) for i in range(2)]
    return loss.item(), _in_reference_order({"embedding": port["embedding"], "layers": layers}, g["names"])


def _in_reference_order(keras: dict, names) -> list[np.ndarray]:
    layers = list(dict.fromkeys(str(n).split("/")[0] for n in names if "/" in str(n)))
    return [keras["embedding"] if str(n) == "embeddings:0"
            else keras["layers"][layers.index(str(n).split("/")[0])][weightmap.short_name(str(n))]
            for n in names]


@pytest.mark.parametrize("dtype", (torch.float64, torch.float32))
@pytest.mark.parametrize("cell", CELLS)
def test_update_loss_and_gradients_equal_the_reference_with_graph_points(cell, dtype):
    """2c: the loss of step 0 and the gradient of every weight, with the reference's
    one-step tape (``jacobian_points: graph``). Eigenvalue gradients in float32 carry
    rounding of up to 1e-4 of their largest entry on either side (measured against the
    port in float64: the reference's maLSNN tau 8.5e-5; the port's float32 swish-net
    embedding 2.3e-4), so the port in float64 is held to 1e-4 and in float32 to 3e-4."""
    g = golden.load(f"rec_lsc_update_{cell}")
    assert not g["grad_none"].any()
    loss, grads = _loss_and_grads(cell, g, "graph", dtype)
    _close(loss, g["mean_loss_t0"], LOSS_RTOL, f"{cell} loss")
    rtol = GRADIENT_RTOL if dtype == torch.float64 else 3 * GRADIENT_RTOL
    for i, name in enumerate(g["names"]):
        _close(grads[i], g[f"grad{i}"], rtol, f"{cell} gradient of {name} ({dtype})")


@pytest.mark.parametrize("cell", ("LSTM", "GRU", "maLSNN"))
def test_detached_points_default_differs_only_through_the_points(cell):
    """The default (detached points, deviations row 23): the same loss; from a zero state the
    recurrent kernels do not move the points, so their gradients are the reference's; the
    embedding's, which also reaches the loss through the point x (besides the tied readout
    of dec), is not."""
    g = golden.load(f"rec_lsc_update_{cell}")
    loss, grads = _loss_and_grads(cell, g, "detached")
    _close(loss, g["mean_loss_t0"], LOSS_RTOL, f"{cell} loss")
    for i, name in enumerate(map(str, g["names"])):
        if "recurrent" in name:
            _close(grads[i], g[f"grad{i}"], 3 * GRADIENT_RTOL, f"{cell} gradient of {name}")
        if name == "embeddings:0":
            err = np.abs(grads[i] - g[f"grad{i}"]).max() / np.abs(g[f"grad{i}"]).max()
            assert err > 1e-2, f"{cell}: the embedding's gradient no longer differs ({err:.1e})"


@pytest.mark.parametrize("cell", CELLS)
def test_optimizer_step_and_rescale_equal_the_reference(cell):
    """2c: one AdaBelief + Lookahead step from the reference's gradients (both fresh: the
    reference rebuilt its optimiser every step, row 21), then wmultiplier with the step's
    radii (biases included) from the reference's post-update weights."""
    g = golden.load(f"rec_lsc_update_{cell}")
    model = _model(cell, g)
    grads = lsc_to_port(cell, g["names"], _weights(g, "grad"))
    for name, p in model.named_parameters():
        if p.requires_grad:  # the LSTM's bias_hh stays zero: Keras has one bias (bias_ih)
            p.grad = torch.as_tensor(grads[name])
    weight_decay = 1e-3 if cell == "rsimplernn" else 1e-4  # apply_LSC's
    adabelief_lookahead(model.parameters(), 7.2e-3, weight_decay, 6, 0.5).step()
    stepped = port_to_lsc(cell, weightmap.port_parameters(model), g["names"])
    for i, name in enumerate(map(str, g["names"])):
        before, expected = g[f"w{i}"], g[f"opt{i}"]
        # of the step's size (lr * g ~ 1e-4), plus float32 rounding of the weights
        tolerance = STEP_RTOL * np.abs(expected - before).max() + 4 * np.finfo(np.float32).eps * np.abs(before).max()
        err = np.abs(stepped[i] - expected).max()
        assert err <= tolerance, f"{cell} {name} step: error {err:.2e} > {tolerance:.2e}"

    model = _model(cell, g, prefix="opt")
    means = {(kind, l): float(g[f"radius_{kind}{l}_t0"].mean()) for kind, l in KINDS}
    recurrent.rescale_weights(model, recurrent.cell_views(model), means, TARGET, biases=True)
    rescaled = port_to_lsc(cell, weightmap.port_parameters(model), g["names"])
    for i, name in enumerate(g["names"]):
        _close(rescaled[i], g[f"rescaled{i}"], 1e-6, f"{cell} {name} after wmultiplier")


@pytest.mark.parametrize("cell", CELLS)
def test_the_lsc_weight_list_map_round_trips(cell):
    """crosscheck/weightmap/rnn_lsc.py: apply_LSC's weight list (cell-named variables, in
    the golden's order) -> the port's parameters -> the same list."""
    g = golden.load(f"rec_radii_{cell}")
    port = lsc_to_port(cell, g["names"], _weights(g, "w"))
    assert set(port) == {name for name, _ in _model(cell, g).named_parameters()}
    for back, original in zip(port_to_lsc(cell, port, g["names"]), _weights(g, "w")):
        np.testing.assert_array_equal(back, original)
