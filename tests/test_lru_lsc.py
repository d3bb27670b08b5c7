"""The ResLRU's gradient-free LSC (the reference's lruLSC): exact radii of the two local
Jacobians, the rescale / shuffle / half-swap heuristics, targets, resume, the embedding
re-initialisation, and the model options Figure 4 and Table 1 need."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest
import torch
from torch.func import jacrev, vmap

from lscrepro.lsc.lru import (KERAS_TRANSPOSED, LRULSCSettings, depth_radii, pretrain_lru, rescale,
                              shuffle_and_swap, targets, time_radius)
from lscrepro.models.lru import build

CPU = torch.device("cpu")
DIMS = {"vocab_size": 30, "num_classes": 30}
SETTINGS = LRULSCSettings(iterations=40, batch_size=4, measure_iterations=3)


class NoiseTask:
    """The LRU LSC reads only the sequence length T from its task."""
    dims = {"steps": 50}


def _model(depth=3, width=8, seed=0, **config):
    return build({"name": "lru", "depth": depth, "width": width, **config}, DIMS, seed=seed)


def _quiet(_line):
    pass


# --- the radii -----------------------------------------------------------------------------------
def _full_jacobians(first, second, x, s1, s2):
    def time_jacobian(x_b, s_b):
        return jacrev(lambda s: first.step(x_b, (s,))[1][0])(s_b)

    def depth_jacobian(x_b, s_b, s2_b):
        def new_second_state(s):
            out, _ = first.step(x_b, (s,))
            return second.step(out, (s2_b,))[1][0]
        return jacrev(new_second_state)(s_b)

    return vmap(time_jacobian)(x, s1), vmap(depth_jacobian)(x, s1, s2)


@pytest.mark.parametrize("pair", [(0, 1), (2, 0)])
def test_the_radii_equal_eigvals_of_the_full_jacobians(pair):
    model = _model(depth=3, width=8, seed=3).eval().double()
    first, second = model.layers[pair[0]], model.layers[pair[1]]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(5, 8, generator=generator, dtype=torch.float64)
    s1, s2 = (torch.randn(5, 32, generator=generator, dtype=torch.float64) for _ in range(2))
    time_jac, depth_jac = _full_jacobians(first, second, x, s1, s2)
    assert time_jac.shape == depth_jac.shape == (5, 32, 32)  # [Re, Im] of 2H complex states
    exact_time = torch.linalg.eigvals(time_jac).abs().amax(-1)
    exact_depth = torch.linalg.eigvals(depth_jac).abs().amax(-1)
    torch.testing.assert_close(exact_time, time_radius(first).expand(5).detach(), rtol=1e-10, atol=0)
    torch.testing.assert_close(exact_depth, depth_radii(first, second, x, s1, "eig"), rtol=1e-8, atol=1e-12)


def test_unbalanced_targets_split_one_between_depth_and_time():
    settings = replace(SETTINGS, target=0.5, unbalanced=True)
    assert targets(settings, depth=6, steps=300) == {"time": 300 / 306, "depth": 6 / 306}
    assert targets(replace(SETTINGS, target=0.5), 6, 300) == {"time": 0.5, "depth": 0.5}
    with pytest.raises(ValueError, match="unbalanced needs lsc.target 0.5"):
        LRULSCSettings(target=1.0, unbalanced=True)


# --- the heuristics ------------------------------------------------------------------------------
def test_rescale_scales_nu_of_both_blocks_and_b_c_of_the_second_within_the_clip():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    goals = {"time": 1.0, "depth": 1.0}
    # a_t 0.5 asks for x2 (clipped to 1.05); a_l 1.01 asks for x0.990 (inside the clip)
    factors = rescale(model, (2, 0), torch.full((4,), 0.5), torch.full((4,), 1.01), goals, 0.05)
    assert factors == pytest.approx((1.05, 1 / 1.01))
    after = model.state_dict()
    for name, value in after.items():
        block, rest = int(name.split(".")[1]) if name.startswith("layers.") else None, name.split(".", 2)[-1]
        if block in (0, 2) and rest == "lru.lambda_nu":
            expected = before[name] * 1.05
        elif block == 0 and rest in ("lru.B_re", "lru.B_im", "lru.C_re", "lru.C_im"):
            expected = before[name] / 1.01
        else:
            expected = before[name]
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=0, msg=name)


def test_shuffle_keeps_values_and_swap_exchanges_first_halves():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    shuffle_and_swap(model, (0, 1), shuffle=False, swap=True, generator=generator, halves="swap")
    a, b = model.layers[0].lru.B_re.view(-1), model.layers[1].lru.B_re.view(-1)
    half = a.numel() // 2
    assert torch.equal(a[:half], before["layers.1.lru.B_re"].view(-1)[:half])
    assert torch.equal(b[:half], before["layers.0.lru.B_re"].view(-1)[:half])
    assert torch.equal(a[half:], before["layers.0.lru.B_re"].view(-1)[half:])
    assert torch.equal(model.layers[2].lru.B_re, before["layers.2.lru.B_re"])  # not picked

    model.load_state_dict(before)
    shuffle_and_swap(model, (0, 1), shuffle=True, swap=False, generator=generator)
    for name in ("lru.lambda_nu", "w_1.weight", "norm.bias"):
        for block in (0, 1):
            key = f"layers.{block}.{name}"
            assert torch.equal(model.state_dict()[key].view(-1).sort().values, before[key].view(-1).sort().values)
    assert not torch.equal(model.layers[0].lru.lambda_nu, before["layers.0.lru.lambda_nu"])


def _block(model, i) -> dict[str, torch.Tensor]:
    """Block i's parameters flattened as the reference's Keras arrays (Linear weights transposed)."""
    return {k: (v.detach().T if k in KERAS_TRANSPOSED else v.detach()).reshape(-1).clone()
            for k, v in model.layers[i].named_parameters()}


def test_copy_puts_the_second_blocks_first_halves_into_the_first_and_leaves_the_second():
    model = _model()
    first, second, third = (_block(model, i) for i in (2, 0, 1))
    shuffle_and_swap(model, (2, 0), shuffle=False, swap=True, generator=torch.Generator(), halves="copy")
    after_first, after_second = _block(model, 2), _block(model, 0)
    for name, value in after_first.items():
        half = value.numel() // 2
        assert torch.equal(value[:half], second[name][:half]), name
        assert torch.equal(value[half:], first[name][half:]), name
        assert torch.equal(after_second[name], second[name]), name  # the reference's one-way copy
    assert not torch.equal(after_first["lru.B_re"], first["lru.B_re"])
    assert all(torch.equal(v, third[k]) for k, v in _block(model, 1).items())  # not picked


@pytest.mark.parametrize("halves", ["copy", "swap"])
def test_after_a_shuffle_copy_makes_the_first_halves_equal_and_swap_does_not(halves):
    model = _model()
    second = _block(model, 1)
    shuffle_and_swap(model, (0, 1), shuffle=True, swap=True, generator=torch.Generator().manual_seed(0),
                     halves=halves)
    a, b = _block(model, 0)["lru.C_re"], _block(model, 1)["lru.C_re"]
    half = a.numel() // 2
    # copy: l2 only permuted; swap: l2 holds half of l1's values
    assert torch.equal(b.sort().values, second["lru.C_re"].sort().values) == (halves == "copy")
    assert torch.equal(a[:half], b[:half]) == (halves == "copy")


def test_halves_setting_is_checked_and_reaches_the_iterations():
    with pytest.raises(ValueError, match="lsc.halves must be one of"):
        LRULSCSettings(halves="exchange")
    with pytest.raises(ValueError, match="halves must be one of"):
        shuffle_and_swap(_model(), (0, 1), False, True, torch.Generator(), halves="both")
    changed = {}
    for halves in ("copy", "swap"):
        model = _model(depth=3)
        before = [_block(model, i) for i in range(3)]
        settings = replace(SETTINGS, iterations=1, measure_iterations=1, rescale=False, shuffle=False,
                           reinit_embedding=False, halves=halves)
        pretrain_lru(model, NoiseTask(), settings, seed=0, device=CPU, log=_quiet)
        changed[halves] = sum(any(not torch.equal(v, before[i][k]) for k, v in _block(model, i).items())
                              for i in range(3))
    assert changed == {"copy": 1, "swap": 2}


# --- the run -------------------------------------------------------------------------------------
@pytest.mark.parametrize("target, unbalanced", [(1.0, False), (0.5, False), (0.5, True)])
def test_pretraining_moves_both_radii_to_their_targets(target, unbalanced):
    # At small widths the depth radius varies a lot between samples and block pairs, and
    # the reference's factor mean(target / radius) overshoots (at width 128 it ends within
    # 2-5% of 1; docs/deviations.md): the test asks for most of the way, and the time radius exactly.
    # Width 32: at 16, with the reference's half copy (the default), the depth radius ends
    # at 0.59-0.85 for target 0.5 over model seeds 0-3 (0.50-0.55 at width 32).
    settings = replace(SETTINGS, iterations=150, batch_size=8, target=target, unbalanced=unbalanced)
    result = pretrain_lru(_model(width=32), NoiseTask, settings, 0, CPU, log=_quiet)
    assert result.targets == targets(settings, 3, 50)
    gaps = {kind: (abs(result.radius_before_per_kind[kind] - goal), abs(result.radius_after_per_kind[kind] - goal))
            for kind, goal in result.targets.items()}
    assert gaps["time"][1] < 0.02 and gaps["depth"][1] < 0.5 * gaps["depth"][0], gaps
    assert result.status in ("converged", "not_converged") and result.steps == 150
    json.dumps(asdict(result))  # pretrain.json


def test_same_seed_same_weights_and_a_resumed_run_ends_where_a_whole_one_does(tmp_path):
    settings = replace(SETTINGS, checkpoint_every=10, reinit_embedding=False)
    whole, again = _model(), _model()
    result = pretrain_lru(whole, NoiseTask, settings, 0, CPU, log=_quiet)
    pretrain_lru(again, NoiseTask, settings, 0, CPU, log=_quiet)

    class Interrupt(Exception):
        pass

    def stop_after_20(line):
        if line.startswith("LRU LSC iteration 20: checkpoint saved"):
            raise Interrupt

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        pretrain_lru(_model(), NoiseTask, settings, 0, CPU, checkpoint, "a", log=stop_after_20)
    resumed_model = _model()
    resumed = pretrain_lru(resumed_model, NoiseTask, settings, 0, CPU, checkpoint, "a", log=_quiet)
    assert resumed.resumed_from_step == 20 and resumed.loss_curve == result.loss_curve
    for name, value in whole.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
        assert torch.equal(value, resumed_model.state_dict()[name]), name


def test_the_embedding_is_reinitialised_as_the_reference_save_path_does():
    kept, fresh = _model(readout="dense"), _model(readout="dense")
    embedding = kept.embedding.detach().clone()
    pretrain_lru(kept, NoiseTask, replace(SETTINGS, iterations=2, reinit_embedding=False), 0, CPU, log=_quiet)
    pretrain_lru(fresh, NoiseTask, replace(SETTINGS, iterations=2), 0, CPU, log=_quiet)
    assert torch.equal(kept.embedding, embedding)
    assert fresh.embedding.abs().max() <= 0.05 and fresh.embedding.std() > 0.02
    assert not torch.equal(fresh.dense_readout.weight, kept.dense_readout.weight)


def test_a_single_block_is_refused():
    with pytest.raises(ValueError, match="two blocks"):
        pretrain_lru(_model(depth=1), NoiseTask, SETTINGS, 0, CPU, log=_quiet)


# --- the model options of Figure 4 and Table 1 ----------------------------------------------------
def test_readout_is_tied_or_dense_and_dropout_comes_before_each_block():
    tied, dense = _model(readout="tied"), _model(readout="dense")
    assert tied.dense_readout is None and dense.dense_readout.out_features == 30
    x = torch.randint(0, 30, (2, 7))
    assert tied(x)[0].shape == dense(x)[0].shape == (2, 7, 30)
    quiet_net = _model(dropout=0.0, block_dropout=0.0).train()
    torch.testing.assert_close(quiet_net(x)[0], quiet_net.eval()(x)[0])
    noisy = _model(dropout=0.5, block_dropout=0.0).train()
    assert not torch.allclose(noisy(x)[0], noisy.eval()(x)[0])
    with pytest.raises(ValueError, match="readout must be one of"):
        _model(readout="embproj")
