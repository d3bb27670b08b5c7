"""The deep-RNN family end to end on the demo data of its three tasks: each task built
from its prepared cache gives the model its sizes and batches of the right shapes, each
network trains on it, and an interrupted run resumes to where an uninterrupted one ends."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lscrepro.data import write_demo_data
from lscrepro.data.prepared import prepare
from lscrepro.models import build_model
from lscrepro.tasks import build_task
from lscrepro.training import TrainSettings, train
from toy import CPU, Interrupt, interrupt_after, quiet

TASKS = {
    "wordptb": ({"name": "wordptb", "maxlen": 10, "timerepeat": 2, "eval_batch_size": 8}, "ptb"),
    "heidelberg": ({"name": "heidelberg", "timerepeat": 2}, "shd"),
    "sl_mnist": ({"name": "sl_mnist", "timerepeat": 2, "encoding": "transpose"}, "sl_mnist"),
}


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> dict[str, Path]:
    data = tmp_path_factory.mktemp("data")
    write_demo_data(data)
    out = tmp_path_factory.mktemp("prepared")
    return {name: prepare(name, data, out / name) for name in ("ptb", "shd", "sl_mnist")}


def _task(name: str, caches):
    config, prepared = TASKS[name]
    return build_task(config, {"cache": str(caches[prepared])}, CPU)


@pytest.mark.parametrize("name, x_shape, x_dtype, dims", [
    ("wordptb", (8, 20), torch.int64, {"vocab_size": None, "steps": 20}),
    ("heidelberg", (8, 500, 700), torch.float32, {"in_features": 700, "num_classes": 20, "steps": 500}),
    ("sl_mnist", (8, 200, 784), torch.float32, {"in_features": 784, "num_classes": 10, "steps": 200}),
])
def test_each_task_reads_its_demo_cache_to_batches_of_the_right_shape(caches, name, x_shape, x_dtype, dims):
    task = _task(name, caches)
    x, y = next(iter(task.train_batches(8, torch.Generator().manual_seed(0))))
    assert x.shape == x_shape and x.dtype == x_dtype and y.shape == x_shape[:2]
    for key, value in dims.items():
        assert task.dims[key] == value if value is not None else task.dims[key] > 100
    for split in ("val", "test"):
        xe, ye = next(iter(task.eval_batches(split)))
        assert xe.shape[1:] == x_shape[1:] and ye.shape[1] == x_shape[1]


def _settings(**kwargs):
    return TrainSettings(**{"lr": 3e-3, "epochs": 3, "batch_size": 8, "steps_per_epoch": 4,
                            "weight_decay": 0.0, **kwargs})


@pytest.mark.parametrize("task_name", ["wordptb", "heidelberg", "sl_mnist"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"])
def test_every_network_trains_on_every_task(caches, task_name, cell):
    task = _task(task_name, caches)
    model = build_model({"name": "rnn", "cell": cell, "depth": 2, "width": 8, "dropout": 0.3}, task.dims, seed=0)
    result = train(model, task, _settings(epochs=1), seed=0, device=CPU, log=quiet)
    assert result.status == "completed" and result.epochs_run == 1
    assert set(result.test) == set(task.metrics)


@pytest.mark.parametrize("task_name, cell", [("wordptb", "LSTM"), ("heidelberg", "maLSNN")])
def test_a_resumed_rnn_run_ends_where_an_uninterrupted_one_does(caches, tmp_path, task_name, cell):
    config = {"name": "rnn", "cell": cell, "depth": 2, "width": 8, "dropout": 0.3}

    def run(**kwargs):
        task = _task(task_name, caches)
        model = build_model(config, task.dims, seed=1)
        return train(model, task, _settings(), seed=1, device=CPU, **{"log": quiet, **kwargs})

    full = run()
    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):  # killed during epoch 2, after epoch 1's checkpoint
        run(checkpoint=ckpt, fingerprint="same run", log=interrupt_after(2))
    resumed = run(checkpoint=ckpt, fingerprint="same run")
    assert resumed.resumed_from_epoch == 1
    assert resumed.history == full.history and resumed.test == full.test


def test_a_job_past_its_wall_clock_cap_stops_after_the_epoch(caches):
    task = _task("heidelberg", caches)
    model = build_model({"name": "rnn", "cell": "GRU", "depth": 2, "width": 8}, task.dims, seed=0)
    result = train(model, task, _settings(max_seconds=1e-6), seed=0, device=CPU, log=quiet)
    assert result.status == "time_limit" and result.epochs_run == 1 and result.best_epoch == 1
