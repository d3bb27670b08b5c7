"""The training loop: metrics, early stopping, resume (same run only), divergence, clipping."""

import math

import pytest
import torch

from lscrepro.checkpoint import fingerprint
from lscrepro.training import TrainSettings, clip_gradients, train
from toy import CPU, Interrupt, interrupt_after, quiet, toy_net, toy_task


def run(settings, task=None, net=None, **kwargs):
    return train(net or toy_net(), task or toy_task(), settings, seed=kwargs.pop("seed", 0), device=CPU,
                 log=kwargs.pop("log", quiet), **kwargs)


def test_learns_and_reports_validation_and_test_metrics_every_epoch():
    result = run(TrainSettings(lr=1e-2, epochs=8, batch_size=64))
    assert result.status == "completed"
    assert result.test["accuracy"] > 0.8
    assert len(result.history) == result.epochs_run == 8
    assert {"val_loss", "val_accuracy", "test_loss", "test_accuracy"} <= set(result.history[0])
    best = result.history[result.best_epoch - 1]
    assert result.test == {"loss": best["test_loss"], "accuracy": best["test_accuracy"]}



def test_an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    settings = TrainSettings(lr=1e-3, epochs=6, batch_size=64)
    full = run(settings, seed=3)
    ckpt = tmp_path / "checkpoint.pt"
    print_ = fingerprint({"lr": 1e-3}, toy_net().state_dict())
    with pytest.raises(Interrupt):  # killed during epoch 4, after epoch 3's checkpoint
        run(settings, seed=3, checkpoint=ckpt, fingerprint=print_, log=interrupt_after(4))
    resumed = run(settings, seed=3, checkpoint=ckpt, fingerprint=print_)
    assert resumed.resumed_from_epoch == 3
    assert resumed.history == full.history
    assert resumed.test == full.test


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    settings = TrainSettings(lr=1e-3, epochs=6, batch_size=64)
    with pytest.raises(Interrupt):
        run(settings, checkpoint=ckpt, fingerprint="old settings", log=interrupt_after(4))
    lines = []
    fresh = run(settings, checkpoint=ckpt, fingerprint="new settings", log=lines.append)
    assert fresh.resumed_from_epoch == 0
    assert any("belongs to another run" in line for line in lines)
    assert fresh.history == run(settings).history


def test_an_unreadable_checkpoint_means_a_fresh_start(tmp_path):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"not a checkpoint")
    lines = []
    result = run(TrainSettings(lr=1e-3, epochs=2, batch_size=64), checkpoint=ckpt, log=lines.append)
    assert result.resumed_from_epoch == 0 and any("unreadable" in line for line in lines)


def test_early_stopping_restores_the_best_epochs_weights():
    task = toy_task()
    # validation labels unrelated to the inputs: fitting the training set makes the
    # validation loss rise, so patience runs out
    task.y["val"] = torch.randint(3, task.y["val"].shape, generator=torch.Generator().manual_seed(9))
    net, states = toy_net(), {}

    def log(line):  # weights at the end of each epoch, to compare with what is restored
        states[int(line.split(":")[0].split()[1])] = {k: v.clone() for k, v in net.state_dict().items()}

    result = run(TrainSettings(lr=3e-2, epochs=200, batch_size=64, patience=3), task=task, net=net, log=log)
    assert result.status == "early_stopped"
    val = [row["val_loss"] for row in result.history]
    assert result.best_epoch == val.index(min(val)) + 1
    assert result.epochs_run == result.best_epoch + 3
    for name, value in net.state_dict().items():
        assert torch.equal(value, states[result.best_epoch][name])
    assert not torch.equal(net.hidden[0].weight, states[result.epochs_run]["hidden.0.weight"])


def test_divergence_ends_normally_with_status_diverged():
    task = toy_task()
    task.x["train"] = task.x["train"] * 1e30  # logits overflow to inf -> non-finite loss
    result = run(TrainSettings(lr=1.0, epochs=5, batch_size=64), task=task)
    assert result.status == "diverged"


def test_divergence_after_some_epochs_reports_the_best_epochs_metrics():
    task = toy_task()
    state = {"epoch": 0}
    original = task.train_batches

    def batches(batch_size, generator):  # from epoch 3 on, the inputs are NaN
        state["epoch"] += 1
        for x, y in original(batch_size, generator):
            yield (x * float("nan") if state["epoch"] >= 3 else x), y

    task.train_batches = batches
    result = run(TrainSettings(lr=1e-2, epochs=6, batch_size=64), task=task)
    assert result.status == "diverged"
    assert result.epochs_run == 2 and result.best_epoch in (1, 2)
    best = result.history[result.best_epoch - 1]
    assert result.test["accuracy"] == best["test_accuracy"] > 0.5
    assert result.val["loss"] == best["val_loss"]


@pytest.mark.parametrize("mode", ["per_tensor", "global"])
def test_clipping_is_applied_when_the_gradient_norm_exceeds_it(mode):
    task = toy_task()
    task.x["train"] = task.x["train"] * 50  # large gradients
    settings = dict(lr=1e-2, epochs=1, batch_size=600)
    nets = {}
    for clip in (None, 1.0, 1e6):
        nets[clip] = toy_net()
        run(TrainSettings(**settings, clip_norm=clip, clip_mode=mode), task=task, net=nets[clip])
    assert not torch.equal(nets[None].hidden[0].weight, nets[1.0].hidden[0].weight)
    assert torch.equal(nets[None].hidden[0].weight, nets[1e6].hidden[0].weight)
    # the reference's behaviour: clip_norm recorded, not applied; 0 means no clipping
    for settings_of_none in (dict(clip_norm=1.0, clip_mode="ignored"), dict(clip_norm=0.0)):
        net = toy_net()
        run(TrainSettings(**settings, **settings_of_none), task=task, net=net)
        assert torch.equal(nets[None].hidden[0].weight, net.hidden[0].weight)


def test_clip_modes_bound_each_gradient_or_their_joint_norm():
    def gradients(mode):
        net = toy_net()
        for p in net.parameters():
            p.grad = torch.full_like(p, 3.0)
        clip_gradients(net.parameters(), TrainSettings(lr=1.0, clip_norm=1.0, clip_mode=mode))
        return [p.grad.norm().item() for p in net.parameters()]

    assert max(gradients("per_tensor")) == pytest.approx(1.0) and min(gradients("per_tensor")) > 0.99
    assert math.sqrt(sum(g * g for g in gradients("global"))) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="clip_mode"):
        TrainSettings(lr=1.0, clip_mode="keras")


def test_the_task_is_told_each_epoch_also_after_a_resume(tmp_path):
    seen = []
    task = toy_task()
    task.set_epoch = seen.append
    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        run(TrainSettings(lr=1e-2, epochs=4, batch_size=100), task=task, checkpoint=checkpoint,
            fingerprint="a", log=interrupt_after(2))
    run(TrainSettings(lr=1e-2, epochs=4, batch_size=100), task=task, checkpoint=checkpoint, fingerprint="a")
    # interrupted in epoch 2 (index 1) before its checkpoint: the rerun redoes it
    assert seen == [0, 1, 1, 2, 3]


def test_max_seconds_is_wall_time_in_total_across_resumes(tmp_path, monkeypatch):
    """A fake clock: 10 s per epoch, cap 35 s. Uninterrupted, the reference's rule stops after
    epoch 3 (30 + 10 >= 35). Killed in epoch 2 and resumed in a new process (its clock elsewhere),
    the run counts epoch 1's 10 s from its checkpoint and stops after epoch 3 too, reporting
    30 s; a clock that restarted on resume would run epoch 4 (20 s + 10 s < 35 s after epoch 3)."""
    import lscrepro.training as training

    class Clock:  # training.py's time module
        now = 0.0

        @classmethod
        def perf_counter(cls):
            return cls.now

    def ticking(then=quiet):
        def log(line):
            if line.startswith("epoch "):
                Clock.now += 10.0
            then(line)
        return log

    monkeypatch.setattr(training, "time", Clock)
    settings = TrainSettings(lr=1e-2, epochs=10, batch_size=200, patience=100, max_seconds=35.0)
    full = run(settings, log=ticking())
    assert (full.status, full.epochs_run, full.seconds) == ("time_limit", 3, 30.0)

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):  # killed in epoch 2, after epoch 1's checkpoint (10 s)
        run(settings, checkpoint=ckpt, fingerprint="a", log=ticking(interrupt_after(2)))
    saved = torch.load(ckpt, weights_only=False)
    assert saved["run"]["seconds"] == 10.0
    Clock.now = 5000.0
    resumed = run(settings, checkpoint=ckpt, fingerprint="a", log=ticking())
    assert resumed.resumed_from_epoch == 1
    assert (resumed.status, resumed.epochs_run, resumed.seconds) == ("time_limit", 3, 30.0)
    assert resumed.history == full.history

    # a checkpoint from before the time record: counted from the resume (epochs 2-4: 30 s)
    for key in ("seconds", "timed_from_epoch"):
        del saved["run"][key]
    torch.save(saved, ckpt)
    legacy = run(settings, checkpoint=ckpt, fingerprint="a", log=ticking())
    assert (legacy.resumed_from_epoch, legacy.epochs_run, legacy.seconds) == (1, 4, 30.0)
