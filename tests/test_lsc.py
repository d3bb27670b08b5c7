"""LSC pre-training: reaches its target, on its own optimiser state, honestly measured,
resumable, stops on divergence; and the reference mode."""

import pytest
import torch

from lscrepro.lsc.loop import LSCRun, LSCSettings, measure_radii, pretrain_lsc
from lscrepro.models.dense import DenseStack
from lscrepro.optim import adabelief_lookahead, resync_slow_weights
from toy import CPU, quiet, toy_task


def gaussian_task(n=2048, d=64, seed=0):
    return toy_task(seed=seed, n=n, d=d, classes=10)


def pretrain(model, task, **settings):
    return pretrain_lsc(model, task, LSCSettings(**settings), seed=settings.pop("seed", 0), device=CPU,
                        log=quiet)


def test_pretraining_brings_depth10_sin_net_to_radius_one():
    task = gaussian_task()
    model = DenseStack(64, 32, 10, 10, "sin", seed=0)
    result = pretrain(model, task, epochs=60, batch_size=128)
    assert abs(result.radius_before_mean - 1) > 0.03
    assert abs(result.radius_after_mean - 1) < 0.05
    assert result.status == "converged"
    # the model holds the weights that were measured
    after = measure_radii(model.lsc_sites(), [task.x["test"][:256]], "ritz")[0]
    assert abs(after - 1) < 0.06
    assert len(result.loss_curve) == len(result.radius_curve) == result.steps > 0


def test_pretraining_is_deterministic_for_a_seed():
    task = toy_task(n=512, d=16)
    runs = []
    for _ in range(2):
        model = DenseStack(16, 16, 4, 3, "relu", seed=1)
        result = pretrain(model, task, epochs=3, batch_size=64)
        runs.append((result.radius_curve, model.hidden[2].weight.clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_half_target_is_reached_from_above():
    task = gaussian_task(n=1024, d=32)
    model = DenseStack(32, 32, 6, 10, "sin", seed=0)
    result = pretrain(model, task, target=0.5, epochs=40, batch_size=128)
    assert abs(result.radius_after_mean - 0.5) < abs(result.radius_before_mean - 0.5)
    assert abs(result.radius_after_mean - 0.5) < 0.1


def test_a_rescale_survives_the_next_lookahead_sync():
    weight = torch.nn.Parameter(torch.ones(4, 4))
    optimizer = adabelief_lookahead([weight], lr=1e-12, sync_period=6)
    for _ in range(3):  # some steps, so the slow copy dates from before the rescale
        weight.grad = torch.ones_like(weight)
        optimizer.step()
    with torch.no_grad():
        weight.mul_(1.15)
    resync_slow_weights(optimizer)
    for _ in range(3):  # reaches the sync at step 6
        weight.grad = torch.ones_like(weight)
        optimizer.step()
    torch.testing.assert_close(weight.detach(), torch.full((4, 4), 1.15), rtol=1e-6, atol=0)


def test_each_site_has_its_own_optimiser_and_heuristic_edits_resync_it():
    model = DenseStack(16, 16, 4, 3, "sin", seed=0)
    run = LSCRun(model, toy_task(n=256, d=16), LSCSettings(batch_size=64, rescale_probability=1.0,
                                                           shuffle=False), 0, CPU, quiet)
    run.measure_before()
    x = next(run.task.lsc_inputs(64, run.generator))
    for _ in range(8):
        run.step(x)
    assert set(run.optimizers) == set(run.active)
    for index, optimizer in run.optimizers.items():
        weight = run.sites[index].params[0]
        assert all(p in dict.fromkeys(run.sites[index].params) for g in optimizer.param_groups for p in g["params"])
        torch.testing.assert_close(optimizer.state[weight]["slow_params"], weight.detach())


def test_before_and_after_radii_are_measured_on_validation_inputs():
    task = toy_task(n=512, d=16)
    model = DenseStack(16, 16, 4, 3, "sin", seed=0)
    initial = DenseStack(16, 16, 4, 3, "sin", seed=0)
    result = pretrain(model, task, epochs=1, batch_size=64, measure_batches=1)
    run = LSCRun(initial, task, LSCSettings(batch_size=64, measure_batches=1), 0, CPU, quiet)
    val = set(map(tuple, task.x["val"].tolist()))
    assert all(tuple(row) in val for row in run.measure[0].tolist())
    assert result.radius_before_mean == measure_radii(initial.lsc_sites(), run.measure, "ritz")[0]
    assert result.radius_after_mean == measure_radii(model.lsc_sites(), run.measure, "ritz")[0]


def test_a_non_finite_radius_ends_pretraining_as_diverged():
    task = toy_task(n=512, d=16)
    model = DenseStack(16, 16, 4, 3, "sin", seed=0)
    with torch.no_grad():
        for layer in model.hidden:
            layer.weight.fill_(float("nan"))
    result = pretrain(model, task, epochs=5, batch_size=64)
    assert result.status == "diverged"
    assert result.steps == 0 and result.epochs_run == 1


class Interrupt(Exception):
    pass


def test_an_interrupted_pretraining_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    task = toy_task(n=512, d=16)
    settings = dict(epochs=4, batch_size=64, tolerance=1e-9)

    def go(checkpoint=None, log=quiet):
        model = DenseStack(16, 16, 4, 3, "relu", seed=1)
        result = pretrain_lsc(model, task, LSCSettings(**settings), seed=0, device=CPU,
                              checkpoint=checkpoint, fingerprint="run", log=log)
        return result, model

    full, full_model = go()

    def interrupt(line):
        if line.startswith("LSC epoch 3"):
            raise Interrupt

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        go(ckpt, interrupt)
    resumed, resumed_model = go(ckpt)
    assert resumed.resumed_from_epoch == 2
    assert resumed.radius_curve == full.radius_curve
    assert resumed.radius_after_mean == full.radius_after_mean
    for a, b in zip(full_model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)


def test_reference_mode_trains_every_site_and_shuffles_every_weight():
    task = toy_task(n=512, d=16)
    fixed, reference = (DenseStack(16, 16, 4, 3, "sin", seed=0) for _ in range(2))
    readout = reference.readout.weight.detach().clone()
    pretrain(fixed, task, epochs=3, batch_size=64)
    result = pretrain(reference, task, epochs=3, batch_size=64, mode="reference", shuffle_probability=1.0)
    assert torch.equal(fixed.readout.weight, readout)  # the default leaves end blocks alone
    assert not torch.equal(reference.readout.weight, readout)
    assert result.steps > 0 and result.status in ("converged", "not_converged")


def test_the_model_ends_holding_the_best_weights_found():
    task = toy_task(n=512, d=16)
    model = DenseStack(16, 16, 4, 3, "relu", seed=1)
    run = LSCRun(model, task, LSCSettings(batch_size=64, tolerance=1e-9), 0, CPU, quiet)
    run.measure_before()
    for _ in range(3):
        run.run_epoch()
    best = {k: v.clone() for k, v in run.best["state"].items()}
    assert any(not torch.equal(best[k], v) for k, v in model.state_dict().items())  # it moved on
    run.finish()
    for name, value in model.state_dict().items():
        assert torch.equal(value, best[name])


def test_the_lsc_modules_import_no_cycle_and_share_one_driver():
    """reference.py is a variant loop.py registers (MODES), not a module that imports it back."""
    import ast
    from pathlib import Path

    import lscrepro.lsc as package
    from lscrepro.lsc.loop import MODES
    from lscrepro.lsc.reference import ReferenceRules

    folder = Path(package.__file__).parent
    graph = {f.stem: {n.module.split(".")[0] for n in ast.walk(ast.parse(f.read_text()))
                      if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module}
             for f in folder.glob("*.py")}

    def reaches(start, goal, seen=()):
        return any(m == goal or (m not in seen and reaches(m, goal, (*seen, m))) for m in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m)]
    assert issubclass(MODES["reference"], ReferenceRules) and issubclass(MODES["reference"], LSCRun)
    assert all("driver" in graph[m] for m in ("loop", "recurrent", "lru"))
