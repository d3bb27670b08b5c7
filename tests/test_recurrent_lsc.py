"""RNN LSC pre-training (lscrepro.lsc.recurrent): the local Jacobians, that the loop moves
the radii towards the target, resuming, and the stop rules. Small nets, one CPU thread."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from lscrepro.lsc.recurrent import (RecurrentLSCSettings, cell_views, local_jacobians,
                                    pretrain_recurrent)
from lscrepro.models import build_model
from lscrepro.models.spiking import spike
from lscrepro.tasks.spikes import SpikeClassification

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    # small eigensolves are much slower with threads fighting over busy cores
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class NoiseSpikes(SpikeClassification):
    """Random spike trains (20% density), 3 classes."""

    def __init__(self, steps: int = 30, channels: int = 12, n: int = 32):
        labels = {s: torch.arange(n) % 3 for s in ("train", "val", "test")}
        super().__init__(labels, {"channels": channels, "num_classes": 3, "steps": steps}, timerepeat=1)
        generator = torch.Generator().manual_seed(0)
        self.data = {s: (torch.rand(n, steps, channels, generator=generator) < 0.2).float() for s in labels}

    def inputs(self, split, rows):
        return self.data[split][rows]


def _model(cell: str, task, width: int = 16, seed: int = 0):
    return build_model({"name": "rnn", "cell": cell, "depth": 2, "width": width}, task.dims, seed)


def _quiet(_message: str) -> None:
    pass


# --- the local Jacobians against plain autograd on one sample ---------------------------------
def _plain_step(layer, cell: str, x, s):
    """The LSC state step written out from the layer's own ``step``."""
    n = layer.n
    if cell == "LSTM":
        _, (h, c) = layer.step(x, (s[:n], s[n:]))
        return torch.cat([h, c])
    v, a = s[:n], s[n:]
    z = spike(v - layer.thr - layer.beta * a)  # the reference's reoldspike
    _, (_, v, a) = layer.step(x, (z, v, a))
    return torch.cat([v, a])


def _plain_output(layer, cell: str, s):
    n = layer.n
    return s[:n] if cell == "LSTM" else spike(s[:n] - layer.thr - layer.beta * s[n:])


def _tape_jacobian(layer, x, s, head):
    """The reference's tape on an LSTM step from s: d head(h) / d the graph nodes (h, c) of
    the new state, h computed from c inside the step; rows by autograd.grad."""
    n = layer.n
    _, (h, c) = layer.step(x, (s[:n], s[n:]))
    out = head(h)
    rows = [torch.cat(torch.autograd.grad(out[i], [h, c], retain_graph=True)) for i in range(len(out))]
    return torch.stack(rows).detach()


@pytest.mark.parametrize("cell", ["LSTM", "maLSNN"])
def test_local_jacobians_equal_plain_autograd(cell):
    task = NoiseSpikes()
    model = _model(cell, task)
    views = cell_views(model)
    x = task.data["train"][:4, 3]
    generator = torch.Generator().manual_seed(1)
    # a non-zero state, so every gate and the adaptation matter
    states = [torch.randn(4, v.size(), generator=generator) * 0.5 for v in views]
    jacobians, new_states = local_jacobians(model, views, x, states, with_dec=True)
    lower, upper = model.cells()
    b = 2
    jacobian = torch.autograd.functional.jacobian
    h1 = _plain_output(lower, cell, new_states[0][b])
    expected = {
        ("rec", 0): jacobian(lambda s: _plain_step(lower, cell, x[b], s), states[0][b]),
        ("enc", 0): jacobian(lambda xi: _plain_step(lower, cell, xi, states[0][b]), x[b]),
        ("rec", 1): jacobian(lambda s: _plain_step(upper, cell, h1, s), states[1][b]),
        ("depth", 1): jacobian(lambda sb: _plain_step(upper, cell, _plain_output(lower, cell, sb),
                                                      states[1][b]), new_states[0][b]),
        ("dec", 1): jacobian(lambda s: model.readout(_plain_output(upper, cell, s)), new_states[1][b]),
    }
    if cell == "LSTM":  # the lower/last output h depends on c: the tape counted that path
        expected["depth", 1] = _tape_jacobian(lower, x[b], states[0][b],
                                              lambda h: _plain_step(upper, cell, h, states[1][b]))
        expected["dec", 1] = _tape_jacobian(upper, h1, states[1][b], model.readout)
    assert set(jacobians) == set(expected)
    for key, plain in expected.items():
        assert jacobians[key][b].shape == plain.shape, key
        torch.testing.assert_close(jacobians[key][b], plain, rtol=1e-5, atol=1e-6, msg=str(key))
        assert plain.abs().sum() > 0, key  # not trivially zero (the surrogate carries it)
    torch.testing.assert_close(new_states[0][b], _plain_step(lower, cell, x[b], states[0][b]))


@pytest.mark.parametrize("c_path", [True, False])
def test_the_lstm_dec_and_depth_jacobians_count_the_c_path(c_path):
    task = NoiseSpikes()
    model = _model("LSTM", task)
    views = cell_views(model)
    states = [torch.randn(4, v.size(), generator=torch.Generator().manual_seed(1)) for v in views]
    jacobians, _ = local_jacobians(model, views, task.data["train"][:4, 3], states, with_dec=True,
                                   lstm_c_path=c_path)
    n = views[-1].n
    for key in (("dec", 1), ("depth", 1)):
        assert jacobians[key].shape[-1] == 2 * n, key  # the LSC state is (h, c), as the reference
        h_columns, c_columns = jacobians[key][..., :n], jacobians[key][..., n:]
        if c_path:  # column j of c = column j of h times o_j tanh'(c_j), in (0, 1)
            assert (c_columns != 0).all() and (c_columns.abs() <= h_columns.abs()).all(), key
        else:
            assert (c_columns == 0).all(), key


# --- pre-training moves the radii towards the target ----------------------------------------------
def _kind_mean(per_kind: dict, kind: str) -> float:
    values = [v["mean"] for v in per_kind[kind].values()]
    return sum(values) / len(values)


@pytest.mark.parametrize("cell, steps, lr, extra", [
    # the LSTM's rec radius is its forget gates (bias 1); at the reference's lr it moves by
    # ~0.01 in 100 steps, so the mechanism is checked with a larger lr. At the reference's
    # rules it does not move: the bias rescale lifts the forget bias with the input side
    # (enc < 0.5 at first), and the first step's mean radius (0.55) is never bettered
    ("LSTM", 100, 0.03, {"rescale_biases": False, "selection": "rms"}),
    ("maLSNN", 30, 7.2e-3, {}),
])
def test_pretraining_moves_rec_and_depth_radii_towards_the_target(cell, steps, lr, extra):
    task = NoiseSpikes(steps=steps)
    settings = RecurrentLSCSettings(target=0.5, batch_size=8, lr=lr, measure_batches=1, **extra)
    result = pretrain_recurrent(_model(cell, task), task, settings, seed=0, device=CPU, log=_quiet)
    assert result.steps == 2 * steps and result.status in ("not_converged", "converged")
    for kind in ("rec", "depth"):
        before = abs(_kind_mean(result.radius_before_per_kind, kind) - 0.5)
        after = abs(_kind_mean(result.radius_after_per_kind, kind) - 0.5)
        assert before > 0.15, (kind, before)
        assert after < before - 0.15, (kind, before, after)
    assert abs(result.radius_after_mean - 0.5) < abs(result.radius_before_mean - 0.5) + 0.05
    json.dumps(asdict(result))  # the report is JSON


def test_the_report_names_the_step_whose_weights_it_hands_back():
    """At the reference's rules the LSTM's first step (mean radius ~0.55 for target 0.5) is
    never bettered, so the run hands back its initial weights: selected_step 0. With the rms
    selection and a larger lr a later step wins."""
    task = NoiseSpikes(steps=10)
    initial = _model("LSTM", task)
    start = {k: v.clone() for k, v in initial.state_dict().items()}
    settings = RecurrentLSCSettings(target=0.5, batch_size=8, measure_batches=1)
    kept = pretrain_recurrent(initial, task, settings, seed=0, device=CPU, log=_quiet)
    assert kept.steps == 20 and kept.selected_step == 0
    assert all(torch.equal(start[k], v) for k, v in initial.state_dict().items())
    moving = RecurrentLSCSettings(target=0.5, batch_size=8, lr=0.03, measure_batches=1,
                                  rescale_biases=False, selection="rms")
    moved = pretrain_recurrent(_model("LSTM", task), task, moving, seed=0, device=CPU, log=_quiet)
    assert 0 < moved.selected_step <= moved.steps


# --- resuming, stopping ------------------------------------------------------------------------------
class Interrupt(Exception):
    pass


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    task = NoiseSpikes(steps=8)
    settings = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=3,
                                    shuffle_probability=0.5, rescale_probability=0.5)
    whole_model = _model("GRU", task)
    whole = pretrain_recurrent(whole_model, task, settings, 0, CPU, log=_quiet)

    def stop_after_batch_1(message: str) -> None:
        if message.startswith("RNN LSC batch 1/2 done"):
            raise Interrupt

    checkpoint = tmp_path / "lsc.pt"
    with pytest.raises(Interrupt):
        pretrain_recurrent(_model("GRU", task), task, settings, 0, CPU, checkpoint, "run-a",
                           log=stop_after_batch_1)
    resumed_model = _model("GRU", task)
    resumed = pretrain_recurrent(resumed_model, task, settings, 0, CPU, checkpoint, "run-a", log=_quiet)
    assert resumed.resumed_from_batch == 1 and whole.resumed_from_batch == 0
    assert resumed.loss_curve == whole.loss_curve and resumed.steps == whole.steps == 16
    assert resumed.radius_after_per_kind == whole.radius_after_per_kind
    for name, value in whole_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    # another run's checkpoint is not resumed from
    other = pretrain_recurrent(_model("GRU", task), task, settings, 0, CPU, checkpoint, "run-b", log=_quiet)
    assert other.resumed_from_batch == 0


def test_a_non_finite_radius_stops_the_run_as_diverged():
    task = NoiseSpikes(steps=6)
    model = _model("rsimplernn", task)
    with torch.no_grad():
        model.cells()[1].recurrent_kernel[0, 0] = float("inf")
    settings = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2)
    result = pretrain_recurrent(model, task, settings, 0, CPU, log=_quiet)
    assert result.status == "diverged" and result.steps == 0


@pytest.mark.parametrize("selection, steps", [
    ("rms", 6),  # more than 5 close steps
    # the reference's variance gate (v <- 0.9 v + 0.1 var, from 1) first opens at step 7,
    # when 0.9^7 < 0.5; then 6 close steps
    ("reference", 12),
])
def test_the_run_stops_once_every_radius_stays_within_tolerance(selection, steps):
    task = NoiseSpikes(steps=30)
    # every radius of this net lies within 1 of its target: close at every step
    settings = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2,
                                    tolerance=1.0, patience=5, selection=selection)
    result = pretrain_recurrent(_model("rsimplernn", task), task, settings, 0, CPU, log=_quiet)
    assert result.status == "converged" and result.steps == steps
    tight = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2,
                                 tolerance=1e-6, patience=5, max_steps=12)
    result = pretrain_recurrent(_model("rsimplernn", task), task, tight, 0, CPU, log=_quiet)
    assert result.status == "not_converged" and result.steps == 12
