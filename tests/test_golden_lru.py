"""The port's ResLRU block and one lruLSC iteration against numbers that the reference's own
code computed (tests/golden/lru_*.npz, made by crosscheck/goldens/lru.py; no TensorFlow here).

Tolerances are relative to each array's largest magnitude (``_close``): float32 on both
sides, so entries near zero carry absolute rounding of that scale, not of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from crosscheck.weightmap import lru as lrumap
from lscrepro.lsc.lru import (LRULSCSettings, depth_radii, rescale, shuffle_and_swap, targets,
                              time_radius)
from lscrepro.models.lru import ResLRUBlock, ResLRUNet

# the lruLSC arguments of each golden (crosscheck/goldens/lru.py LSC_CASES)
LSC_CASES = {"lru_lsc_step": dict(target=1.0, unbalanced=False, steps=10),
             "lru_lsc_step_unbalanced": dict(target=0.5, unbalanced=True, steps=40)}
LSC_WIDTH, LSC_DEPTH, MAX_CHANGE = 8, 2, 0.05


def _close(actual, expected, rtol: float, what: str) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(np.abs(expected).max(), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def _keras_weights(g, prefix: str) -> list[np.ndarray]:
    count = sum(1 for k in g.arrays if k.startswith(f"{prefix}.w"))
    return [g[f"{prefix}.w{i:02d}"] for i in range(count)]


# --- the block: forward and gradients -----------------------------------------------------------
@pytest.fixture(scope="module")
def block_golden():
    return golden.load("lru_block")


@pytest.mark.parametrize("method", ["loop", "scan"])
@pytest.mark.parametrize("tag", ["same", "adapter"])
def test_block_forward_and_gradients_match_the_reference(block_golden, tag, method):
    g = block_golden
    x = torch.tensor(g[f"{tag}.x"], requires_grad=True)
    width = g[f"{tag}.out"].shape[-1]
    block = ResLRUBlock(x.shape[-1], width, torch.Generator().manual_seed(0), dropout=0.1).eval()
    lrumap.load_into(block, lrumap.keras_to_port(_keras_weights(g, tag), list(g[f"{tag}.names"])))
    assert (block.adapter is not None) == (tag == "adapter")
    block.lru.method = method
    out, _ = block(x)
    loss = (out * torch.from_numpy(g[f"{tag}.cotangent"])).sum()
    loss.backward()
    # forward: float32 through 24 recurrent steps and a LayerNorm (seen: 3e-7)
    _close(out.detach(), g[f"{tag}.out"], 1e-5, "out")
    _close(loss.detach(), g[f"{tag}.loss"], 1e-5, "loss")
    _close(x.grad, g[f"{tag}.grad_x"], 1e-5, "grad x")
    grads = lrumap.port_to_keras({n: p.grad.numpy() for n, p in block.named_parameters()})
    names = [e.port_name for e in lrumap.entries(tag == "adapter")]
    for i, (name, ours) in enumerate(zip(names, grads)):
        # sums over batch and 24 steps of float32 products (seen: 1.2e-6 at most)
        _close(ours, g[f"{tag}.g{i:02d}"], 1e-5, f"grad {name}")


def test_block_golden_catches_a_swapped_glu(block_golden):
    """The check can fail: the GLU's gate and linear Dense exchanged change the output."""
    g = block_golden
    weights = _keras_weights(g, "same")
    weights[10:12], weights[12:14] = weights[12:14], weights[10:12]
    block = ResLRUBlock(12, 12, torch.Generator().manual_seed(0)).eval()
    lrumap.load_into(block, lrumap.keras_to_port(weights))
    out, _ = block(torch.from_numpy(g["same.x"]))
    assert not np.allclose(out.detach().numpy(), g["same.out"], rtol=1e-3, atol=1e-3)


# --- one lruLSC iteration ---------------------------------------------------------------------------
def _lsc_model(g) -> tuple[ResLRUNet, tuple[int, int]]:
    """A two-block net holding the reference's cells (before the iteration) at their indices."""
    model = ResLRUNet(LSC_DEPTH, LSC_WIDTH, {"in_features": LSC_WIDTH, "num_classes": 2}, seed=0,
                      dropout=0.0, block_dropout=0.0, readout="dense").eval()
    pair = tuple(int(i) for i in g["pair"])
    for k, index in enumerate(pair):
        lrumap.load_into(model.layers[index], lrumap.keras_to_port(_keras_weights(g, f"before.{k}")))
    return model, pair


def _apply_reference_permutations(model, pair, g) -> None:
    """np.random.shuffle's permutations, on the Keras layout (row-major) where it shuffled."""
    for k, index in enumerate(pair):
        layer = model.layers[index]
        keras = lrumap.port_to_keras(lrumap.port_parameters(layer))
        shuffled = [w.reshape(-1)[g[f"perm.{k}.w{i:02d}"]].reshape(w.shape) for i, w in enumerate(keras)]
        lrumap.load_into(layer, lrumap.keras_to_port(shuffled))


@pytest.mark.parametrize("name", sorted(LSC_CASES))
def test_lsc_radii_match_the_reference(name):
    g = golden.load(name)
    model, pair = _lsc_model(g)
    first, second = (model.layers[i] for i in pair)
    # the reference: max |eig| of the 4H x 4H Jacobians in float32; here exact forms (row 31)
    _close(time_radius(first).detach().expand(len(g["a_t"])), g["a_t"], 1e-5, "a_t")
    x, s1 = torch.from_numpy(g["x"]), torch.from_numpy(g["s1"])
    _close(depth_radii(first, second, x, s1, "eig"), g["a_l"], 1e-5, "a_l")  # seen: 5e-7
    case = LSC_CASES[name]
    settings = LRULSCSettings(target=case["target"], unbalanced=case["unbalanced"])
    goals = targets(settings, LSC_DEPTH, case["steps"])
    assert goals == pytest.approx({"time": float(g["tn_t"]), "depth": float(g["tn_l"])}, rel=1e-12)


@pytest.mark.parametrize("name", sorted(LSC_CASES))
def test_lsc_iteration_matches_the_reference_with_its_shuffles(name):
    """rescale (wmultiplier) with the reference's radii, its permutations, then the halves
    copy (lsc.halves: copy, the default and the reference): the weights it handed back."""
    g = golden.load(name)
    model, pair = _lsc_model(g)
    case = LSC_CASES[name]
    goals = targets(LRULSCSettings(target=case["target"], unbalanced=case["unbalanced"]),
                    LSC_DEPTH, case["steps"])
    rescale(model, pair, torch.from_numpy(g["a_t"]), torch.from_numpy(g["a_l"]), goals, MAX_CHANGE)
    _apply_reference_permutations(model, pair, g)
    shuffle_and_swap(model, pair, shuffle=False, swap=True, generator=torch.Generator(), halves="copy")
    for k, index in enumerate(pair):
        ours = lrumap.port_to_keras(lrumap.port_parameters(model.layers[index]))
        for entry, mine, theirs in zip(lrumap.BLOCK, ours, _keras_weights(g, f"after.{k}")):
            # products of float32 weights with one float32 factor: 1e-6
            _close(mine, theirs, 1e-6, f"{name}: block {k} {entry.port_name}")


def test_lsc_swap_halves_differs_from_the_reference_as_documented():
    """lsc.halves: swap (deviations, 'Reference mode'): l1 as with copy, l2's first halves
    (Keras layout) are l1's, where the reference left l2 as it was."""
    g = golden.load("lru_lsc_step")
    model, pair = _lsc_model(g)
    goals = targets(LRULSCSettings(), LSC_DEPTH, 10)
    rescale(model, pair, torch.from_numpy(g["a_t"]), torch.from_numpy(g["a_l"]), goals, MAX_CHANGE)
    _apply_reference_permutations(model, pair, g)
    mixed_l1 = lrumap.port_to_keras(lrumap.port_parameters(model.layers[pair[0]]))
    shuffle_and_swap(model, pair, shuffle=False, swap=True, generator=torch.Generator(), halves="swap")
    first, second = (lrumap.port_to_keras(lrumap.port_parameters(model.layers[i])) for i in pair)
    for i, (ours_1, ours_2, theirs_1, theirs_2) in enumerate(
            zip(first, second, _keras_weights(g, "after.0"), _keras_weights(g, "after.1"))):
        _close(ours_1, theirs_1, 1e-6, f"l1 w{i}")
        half = ours_2.size // 2
        np.testing.assert_array_equal(ours_2.reshape(-1)[:half], mixed_l1[i].reshape(-1)[:half])
        _close(ours_2.reshape(-1)[half:], theirs_2.reshape(-1)[half:], 1e-6, f"l2 w{i}")
