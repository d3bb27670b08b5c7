"""LSC pre-training moves the radius to its target."""

import torch

from lscrepro.lsc.loop import LSCSettings, measure_radii, pretrain_lsc
from lscrepro.models import DenseStack


def test_pretraining_brings_depth10_sin_net_to_radius_one():
    x = torch.randn(2048, 64, generator=torch.Generator().manual_seed(0))
    model = DenseStack(64, 32, 10, 10, "sin", seed=0)
    result = pretrain_lsc(model, x, LSCSettings(epochs=60, batch_size=128), seed=0, log=lambda _: None)
    assert abs(result.radius_before_mean - 1) > 0.03
    assert abs(result.radius_after_mean - 1) < 0.05
    # the model holds the weights that were measured
    after = measure_radii(model, [x[:256]], "ritz")[0]
    assert abs(after - 1) < 0.06
    assert len(result.loss_curve) == len(result.radius_curve) == result.steps > 0


def test_pretraining_is_deterministic_for_a_seed():
    x = torch.randn(512, 16, generator=torch.Generator().manual_seed(0))
    runs = []
    for _ in range(2):
        model = DenseStack(16, 16, 4, 3, "relu", seed=1)
        result = pretrain_lsc(model, x, LSCSettings(epochs=3, batch_size=64), seed=1, log=lambda _: None)
        runs.append((result.radius_curve, model.hidden[2].weight.clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_half_target_is_reached_from_above():
    x = torch.randn(1024, 32, generator=torch.Generator().manual_seed(0))
    model = DenseStack(32, 32, 6, 10, "sin", seed=0)
    result = pretrain_lsc(model, x, LSCSettings(target=0.5, epochs=40, batch_size=128), seed=0,
                          log=lambda _: None)
    assert abs(result.radius_after_mean - 0.5) < abs(result.radius_before_mean - 0.5)
    assert abs(result.radius_after_mean - 0.5) < 0.1
