"""status.py --verify: the data the finished jobs read, rehashed against its pins, stamps
and cache hashes, on the demo data (written, fetched and prepared here, no pipeline run)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lscrepro.data.demo import write_demo_data
from lscrepro.data.prepared import prepare
from lscrepro.workflow.status import load_config
from lscrepro.workflow.verify import verify_data
from workflow_utils import REPO

SMOKE = REPO / "config/smoke.yaml"
RUN = "results/demo/rnn/wordptb/LSTM/depth2/default/seed0"
PRETRAIN = "results/demo/rnn/pretrained/wordptb/GRU/depth2/lsc/seed0"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A workflow folder with the demo data, PTB fetched (its stamp) and prepared, and two
    finished PTB jobs, as a run leaves them."""
    root = tmp_path_factory.mktemp("verify")
    data = root / "results/demo/data"
    write_demo_data(data)
    subprocess.run([sys.executable, str(REPO / "workflow_scripts/fetch_dataset.py"), "--dataset", "ptb",
                    "--data-dir", str(data), "--offline", "--stamp", str(root / "results/demo/data/ptb.json")],
                   check=True, capture_output=True)
    prepare("ptb", data, root / "results/demo/prepared/ptb")
    result = {"status": "completed", "best_epoch": 1, "test": {}}
    for folder, name, extra in ((RUN, "metrics.json", "history.csv"), (PRETRAIN, "pretrain.json", "weights.pt")):
        (root / folder).mkdir(parents=True)
        (root / folder / name).write_text(json.dumps({"run": {}, "settings": {}, "result": result}))
        (root / folder / extra).write_text("")
    (root / "config").mkdir()
    shutil.copy(REPO / "config/config.yaml", root / "config/config.yaml")
    return root


@pytest.fixture
def tampered(finished, tmp_path) -> Path:
    root = tmp_path / "run"
    shutil.copytree(finished, root)
    return root


def config():
    return load_config([SMOKE], base=REPO / "config/config.yaml")


def test_untouched_data_verifies(finished):
    assert verify_data(config(), finished).empty


def test_a_truncated_ptb_file_is_found_with_the_jobs_that_read_it(tampered):
    path = tampered / "results/demo/data/ptb.train.txt"
    path.write_bytes(path.read_bytes()[:1000])
    mismatches = verify_data(config(), tampered)
    assert list(mismatches["path"]) == [str(path)]
    row = mismatches.iloc[0]
    assert "1,000 bytes whose sha256" in row["problem"] and "differs from its pin" in row["problem"]
    assert row["jobs"] == 2 and set(row["used_by"].split(";")) == {f"{RUN}/metrics.json", f"{PRETRAIN}/pretrain.json"}
    out = subprocess.run([sys.executable, str(REPO / "workflow_scripts/status.py"), "--directory", str(tampered),
                          "--configfile", str(SMOKE), "--verify"], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{path}: 1,000 bytes whose sha256" in out.stdout and f"{RUN}/metrics.json" in out.stdout


def test_an_edited_cache_array_is_found(tampered):
    array = tampered / "results/demo/prepared/ptb/val_ids.npy"
    values = np.load(array)
    values[0] += 1  # same shape and size: only its hash shows it
    np.save(array, values)
    mismatches = verify_data(config(), tampered)
    assert list(mismatches["path"]) == [str(array)]
    assert "differs from" in mismatches.iloc[0]["problem"] and "recorded in meta.json" in mismatches.iloc[0]["problem"]
    array.write_bytes(array.read_bytes()[:200])
    assert "unreadable" in verify_data(config(), tampered).iloc[0]["problem"]


def test_a_stamp_that_recorded_another_pin_is_found(tampered):
    stamp = tampered / "results/demo/data/ptb.json"
    recorded = json.loads(stamp.read_text())
    recorded["files"]["ptb.test.txt"]["sha256"] = "0" * 64
    stamp.write_text(json.dumps(recorded))
    problems = list(verify_data(config(), tampered)["problem"])
    assert len(problems) == 1 and "recorded 0000" in problems[0] and "the pin changed since" in problems[0]
