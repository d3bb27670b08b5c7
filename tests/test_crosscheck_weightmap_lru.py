"""crosscheck/weightmap/lru.py: the Keras <-> port map of the ResLRU block round-trips, and each
Keras weight lands where the block's formula (written here from the reference's Keras code, in
Keras' layouts) needs it in the port."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crosscheck.weightmap import lru as lrumap
from lscrepro.models.lru import ResLRUBlock, ResLRUNet

H = 4


def _keras_block(n_in: int, seed: int = 0) -> list[np.ndarray]:
    """Random Keras-layout weights (``get_weights()`` order) with distinct entries."""
    rng = np.random.default_rng(seed)
    shapes = [(2 * H, H), (H, 2 * H), (2 * H, H), (H, 2 * H), (H,), (2 * H,), (2 * H,), (2 * H,),
              (H,), (H,), (H, H), (H,), (H, H), (H,)] + ([(n_in, H), (H,)] if n_in != H else [])
    weights = [rng.normal(0, 0.5, s).astype(np.float32) for s in shapes]
    weights[5] = rng.uniform(-3, -0.5, (2 * H,)).astype(np.float32)  # lambda_nu: |lambda| < 1
    return weights


def _port_block(n_in: int, keras: list[np.ndarray]) -> ResLRUBlock:
    block = ResLRUBlock(n_in, H, torch.Generator().manual_seed(0), dropout=0.0).eval()
    return lrumap.load_into(block, lrumap.keras_to_port(keras))


def _keras_formula(keras: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """ResLRUFFN.call (pyaromatics@61c9b10) in numpy, from the Keras arrays by position."""
    c_re, b_re, c_im, b_im, d, nu, theta, gamma_log, ln_g, ln_b, k1, b1, k3, b3 = keras[:14]
    adapted = x @ keras[14] + keras[15] if len(keras) > 14 else x
    mean, var = adapted.mean(-1, keepdims=True), adapted.var(-1, keepdims=True)
    u = (adapted - mean) / np.sqrt(var + 1e-3) * ln_g + ln_b
    lam = np.exp(-np.exp(nu.astype(np.float64)) + 1j * theta)
    drive = np.exp(gamma_log) * (u @ (b_re + 1j * b_im))
    states, state = [], np.zeros(drive[:, 0].shape, complex)
    for t in range(drive.shape[1]):
        state = lam * state + drive[:, t]
        states.append(state)
    y = np.real(np.stack(states, 1) @ (c_re + 1j * c_im)) + d * u
    gelu = 0.5 * y * (1 + np.vectorize(math.erf)(y / math.sqrt(2)))
    return 1 / (1 + np.exp(-(gelu @ k1 + b1))) * (gelu @ k3 + b3) + adapted


@pytest.mark.parametrize("n_in", [H, 3])
def test_round_trip_block_and_model(n_in):
    keras = _keras_block(n_in)
    port = lrumap.keras_to_port(keras)
    assert len(port) == (16 if n_in != H else 14)
    assert all(np.array_equal(a, b) for a, b in zip(lrumap.port_to_keras(port), keras))
    assert port["w_1.weight"].shape == (H, H) and np.array_equal(port["w_1.weight"], keras[10].T)
    net = [np.ones((7, H), np.float32), *keras, *_keras_block(H, seed=1),
           np.ones((H, 2), np.float32), np.zeros(2, np.float32)]
    mapped = lrumap.model_keras_to_port(net, depth=2, adapters=[n_in != H, False])
    assert mapped["dense_readout.weight"].shape == (2, H) and "layers.1.lru.C_re" in mapped
    assert all(np.array_equal(a, b) for a, b in zip(lrumap.model_port_to_keras(mapped), net))
    model = ResLRUNet(2, H, {"in_features": n_in, "num_classes": 2}, seed=0, readout="dense")
    del mapped["embedding"]  # a non-language net has none
    lrumap.load_into(model, mapped)  # strict: every name of the port model, nothing else


def test_names_are_checked_against_the_order():
    keras = _keras_block(H)
    names = [f"res_lruffn/{e.keras_name}:0" for e in lrumap.BLOCK]
    lrumap.keras_to_port(keras, names)
    names[5], names[6] = names[6], names[5]
    with pytest.raises(KeyError, match="not the map's order"):
        lrumap.keras_to_port(keras, names)
    with pytest.raises(ValueError, match="14 weights"):
        lrumap.keras_to_port(keras[:13])


@pytest.mark.parametrize("n_in", [H, 3])
def test_the_port_computes_the_keras_formula_from_the_mapped_weights(n_in):
    keras = _keras_block(n_in)
    x = np.random.default_rng(5).normal(size=(2, 6, n_in)).astype(np.float32)
    out, _ = _port_block(n_in, keras)(torch.from_numpy(x))
    # float32 port against a float64-state numpy formula: 1e-5 of the output's scale
    np.testing.assert_allclose(out.detach().numpy(), _keras_formula(keras, x), rtol=1e-5, atol=1e-5)


def test_hand_set_weights_land_where_the_formula_needs_them():
    keras = _keras_block(3)
    keras[10][:] = 0.0
    keras[10][1, 2] = 7.0  # glu.w_1 kernel: input 1 -> gate 2 (x @ kernel)
    keras[14][:] = 0.0
    keras[14][2, 0] = 5.0  # adapter kernel: input 2 -> unit 0
    keras[1][:] = 0.0
    keras[1][3, 6] = 2.0  # B_re: LRU input 3 -> state 6
    block = _port_block(3, keras)
    w_1 = block.w_1(torch.eye(H)) - block.w_1.bias
    assert torch.equal(torch.nonzero(w_1), torch.tensor([[1, 2]])) and w_1[1, 2] == 7.0
    adapted = block.adapter(torch.eye(3)) - block.adapter.bias
    assert torch.equal(torch.nonzero(adapted), torch.tensor([[2, 0]]))
    _, state = block.lru.step(torch.eye(H), block.lru.initial_state(H))
    real = state[:, :2 * H]
    assert torch.equal(torch.nonzero(real), torch.tensor([[3, 6]]))
    assert torch.isclose(real[3, 6], 2.0 * torch.exp(block.lru.gamma_log[6]))
    modulus = torch.exp(-torch.exp(block.lru.lambda_nu))
    assert torch.allclose(modulus, torch.exp(-torch.exp(torch.from_numpy(keras[5]))))
    assert torch.equal(block.norm.weight, torch.from_numpy(keras[8]))  # LayerNorm gamma is the scale
    assert torch.equal(block.norm.bias, torch.from_numpy(keras[9]))
