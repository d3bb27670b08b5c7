"""A new task with a new dataset is its reader, its task module and its catalog entries, plus
its files' pins. A toy spike task on a toy dataset, registered in this test alone, goes
through the demo grid's machinery in-process: the demo data, fetch and prepare (the data
rules' scripts), the config, grid and spec checks of rules/common.smk, a pre-training and
two trainings (the job script), then the deep-RNN table, which titles it from its entry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lscrepro.catalog.datasets import Preparation
from lscrepro.catalog.tasks import TASKS, TaskEntry
from lscrepro.data.registry import DATASETS, FileSpec
from lscrepro.results.fig3 import rnn_runs
from lscrepro.results.rnn_table import rnn_table, table_markdown
from lscrepro.results.summary import summary
from lscrepro.tasks.sequences import load_task_data, on_device
from lscrepro.tasks.spikes import SPLITS, SpikeClassification
from lscrepro.workflow.configcheck import load_schema
from lscrepro.workflow.gridcheck import check_grid
from lscrepro.workflow.spec import FAMILIES, pretrain_runs, resolve_spec, train_runs
from lscrepro.workflow.speccheck import check_specs

from test_catalog import REPO, SCHEMA, demo_config, validated
from workflow_utils import load_script

CHANNELS, STEPS, CLASSES, SAMPLES = 6, 8, 2, 96
SPLIT_ROWS = {"train": (0, 64), "val": (64, 80), "test": (80, 96)}
FILES = {"spikes": "toy_spikes.npy", "labels": "toy_labels.npy"}


# --- the dataset: its files' maker for the demo data, its reader, its preparation ---
def write_toy_demo(data_dir) -> None:
    """Spikes over CHANNELS channels, denser on the first or second half by label."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, SAMPLES).astype(np.uint8)
    rates = np.where((np.arange(CHANNELS) < CHANNELS // 2) == (labels[:, None] == 0), 0.7, 0.1)
    spikes = (rng.random((SAMPLES, STEPS, CHANNELS)) < rates[:, None, :]).astype(np.uint8)
    np.save(Path(data_dir) / FILES["spikes"], spikes)
    np.save(Path(data_dir) / FILES["labels"], labels)


def read_toy(path) -> np.ndarray:
    return np.load(path)


def prepare_toy(files: dict, **_) -> tuple[dict, dict]:
    spikes, labels = read_toy(files["spikes"]), read_toy(files["labels"])
    arrays = {}
    for split, (begin, end) in SPLIT_ROWS.items():
        arrays[f"{split}_spikes"], arrays[f"{split}_labels"] = spikes[begin:end], labels[begin:end]
    return arrays, {"channels": CHANNELS, "num_classes": CLASSES, "steps": STEPS}


# --- the task ---
class ToySpikes(SpikeClassification):
    def __init__(self, spikes: dict, labels: dict, info: dict, timerepeat: int):
        super().__init__(labels, info, timerepeat)
        self.spikes = spikes

    @classmethod
    def from_config(cls, config: dict, data: dict, device) -> "ToySpikes":
        prepared = load_task_data(data)
        spikes = {s: on_device(prepared[f"{s}_spikes"], device).float() for s in SPLITS}
        labels = {s: on_device(prepared[f"{s}_labels"], device).long() for s in SPLITS}
        return cls(spikes, labels, prepared.info, config.get("timerepeat", 1))

    def inputs(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        return self.spikes[split][rows]


@pytest.fixture
def toy_registered(monkeypatch):
    """One catalog entry (the task, with its prepared data) and the pins: all a new task
    with a new dataset adds."""
    pins = tuple(FileSpec(name, filename, f"https://example.org/toy/{filename}", "0" * 64)
                 for name, filename in FILES.items())
    monkeypatch.setitem(DATASETS, "toy", pins)
    monkeypatch.setitem(TASKS, "toy_spikes", TaskEntry(
        "toy_spikes", ToySpikes, families=("rnn",), title="Toy task",
        metric="mode_accuracy", metric_title="accuracy (%)",
        data={"toy": Preparation(
            "toy", prepare_toy, canonical_info={"channels": CHANNELS, "num_classes": CLASSES, "steps": STEPS},
            canonical_sizes={s: end - begin for s, (begin, end) in SPLIT_ROWS.items()}, title="Toy",
            demo=write_toy_demo)}))


def _toy_config(tmp_path: Path) -> dict:
    """The demo grid with the toy task alone on the deep RNNs' grid (LSTM, no ρ = 0.5)."""
    config = demo_config(tasks=["toy_spikes"], nets=["LSTM"])
    config["rnn"]["variants"] = config["rnn"]["variants"][:2]
    config["rnn"]["overrides"].append({"when": {"task": "toy_spikes"},
                                       "set": {"train.batch_size": 16, "train.lr": 1.0e-2, "lsc.batch_size": 8}})
    config["data"] = {"dir": str(tmp_path / "data"), "demo": True, "offline": True}
    return {key: config[key] for key in ("prefix", "data", "fig1", "ffn", "rnn")}


def _run_data_rules(config: dict) -> None:
    """demo_data, fetch_dataset and prepare_dataset of rules/data.smk, by their scripts."""
    data_dir, results = config["data"]["dir"], f"results/{config['prefix']}"
    load_script("workflow_scripts/make_demo_data.py").main(["--data-dir", data_dir])
    load_script("workflow_scripts/fetch_dataset.py").main(["--dataset", "toy", "--data-dir", data_dir, "--offline",
                                   "--stamp", f"{results}/data/toy.json"])
    load_script("workflow_scripts/prepare_dataset.py").main(["--prepared", "toy", "--data-dir", data_dir, "--offline",
                                     "--out", f"{results}/prepared/toy"])


def _run_jobs(config: dict) -> tuple[list[Path], list[Path]]:
    """Every pre-training and training of the toy grid, by the job script; their reports."""
    family, job = FAMILIES["rnn"], load_script("workflow_scripts/job.py")
    root = Path(f"results/{config['prefix']}/rnn")
    reports = []
    for wildcards in pretrain_runs("rnn", config["rnn"]).to_dict("records"):
        out = root / family.pretrain_dir.format(**wildcards)
        spec = json.dumps(resolve_spec(config, "rnn", "pretrain", wildcards))
        job.main(["pretrain", "--spec", spec, "--weights", str(out / "weights.pt"), "--report",
                  str(out / "pretrain.json")])
        reports.append(out / "pretrain.json")
    metrics = []
    for wildcards in train_runs("rnn", config["rnn"]).drop(columns="pretrained").to_dict("records"):
        out, spec = root / family.train_dir.format(**wildcards), resolve_spec(config, "rnn", "train", wildcards)
        weights = str(root / family.pretrain_dir.format(**wildcards) / "weights.pt") if spec["pretrained"] else ""
        job.main(["train", "--spec", json.dumps(spec), "--weights", weights, "--metrics",
                  str(out / "metrics.json"), "--history", str(out / "history.csv")])
        metrics.append(out / "metrics.json")
    return reports, metrics


def test_a_toy_task_on_a_toy_dataset_runs_through_the_demo_grids_machinery(toy_registered, tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, schema = validated(_toy_config(tmp_path), tmp_path), load_schema(SCHEMA)
    check_grid("rnn", config["rnn"], schema)
    runs = {"pretrain": pretrain_runs("rnn", config["rnn"]), "train": train_runs("rnn", config["rnn"])}
    check_specs(config, schema, {"rnn": runs},
                lambda name, kind, wildcards: resolve_spec(config, name, kind, wildcards))

    _run_data_rules(config)
    assert "toy_spikes.npy" in (tmp_path / "data/registry.txt").read_text()
    assert json.loads(Path("results/demo/prepared/toy/meta.json").read_text())["info"]["steps"] == STEPS
    reports, metrics = _run_jobs(config)
    assert len(reports) == 1 and len(metrics) == 2
    assert json.loads(reports[0].read_text())["result"]["steps"] > 0

    table = rnn_table(rnn_runs(summary(metrics, reports, FAMILIES["rnn"].run_keys, FAMILIES["rnn"].pretrain_keys)))
    assert "| Toy task | accuracy (%) ↑ | 2 | LSTM |" in table_markdown(table)
