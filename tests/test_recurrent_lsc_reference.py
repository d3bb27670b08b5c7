"""The recurrent LSC's rules taken from the reference (stable_drnn@4b667ae recLSC.apply_LSC):
bias rescaling, the GRU bias shuffle, no mid-run reload, the NaN handling, the variance-gated
best-weights choice and stop rule, the time cap. Tiny nets, one CPU thread."""

from __future__ import annotations

import math

import pytest
import torch

from lscrepro.lsc.recurrent import (RecurrentLSCRun, RecurrentLSCSettings, pretrain_recurrent,
                                    shuffle_weights)
from lscrepro.models import build_model
from test_recurrent_lsc import NoiseSpikes, one_thread  # noqa: F401  (an autouse fixture)

CPU = torch.device("cpu")


def _model(cell: str, task, width: int = 8, seed: int = 0):
    return build_model({"name": "rnn", "cell": cell, "depth": 2, "width": width}, task.dims, seed)


def _run(cell: str, settings: RecurrentLSCSettings, steps: int = 6, model=None):
    task = NoiseSpikes(steps=steps)
    model = model if model is not None else _model(cell, task)
    return RecurrentLSCRun(model, task, settings, 0, CPU, log=lambda _m: None)


def _snapshot(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_the_defaults_are_the_reference():
    s = RecurrentLSCSettings()
    assert (s.rescale_biases, s.lstm_c_path, s.selection, s.reload) == (True, True, "reference", "nan")
    assert s.max_seconds == 19800.0  # stop_time 21600 s - 30 min
    assert s.on_nonfinite == "stop"  # our fix: the reference skipped NaN steps
    for name in ("selection", "reload", "on_nonfinite"):
        with pytest.raises(ValueError, match=name):
            RecurrentLSCSettings(**{name: "nope"})


# --- wmultiplier scales each bias with its input kernel -------------------------------------------
def _biases_and_kernels(layer):
    if hasattr(layer, "fused"):
        f = layer.fused
        return [f.bias_ih_l0, f.bias_hh_l0], f.weight_ih_l0, f.weight_hh_l0
    return [layer.bias], layer.kernel, layer.recurrent_kernel


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "rsimplernn"])
@pytest.mark.parametrize("rescale_biases", [True, False])
def test_a_bias_is_rescaled_with_its_input_kernel(cell, rescale_biases):
    run = _run(cell, RecurrentLSCSettings(target=0.5, shuffle=False, rescale_biases=rescale_biases))
    layers = run.model.cells()
    with torch.no_grad():  # non-zero biases everywhere (Keras' GRU bias starts at 0)
        for layer in layers:
            for b in _biases_and_kernels(layer)[0]:
                b.copy_(torch.linspace(-1, 1, len(b)))
    before = _snapshot(run.model)
    # enc 0.25 -> x1.15 (clipped from 2) on layer 1; depth 1.0 -> x0.85 (clipped 0.5) on
    # layer 2; rec radii at the target -> recurrent kernels unchanged
    means = {("rec", 0): 0.5, ("enc", 0): 0.25, ("rec", 1): 0.5, ("depth", 1): 1.0}
    run.edit(torch.zeros(1), 0.0, means)
    names = {id(p): n for n, p in run.model.named_parameters()}
    for layer, factor in zip(layers, (1.15, 0.85)):
        biases, kernel, recurrent = _biases_and_kernels(layer)
        torch.testing.assert_close(kernel, before[names[id(kernel)]] * factor)
        torch.testing.assert_close(recurrent, before[names[id(recurrent)]])
        for b in biases:
            expected = before[names[id(b)]] * (factor if rescale_biases else 1.0)
            torch.testing.assert_close(b, expected, msg=f"{cell} {names[id(b)]}")


def test_the_gru_biases_are_shuffled_together_as_keras_one_matrix():
    model = _model("GRU", NoiseSpikes())
    gru = model.cells()[0].fused
    n = len(gru.bias_ih_l0)
    with torch.no_grad():
        gru.bias_ih_l0.copy_(torch.arange(n, dtype=torch.float32))
        gru.bias_hh_l0.copy_(torch.arange(n, 2 * n, dtype=torch.float32))
    shuffle_weights(model, torch.Generator().manual_seed(0))
    both = torch.cat([gru.bias_ih_l0, gru.bias_hh_l0]).detach()
    assert torch.equal(both.sort().values, torch.arange(2 * n, dtype=torch.float32))
    assert (gru.bias_ih_l0 >= n).any() and (gru.bias_hh_l0 < n).any()  # entries crossed over


# --- no reload mid-run; the NaN handling -----------------------------------------------------------
@pytest.mark.parametrize("reload, reloaded", [("nan", False), ("stuck", True)])
def test_no_mid_run_reload_by_default(reload, reloaded):
    # patience 1: the 3rd step is the 3rd without a new best (step 1 only sets the bar, the
    # variance gate stays shut for 6 steps), past 2 * patience. The rescale moves the weights.
    settings = RecurrentLSCSettings(target=0.5, patience=1, shuffle=False, reload=reload)
    run = _run("rsimplernn", settings)
    initial = _snapshot(run.model)
    x = run.train_batch(0)
    run.states = [v.zeros(len(x), CPU) for v in run.views]
    for t in range(3):
        run.step(x[:, t])
        assert run.result.status == "not_converged"
    same = all(torch.equal(v, initial[k]) for k, v in run.model.state_dict().items())
    assert same == reloaded
    assert run.since_best == 0  # the counter restarts either way, as the reference's best_count


def test_the_reference_reloads_only_on_a_nan_step_past_the_patience():
    run = _run("rsimplernn", RecurrentLSCSettings(patience=1))
    with torch.no_grad():
        run.model.cells()[0].bias.add_(1.0)
    moved = _snapshot(run.model)
    run.since_best = 3
    run.reload_best(finite=True)  # the reference's reload, overwritten on its next line
    assert all(torch.equal(v, moved[k]) for k, v in run.model.state_dict().items())
    run.since_best = 3
    run.reload_best(finite=False)
    assert all(torch.equal(v, run.best["state"][k]) for k, v in run.model.state_dict().items())


def _infinite_model(task):
    model = _model("rsimplernn", task)
    with torch.no_grad():
        model.cells()[1].recurrent_kernel[0, 0] = float("inf")
    return model


def test_skip_goes_on_past_non_finite_losses_without_updates():
    task = NoiseSpikes(steps=6)
    model = _infinite_model(task)
    initial = _snapshot(model)
    settings = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2, on_nonfinite="skip")
    result = pretrain_recurrent(model, task, settings, 0, CPU, log=lambda _m: None)
    assert result.status == "not_converged" and result.steps == 12  # 2 batches of 6 steps
    assert all(math.isnan(loss) for loss in result.loss_curve)
    for k, v in model.state_dict().items():  # no update, no rescale, no shuffle
        assert torch.equal(v, initial[k]), k
    stop = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2)
    result = pretrain_recurrent(_infinite_model(task), task, stop, 0, CPU, log=lambda _m: None)
    assert result.status == "diverged" and result.steps == 0


# --- the best-weights choice and the stop rule on hand-made radii ---------------------------------
# (rec l1, enc l1, depth l2) per step, target 0.5, tolerance 0.08, patience 2; dec (3.0, far
# from 1) is in every step and ignored by the reference. Hand-worked, v the moving variance:
#  step 1: mean 0.9 sets the bar (the initial weights), v = 0.9
#  steps 2-6: mean 0.8 is closer, but v = 0.81 ... 0.531 >= 0.5: not kept
#  step 7: v = 0.478 < 0.5: kept (1st save)
#  step 8: mean 0.52, var 0.0555, v = 0.436: kept (2nd save); the threshold drops to 0.1
#  step 9: mean 0.45 (distance 0.05 > 0.02): not kept, though its rms distance (0.05) is
#          below step 8's (0.236), so "rms" keeps it
#  steps 10-21: every radius at 0.5 but v = 0.353 ... 0.111 >= 0.1: not close, not kept
#  step 22: v = 0.0997: kept, close 1; steps 23, 24: close 2, 3 > patience: converged
SEQUENCE = [(0.9,) * 3] + [(0.8,) * 3] * 6 + [(0.2, 0.6, 0.76), (0.45,) * 3] + [(0.5,) * 3] * 20


def _judge(run, sequence) -> dict:
    """Feed the radii to the run's rules in step order; return {step: best step} and the
    step at which it converged."""
    marker = run.model.cells()[0].bias
    name = next(n for n, p in run.model.named_parameters() if p is marker)
    best_after, stopped = {}, None
    for k, (rec, enc, depth) in enumerate(sequence, start=1):
        with torch.no_grad():
            marker.fill_(k)  # the weights "of step k"
        means = {("rec", 0): rec, ("enc", 0): enc, ("depth", 1): depth, ("dec", 1): 3.0}
        run.update_gate(means)
        run.keep_if_best(means, loss=0.0)
        run.reload_best(finite=True)
        run.record(0.0, means)
        best_after[k] = int(run.best["state"][name][0])
        if run.result.status == "converged":
            stopped = k
            break
    return {"best": best_after, "stopped": stopped, "threshold": run.gate["threshold"]}


def test_the_reference_selection_and_stop_rule_on_hand_made_radii():
    run = _run("rsimplernn", RecurrentLSCSettings(target=0.5, tolerance=0.08, patience=2))
    out = _judge(run, SEQUENCE)
    best = out["best"]
    assert [best[k] for k in range(1, 8)] == [1, 1, 1, 1, 1, 1, 7]
    assert best[8] == 8 and best[9] == 8 and out["threshold"] == 0.1
    assert all(best[k] == 8 for k in range(10, 22)) and best[22] == 22
    assert out["stopped"] == 24
    assert run.result.steps == 24


def test_the_rms_rule_on_the_same_radii():
    run = _run("rsimplernn", RecurrentLSCSettings(target=0.5, tolerance=0.08, patience=2,
                                                  selection="rms"))
    out = _judge(run, SEQUENCE)
    assert out["best"][2] == 2 and out["best"][8] == 8 and out["best"][9] == 9  # no gate
    assert out["best"][10] == 10
    assert out["stopped"] is None  # dec (3.0) is never within tolerance of 1


# --- the time cap --------------------------------------------------------------------------------
def test_the_time_cap_stops_the_run():
    task = NoiseSpikes(steps=6)
    settings = RecurrentLSCSettings(batch_size=4, measure_batches=1, measure_steps=2, max_seconds=1e-9)
    result = pretrain_recurrent(_model("rsimplernn", task), task, settings, 0, CPU, log=lambda _m: None)
    assert result.steps == 0 and result.status == "not_converged"
