"""Table 1's learning-rate schedule against the reference's own optimiser (golden ``lr_schedule``,
crosscheck/goldens/lr_schedule.py: py-aromatics@61c9b10 ``get_optimizer('SWAAdaBeliefLA',
lr_schedule='cosine_no_restarts')``, tensorflow-addons' Lookahead(AdaBelief))."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from lscrepro.optim import adabelief_lookahead, learning_rate_schedule, set_learning_rate
from lscrepro.training import TrainSettings

G = golden.load("lr_schedule")
CASES = ("cosine", "short", "decay")
LR_RTOL = 1e-6  # float32 (Keras' CosineDecay) against float64 arithmetic


def test_the_schedule_of_every_step_is_the_references():
    for case in CASES:
        schedule = learning_rate_schedule("cosine_no_restarts", float(G["lr"]), int(G[f"{case}_total_steps"]))
        ours = np.array([schedule(int(i)) for i in G[f"{case}_iterations"]])
        np.testing.assert_allclose(ours, G[f"{case}_lr"], rtol=LR_RTOL, err_msg=case)
    assert np.array_equal(G["cosine_iterations"], np.arange(len(G["cosine_lr"])))  # step k uses lr(k)


def test_table1_sized_schedule_decays_for_a_sixth_and_a_half_then_stays_at_a_tenth():
    total = 250 * 46
    schedule = learning_rate_schedule("cosine_no_restarts", float(G["lr"]), total)
    ours = np.array([schedule(int(s)) for s in G["schedule_steps"]])
    np.testing.assert_allclose(ours, G["schedule_table1"], rtol=LR_RTOL)
    assert schedule(int(total / 6.5)) == pytest.approx(0.1 * float(G["lr"]))
    assert schedule(total) == pytest.approx(0.1 * float(G["lr"]))


@pytest.mark.parametrize("case", CASES)
def test_lookahead_adabelief_with_the_schedule_follows_the_references_weights(case):
    """Each step at its scheduled rate inside the port's Lookahead(AdaBelief), as training.py
    sets it: the weights after every step equal tensorflow-addons'. Rectified AdaBelief steps
    divide by sqrt(v) + 1e-14 of gradients drawn at random, so float32 rounding grows a little
    over the steps: 1e-5 relative, 1e-6 absolute."""
    total, wd = int(G[f"{case}_total_steps"]), float(G[f"{case}_weight_decay"])
    schedule = learning_rate_schedule("cosine_no_restarts", float(G["lr"]), total)
    weight = torch.nn.Parameter(torch.from_numpy(G[f"{case}_w0"].copy()))
    optimizer = adabelief_lookahead([weight], float(G["lr"]), weight_decay=wd)
    for step, grad in enumerate(G[f"{case}_grads"]):
        weight.grad = torch.from_numpy(grad.copy())
        set_learning_rate(optimizer, schedule(step))
        optimizer.step()
        np.testing.assert_allclose(weight.detach().numpy(), G[f"{case}_weights"][step], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{case}: after step {step}")


def test_constant_is_the_default_and_the_cosine_needs_the_run_length():
    assert TrainSettings(lr=1e-3).lr_schedule == "constant"
    constant = learning_rate_schedule("constant", 3e-2, None)
    assert constant(0) == constant(10**6) == 3e-2
    with pytest.raises(ValueError, match="total steps"):
        learning_rate_schedule("cosine_no_restarts", 3e-2, None)
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainSettings(lr=1e-3, lr_schedule="cosine")
