"""One FFN LSC step against the reference's own (golden ``ffn_lsc_step``: stable_drnn@4b667ae
nonrecLSC.apply_LSC_no_time, radius mode, on build_ffn's net at input 20, 6 x Dense(16),
10 classes; crosscheck/goldens/ffn_lsc.py).

Per reference site (the pair of Keras layers it drew): the site's input batch, its per-sample
Jacobian, the square cut of a non-square one, the radii, the loss mean((rho - 1)^2) and the
gradient of every weight of the site, from the port's DenseStack sites and jacobians.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from crosscheck.weightmap import dense as dense_map
from lscrepro.lsc.jacobians import batched_jacobian, spectral_radius, square_block
from lscrepro.lsc.loop import MODES, LSCSettings
from lscrepro.models.dense import DenseStack
from toy import quiet, toy_task

G = golden.load("ffn_lsc_step")
N_IN, WIDTH, DEPTH, CLASSES = 20, 16, 6, 10
# case -> (activation, the port's site name); the reference's pair [p, p + 1] runs Keras layers
# p + 1 and p + 2 (layer 0 is the Input): even p a Dense + activation block, odd p an
# activation then the next Dense (the port's reference-mode "between" sites), p = 2L the readout
CASES = {
    "sin_input": ("sin", "block0"),
    "sin_hidden": ("sin", "block2"),
    "sin_act_dense": ("sin", "between3"),
    "sin_act_readout": ("sin", "between6"),
    "sin_readout": ("sin", "block6"),
    "relu_hidden": ("relu", "block2"),
    "relu_act_dense": ("relu", "between3"),
}
RTOL = 1e-5  # float32 on both sides
# eigenvalues of a non-normal float32 matrix (LAPACK's geev in TF and in torch, different
# balancing and summation order) agree to a few ulps times the condition number of the eigenvalue
RADIUS_RTOL = 5e-5
# the gradient passes through the eigenvectors (u^H dJ v / u^H v), ill-conditioned as above
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-6


def reference_net(activation: str) -> DenseStack:
    net = DenseStack(N_IN, WIDTH, DEPTH, CLASSES, activation)
    keras = [G[f"weights__{activation}__{i}"] for i in range(2 * (DEPTH + 1))]
    dense_map.load_into(net, dense_map.keras_to_port(keras, DEPTH))
    return net


def reference_sites(net: DenseStack):
    """The sites the port's reference mode draws from, by name."""
    return {site.name: site for site in net.reference_lsc_sites()}


def cut(jac: torch.Tensor, case: str) -> torch.Tensor:
    """The reference's square cut (its recorded rows or columns) of a non-square Jacobian."""
    if f"{case}__cut_indices" not in G.arrays:
        return jac
    keep = torch.as_tensor(G[f"{case}__cut_indices"])
    return jac[:, keep, :] if int(G[f"{case}__cut_axis"]) == 1 else jac[:, :, keep]


def test_weight_map_round_trip():
    keras = [G[f"weights__sin__{i}"] for i in range(2 * (DEPTH + 1))]
    back = dense_map.port_to_keras(dense_map.keras_to_port(keras, DEPTH), DEPTH)
    assert all(np.array_equal(a, b) for a, b in zip(keras, back))
    assert dense_map.keras_variable_to_port("dense/kernel:0", DEPTH) == ("hidden.0.weight", True)
    assert dense_map.keras_variable_to_port("dense_6/bias:0", DEPTH) == ("readout.bias", False)
    net = reference_net("sin")
    x = torch.as_tensor(G["x"])
    # Keras' Dense: x @ kernel + bias
    expected = np.sin(G["x"] @ keras[0] + keras[1])
    np.testing.assert_allclose(net.block(0, x).detach().numpy(), expected, rtol=RTOL, atol=1e-6)


def test_reference_mode_draws_the_references_sites():
    """2L + 1 sites, as the reference's pairs[0] in 0..2L: L blocks, L activation->Dense, the readout."""
    names = [site.name for site in DenseStack(N_IN, WIDTH, DEPTH, CLASSES, "sin").reference_lsc_sites()]
    assert len(names) == 2 * DEPTH + 1
    assert {f"block{i}" for i in range(DEPTH + 1)} | {f"between{i}" for i in range(1, DEPTH + 1)} == set(names)


@pytest.mark.parametrize("case", list(CASES))
def test_site_input_and_jacobian(case):
    activation, name = CASES[case]
    site = reference_sites(reference_net(activation))[name]
    with torch.no_grad():
        h = site.inputs(torch.as_tensor(G["x"]))
    np.testing.assert_allclose(h.numpy(), G[f"{case}__h"], rtol=RTOL, atol=1e-6)
    jac = batched_jacobian(site.function, torch.as_tensor(G[f"{case}__h"]))
    np.testing.assert_allclose(jac.detach().numpy(), G[f"{case}__jacobian"], rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_radii_loss_and_gradient(case):
    activation, name = CASES[case]
    net = reference_net(activation)
    site = reference_sites(net)[name]
    jac = cut(batched_jacobian(site.function, torch.as_tensor(G[f"{case}__h"])), case)
    radii = spectral_radius(jac, "eig")
    np.testing.assert_allclose(radii.detach().numpy(), G[f"{case}__radii"], rtol=RADIUS_RTOL)
    loss = ((radii - 1.0) ** 2).mean()
    np.testing.assert_allclose(loss.item(), float(G[f"{case}__loss"]), rtol=2 * RADIUS_RTOL)
    loss.backward()
    grads = {k[len(case) + 8:]: v for k, v in G.arrays.items() if k.startswith(f"{case}__grad__")}
    assert grads, "the golden holds the gradient of the site's weights"
    port_params = dict(net.named_parameters())
    touched = set()
    for keras_name, grad in grads.items():
        port_name, transpose = dense_map.keras_variable_to_port(keras_name.replace("__", "/"), DEPTH)
        expected = grad.T if transpose else grad
        got = port_params[port_name].grad
        assert got is not None, port_name
        np.testing.assert_allclose(got.numpy(), expected, rtol=GRAD_RTOL, atol=GRAD_ATOL)
        touched.add(port_name)
    # the reference's None gradients (a bias the Jacobian does not depend on) are zero here
    for keras_name in G[f"{case}__no_grad"]:
        port_name, _ = dense_map.keras_variable_to_port(str(keras_name), DEPTH)
        got = port_params[port_name].grad
        assert got is None or not got.abs().any(), port_name
    # and the site trains exactly the weights the reference's step handed its optimiser
    site_params = {n for n, p in port_params.items() if any(p is q for q in site.params)}
    no_grad = {dense_map.keras_variable_to_port(str(k), DEPTH)[0] for k in G[f"{case}__no_grad"]}
    assert site_params == touched | no_grad


@pytest.mark.parametrize("case", ["sin_input", "sin_readout"])
def test_square_cut_takes_the_references_axis(case):
    """The port draws its own subset (torch's generator), on the reference's axis, sorted."""
    _, name = CASES[case]
    site = reference_sites(reference_net("sin"))[name]
    jac = batched_jacobian(site.function, torch.as_tensor(G[f"{case}__h"])).detach()
    block = square_block(jac, torch.Generator().manual_seed(0))
    axis = int(G[f"{case}__cut_axis"])
    k = len(G[f"{case}__cut_indices"])
    assert block.shape == (jac.shape[0], k, k)
    kept = [next(i for i in range(jac.shape[axis]) if torch.equal(jac.select(axis, i), block.select(axis, j)))
            for j in range(k)]
    assert kept == sorted(kept)


@pytest.mark.parametrize("case", ["sin_hidden", "sin_act_dense", "relu_hidden"])
def test_default_radius_method_matches_eig(case):
    """The default Ritz radii (docs/deviations.md row 2) against the reference's eig: within the
    accuracy layout.md states (1e-3 relative)."""
    activation, name = CASES[case]
    site = reference_sites(reference_net(activation))[name]
    jac = cut(batched_jacobian(site.function, torch.as_tensor(G[f"{case}__h"])), case).detach()
    radii = spectral_radius(jac, "ritz", generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(radii.numpy(), G[f"{case}__radii"], rtol=1e-3)


def test_reference_run_uses_the_between_sites():
    """``mode: reference`` draws from all 2L + 1 sites, with the reference's moving-average
    window ema_t = L + 1 (its weight tensors / 2); the default mode from the L - 1 hidden blocks."""
    task = toy_task(n=40, d=N_IN, classes=CLASSES)
    net = DenseStack(N_IN, WIDTH, DEPTH, CLASSES, "sin")
    for mode, sites, window in (("reference", 2 * DEPTH + 1, DEPTH + 1), ("fixed", DEPTH - 1, DEPTH - 1)):
        settings = LSCSettings(epochs=1, batch_size=8, steps_per_epoch=1, measure_batches=1, mode=mode)
        run = MODES[mode](net, task, settings, 0, torch.device("cpu"), quiet)
        assert (len(run.active), run.window()) == (sites, window)
    # a block and the activation -> Dense site before it train one Dense, with one optimiser
    run = MODES["reference"](net, task, LSCSettings(epochs=1, batch_size=8, measure_batches=1, mode="reference"),
                             0, torch.device("cpu"), quiet)
    names = [site.name for site in run.sites]
    assert run.optimizer(names.index("between3")) is run.optimizer(names.index("block3"))
    assert run.optimizer(names.index("between3")) is not run.optimizer(names.index("block2"))
