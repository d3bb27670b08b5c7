"""Status: per-job states read from a fake results tree of the demo grid, the per-family
counts, the CSV the command writes, and the config merge."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lscrepro.workflow.status import STATES, load_config, run_status, summary_table
from workflow_utils import REPO

SMOKE = str(REPO / "config/smoke.yaml")
BASE = REPO / "config/config.yaml"


def _metrics(root: Path, folder: str, status: str) -> None:
    out = root / "results/demo/ffn" / folder
    out.mkdir(parents=True, exist_ok=True)
    result = {"status": status, "best_epoch": 3, "test": {"accuracy": 0.5, "loss": 1.0}, "val": {}}
    (out / "metrics.json").write_text(json.dumps({"run": {}, "settings": {}, "result": result}))
    (out / "history.csv").write_text("epoch\n1\n")


def _pretrain(root: Path, folder: str, status: str, radius: float, selected_step: int = 30) -> None:
    out = root / "results/demo/ffn/pretrained" / folder
    out.mkdir(parents=True, exist_ok=True)
    report = {"run": {}, "settings": {}, "resolved": {"lsc": {"target": 1.0, "tolerance": 0.02}},
              "result": {"status": status, "radius_after_mean": radius, "steps": 40,
                         "selected_step": selected_step}}
    (out / "pretrain.json").write_text(json.dumps(report, allow_nan=True))
    (out / "weights.pt").write_bytes(b"")


def _touch(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path):
    """The demo grid (72 training and 12 pre-training jobs) with a few of each state."""
    _metrics(tmp_path, "mnist/relu/glorot/lr0.01/seed0", "completed")
    _metrics(tmp_path, "mnist/relu/he/lr0.01/seed0", "early_stopped")
    _metrics(tmp_path, "mnist/relu/lsc/lr0.01/seed0", "completed")
    _metrics(tmp_path, "mnist/cos/he/lr0.01/seed1", "diverged")
    _touch(tmp_path / "logs/demo/ffn/cifar10/relu/glorot/lr0.001/seed0/train.log", "epoch 1: ...\nRuntimeError: boom\n\n")
    # a checkpoint and a log: interrupted or running, not failed
    _touch(tmp_path / "results/demo/ffn/cifar10/cos/glorot/lr0.01/seed1/checkpoint.pt")
    _touch(tmp_path / "logs/demo/ffn/cifar10/cos/glorot/lr0.01/seed1/train.log", "epoch 1: ...\n")
    _touch(tmp_path / "results/demo/ffn/cifar100/cos/he/lr0.001/seed1/metrics.json", "{")  # unreadable
    _touch(tmp_path / "results/demo/ffn/cifar100/cos/he/lr0.001/seed1/history.csv")
    _pretrain(tmp_path, "mnist/relu/lsc/seed0", "converged", 0.99)
    _pretrain(tmp_path, "mnist/cos/lsc/seed0", "converged", 1.05)  # radius outside tolerance
    _pretrain(tmp_path, "cifar10/relu/lsc/seed0", "not_converged", 1.0, selected_step=0)
    _pretrain(tmp_path, "cifar100/relu/lsc/seed1", "diverged", math.nan)
    _touch(tmp_path / "results/demo/figures/fig1.pdf")
    _touch(tmp_path / "results/demo/figures/fig1.png")
    _touch(tmp_path / "results/demo/figures/fig2.pdf")  # its png and data are missing
    return tmp_path


@pytest.fixture
def smoke():
    """The demo grid's FFN family (the tree above); the deep RNNs have their own test."""
    config = load_config([SMOKE], base=BASE)
    del config["rnn"], config["lru"]
    return config


def test_the_deep_rnn_family_and_figure_3_are_listed(tree):
    jobs = run_status(load_config([SMOKE], base=BASE), tree)
    rnn = jobs[jobs["family"] == "rnn"]
    assert (rnn["kind"] == "pretrain").sum() == 36 and (rnn["kind"] == "train").sum() == 54
    assert set(rnn["state"]) == {"not_run"}
    waiting = rnn[(rnn["kind"] == "train") & (rnn["variant"] != "default")]
    assert (waiting["detail"] == "waits for its pre-training (not_run)").all()
    assert jobs[jobs["family"] == "Figure 3"]["state"].tolist() == ["not_run"]


def _state(jobs: pd.DataFrame, path: str) -> tuple[str, str]:
    row = jobs[jobs["path"] == path]
    assert len(row) == 1, path
    return row["state"].item(), row["detail"].item()


def test_each_job_gets_its_state(tree, smoke):
    jobs = run_status(smoke, tree)
    assert len(jobs) == 72 + 12 + 2
    assert list(jobs.columns) == ["family", "kind", "dataset", "activation", "variant", "lr", "seed",
                                  "path", "state", "detail", "kept_initial"]
    assert set(jobs["state"]) <= set(STATES)
    train = "results/demo/ffn/{}/metrics.json".format
    assert _state(jobs, train("mnist/relu/he/lr0.01/seed0"))[0] == "done"
    assert _state(jobs, train("mnist/cos/he/lr0.01/seed1"))[0] == "diverged"
    state, detail = _state(jobs, train("cifar10/relu/glorot/lr0.001/seed0"))
    assert state == "failed" and detail.endswith("train.log: RuntimeError: boom")
    assert _state(jobs, train("cifar10/cos/glorot/lr0.01/seed1"))[0] == "incomplete"
    state, detail = _state(jobs, train("cifar100/cos/he/lr0.001/seed1"))
    assert state == "failed" and detail.startswith("unreadable metrics.json")
    # LSC runs whose pre-training is missing say so; one whose weights exist does not
    assert _state(jobs, train("mnist/relu/lsc/lr0.001/seed1")) == ("not_run", "waits for its pre-training (not_run)")
    assert _state(jobs, train("mnist/relu/lsc/lr0.001/seed0")) == ("not_run", "")
    pretrain = "results/demo/ffn/pretrained/{}/pretrain.json".format
    assert _state(jobs, pretrain("mnist/relu/lsc/seed0"))[0] == "converged"
    state, detail = _state(jobs, pretrain("mnist/cos/lsc/seed0"))
    assert state == "not_converged" and "> tolerance 0.02" in detail
    state, detail = _state(jobs, pretrain("cifar10/relu/lsc/seed0"))
    assert state == "not_converged" and detail.endswith("; kept its initial weights after 40 steps")
    assert jobs["kept_initial"].sum() == 1
    assert _state(jobs, pretrain("cifar100/relu/lsc/seed1"))[0] == "diverged"
    pretrain_row = jobs[jobs["path"] == pretrain("mnist/relu/lsc/seed0")].iloc[0]
    assert pretrain_row[["dataset", "activation", "variant", "seed"]].tolist() == ["mnist", "relu", "lsc", "0"]
    assert pd.isna(pretrain_row["lr"])


def test_counts_per_family_kind_and_figure(tree, smoke):
    table = summary_table(run_status(smoke, tree))
    assert list(table.columns) == [*STATES, "kept_initial", "total"]
    assert table.index.tolist() == [("ffn", "pretrain"), ("ffn", "train"),
                                     ("Figure 1", "figure"), ("Figure 2", "figure")]
    counts = {key: {state: n for state, n in row.items() if n} for key, row in table.iterrows()}
    assert counts == {
        ("ffn", "pretrain"): {"converged": 1, "not_converged": 2, "diverged": 1, "not_run": 8, "kept_initial": 1,
                              "total": 12},
        ("ffn", "train"): {"done": 3, "diverged": 1, "failed": 2, "incomplete": 1, "not_run": 65, "total": 72},
        ("Figure 1", "figure"): {"done": 1, "total": 1},
        ("Figure 2", "figure"): {"incomplete": 1, "total": 1},
    }


def test_only_the_families_in_the_config(tree, smoke):
    del smoke["ffn"]
    jobs = run_status(smoke, tree)
    assert jobs["family"].tolist() == ["Figure 1"] and jobs["state"].tolist() == ["done"]


def _script():
    spec = importlib.util.spec_from_file_location("status_cli", REPO / "workflow_scripts/status.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_prints_counts_and_writes_the_csv(tree, capsys):
    shutil.copytree(REPO / "config", tree / "config")
    assert _script().main(["-d", str(tree), "--configfile", SMOKE, "--failed"]) == 0
    printed = capsys.readouterr().out
    assert "not_converged" in printed and "RuntimeError: boom" in printed
    jobs = pd.read_csv(tree / "results/demo/status.csv", dtype=str, keep_default_na=False)
    # the FFN tree above, the deep RNNs' 36 + 54 jobs and Figure 3, the ResLRU's 6 + 16 jobs,
    # Figure 4 and Table 1, none run yet
    assert len(jobs) == 86 + 36 + 54 + 1 + 6 + 16 + 2
    assert jobs["state"].value_counts().to_dict() == {
        "not_run": 73 + 91 + 24, "done": 4, "not_converged": 2, "diverged": 2, "failed": 2, "incomplete": 2, "converged": 1}
    assert not list((tree / "results/demo").glob(".status.csv.*"))  # no temp file left


def test_the_command_prints_the_claims_verdicts_once_they_exist(tree, capsys):
    shutil.copytree(REPO / "config", tree / "config")
    _script().main(["-d", str(tree), "--configfile", SMOKE])
    assert "claims (" not in capsys.readouterr().out
    pd.DataFrame({"verdict": ["holds", "inconclusive", "inconclusive", "not run"]}).to_csv(
        tree / "results/demo/claims.csv", index=False)
    _script().main(["-d", str(tree), "--configfile", SMOKE])
    assert "holds 1, does not hold 0, inconclusive 2, not run 1" in capsys.readouterr().out


def test_the_command_imports_neither_torch_nor_snakemake(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copy(BASE, tmp_path / "config/config.yaml")
    script = REPO / "workflow_scripts/status.py"
    code = (f"import runpy, sys\nsys.argv = [{str(script)!r}, '-d', {str(tmp_path)!r}]\n"
            f"try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n"
            f"    assert not e.code\n"
            f"assert not {{'torch', 'snakemake'}} & set(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    jobs = pd.read_csv(tmp_path / "results/status.csv")
    # FFN, deep-RNN and ResLRU pre-trainings and trainings, Figures 1 to 4 and Table 1
    assert len(jobs) == 36 + 756 + 288 + 432 + 48 + 128 + 5 and set(jobs["state"]) == {"not_run"}
    assert not (tmp_path / ".snakemake").exists()


def test_load_config_merges_mappings_and_replaces_lists(tmp_path, smoke):
    assert smoke["ffn"]["activations"] == ["relu", "cos"]  # list replaced
    assert smoke["ffn"]["model"] == {"name": "dense", "depth": 6, "width": 32}
    assert smoke["data"]["dir"] == "results/demo/data"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("ffn:\n  seeds: [7]\n  model: {width: 64}\n  lsc: {tolerance: 0.05}\nfig1: {seed: 3}\n")
    second.write_text("ffn:\n  model: {width: 16}\n")
    config = load_config([str(first), str(second)], base=BASE)
    assert config["ffn"]["seeds"] == [7]
    assert config["ffn"]["model"] == {"name": "dense", "depth": 30, "width": 16}  # later file wins
    assert config["ffn"]["lsc"]["tolerance"] == 0.05 and config["ffn"]["lsc"]["epochs"] == 100
    assert config["fig1"]["seed"] == 3 and config["fig1"]["depth"] == 10
    assert config["ffn"]["variants"] == load_config([], base=BASE)["ffn"]["variants"]
    (tmp_path / "empty.yaml").write_text("")
    assert load_config([str(tmp_path / "empty.yaml")], base=BASE) == load_config([], base=BASE)
