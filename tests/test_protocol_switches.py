"""The reference's protocol as the default, each with a switch back to this port's earlier
rule (issue 24, item 4; docs/deviations.md): the learning-rate schedule in the training loop
and the time cap. (The schedule's values: tests/test_golden_lr_schedule.py.)"""

from __future__ import annotations

import pytest
import torch

from lscrepro.training import TrainSettings, past_time_cap, train
from toy import CPU, Interrupt, interrupt_after, quiet, toy_net, toy_task


def _rates(settings, **kwargs):
    """The learning rate of every optimiser step of a training run, read as the step uses it."""
    import lscrepro.training as training

    seen = []
    original = training.set_learning_rate

    def spy(optimizer, lr):
        original(optimizer, lr)
        seen.append(optimizer.param_groups[0]["lr"])

    training.set_learning_rate = spy
    try:
        result = train(toy_net(), toy_task(), settings, seed=0, device=CPU, log=kwargs.pop("log", quiet),
                       **kwargs)
    finally:
        training.set_learning_rate = original
    return seen, result


def test_the_cosine_schedule_runs_over_epochs_times_steps_and_a_constant_one_does_not_move():
    settings = TrainSettings(lr=3e-2, epochs=4, batch_size=64, patience=100, lr_schedule="cosine_no_restarts")
    rates, result = _rates(settings)
    steps_per_epoch = -(-600 // 64)  # the toy task's 600 training samples
    assert len(rates) == result.epochs_run * steps_per_epoch == 40
    decay_steps = max(int(40 / 6.5), 2)  # 6
    assert rates[0] == pytest.approx(3e-2)
    assert all(a > b for a, b in zip(rates[:decay_steps], rates[1:decay_steps + 1]))
    assert rates[decay_steps:] == pytest.approx([3e-3] * (40 - decay_steps))
    constant, _ = _rates(TrainSettings(lr=3e-2, epochs=2, batch_size=64))
    assert constant == [3e-2] * 20


def test_a_resumed_run_continues_the_schedule_where_it_stopped(tmp_path):
    settings = TrainSettings(lr=3e-2, epochs=5, batch_size=64, patience=100, lr_schedule="cosine_no_restarts")
    full, whole = _rates(settings)
    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):  # killed during epoch 3, after epoch 2's checkpoint
        _rates(settings, checkpoint=ckpt, fingerprint="same", log=interrupt_after(3))
    resumed, result = _rates(settings, checkpoint=ckpt, fingerprint="same")
    assert result.resumed_from_epoch == 2
    assert resumed == full[20:]
    assert result.history == whole.history


@pytest.mark.parametrize("elapsed, epochs, next_epoch, passed", [
    (40.0, 1, False, False),   # one more 40 s epoch ends at 80 < 100
    (50.0, 1, True, False),    # ... at 100: the reference stops (>=), the earlier rule goes on
    (60.0, 2, False, False),   # 30 s epochs: 90 < 100
    (70.0, 2, True, False),    # 35 s epochs: 105
    (101.0, 4, True, True),    # past the cap: both stop
])
def test_the_time_cap_rules(elapsed, epochs, next_epoch, passed):
    reference = TrainSettings(lr=1e-3, max_seconds=100.0)
    assert reference.time_cap_rule == "next_epoch"
    assert past_time_cap(reference, elapsed, epochs) is next_epoch
    assert past_time_cap(TrainSettings(lr=1e-3, max_seconds=100.0, time_cap_rule="passed"), elapsed, epochs) is passed
    assert not past_time_cap(TrainSettings(lr=1e-3), 1e9, 1)


def test_training_stops_before_an_epoch_that_would_end_past_the_cap(monkeypatch):
    """Each epoch takes 10 s of a fake clock; cap 35 s. The reference stops after epoch 3
    (30 + 10 >= 35), the earlier rule after epoch 4 (40 > 35)."""
    import lscrepro.training as training

    class Clock:  # training.py's time module: 10 s pass with each epoch logged
        now = 0.0

        @classmethod
        def perf_counter(cls):
            return cls.now

    def run(rule):
        Clock.now, lines = 0.0, []

        def log(line):
            lines.append(line)
            if line.startswith("epoch "):
                Clock.now += 10.0

        monkeypatch.setattr(training, "time", Clock)
        settings = TrainSettings(lr=1e-2, epochs=10, batch_size=64, patience=100, max_seconds=35.0,
                                 time_cap_rule=rule)
        return train(toy_net(), toy_task(), settings, seed=0, device=CPU, log=log), lines

    reference, lines = run("next_epoch")
    assert reference.status == "time_limit" and reference.epochs_run == 3
    assert any("next_epoch" in line and "time_limit" in line for line in lines)
    earlier, _ = run("passed")
    assert earlier.status == "time_limit" and earlier.epochs_run == 4
    with pytest.raises(ValueError, match="time_cap_rule"):
        TrainSettings(lr=1e-3, time_cap_rule="after")


def _sl_mnist(evaluation="reference", eval_batch_size=8, sizes=(40, 30, 20)):
    from lscrepro.tasks.spikes import SpikeLatencyMNIST

    g = torch.Generator().manual_seed(0)
    splits = dict(zip(("train", "val", "test"), sizes))
    latencies = {s: torch.randint(0, 256, (n, 784), generator=g, dtype=torch.int64).to(torch.uint8)
                 for s, n in splits.items()}
    labels = {s: torch.arange(n) for s, n in splits.items()}  # label = row: the batches name their rows
    info = {"channels": 784, "num_classes": 100, "steps": 100}
    return SpikeLatencyMNIST(latencies, labels, info, timerepeat=1, eval_batch_size=eval_batch_size,
                             evaluation=evaluation)


def _rows(task, split):
    return [y[:, 0].tolist() for _, y in task.eval_batches(split)]


def test_sl_mnist_evaluation_draws_int_n_over_b_batches_with_replacement_seeded_by_run_epoch_and_split():
    task = _sl_mnist()
    torch.manual_seed(5)
    val = _rows(task, "val")
    assert [len(b) for b in val] == [8, 8, 8]  # int(30 / 8) batches of 8
    drawn = sum(_rows(_sl_mnist(eval_batch_size=10), "val"), [])
    assert len(drawn) == 30 and len(set(drawn)) < 30  # with replacement: 30 draws of 30 repeat some
    assert _rows(task, "val") == val  # the same run, epoch and split: the same samples
    test = _rows(task, "test")
    assert len(test) == 2 and set(sum(test, [])) <= set(range(20))
    task.set_epoch(1)
    assert _rows(task, "val") != val  # a fresh draw at every epoch's evaluation
    task.set_epoch(0)
    torch.manual_seed(6)
    assert _rows(task, "val") != val  # another run seed
    assert len(_rows(_sl_mnist(eval_batch_size=64), "test")) == 1  # N < B: one batch of B


def test_sl_mnist_full_evaluation_reads_every_sample_once():
    task = _sl_mnist("full")
    assert sorted(sum(_rows(task, "val"), [])) == list(range(30))
    assert task.evaluation == "full" and _sl_mnist().evaluation == "reference"
    with pytest.raises(ValueError, match="evaluation"):
        _sl_mnist("all")
