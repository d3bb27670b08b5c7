"""status.py --verify: the data the finished jobs read, rehashed against its pins, stamps
and cache hashes, on the demo data (written, fetched and prepared here, no pipeline run)."""

from __future__ import annotations

import hashlib
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
from lscrepro.workflow.verify import verify_data, verify_weights
from workflow_utils import REPO

SMOKE = REPO / "config/smoke.yaml"
RUN = "results/demo/rnn/wordptb/LSTM/depth2/default/seed0"
PRETRAIN = "results/demo/rnn/pretrained/wordptb/GRU/depth2/lsc/seed0"
LOADER = "results/demo/rnn/wordptb/GRU/depth2/lsc/seed0"  # trains from PRETRAIN's weights
WEIGHTS = bytes(range(256)) * 4


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
        (root / folder / extra).write_bytes(WEIGHTS)
        digest = {"weights_sha256": hashlib.sha256(WEIGHTS).hexdigest()} if name == "pretrain.json" else {}
        (root / folder / name).write_text(json.dumps({"run": {"net": "GRU"}, "settings": {}, "result": result,
                                                      **digest}))
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
    assert f"{path}: 1,000 bytes whose sha256" in out.stdout
    delete = tampered / "results/demo/verify_delete.txt"
    assert f"are listed in {delete}" in out.stdout
    assert sorted(delete.read_text().split()) == sorted([f"{RUN}/metrics.json", f"{RUN}/history.csv",
                                                         f"{PRETRAIN}/pretrain.json", f"{PRETRAIN}/weights.pt"])


def test_untouched_weights_verify(finished):
    assert verify_weights(config(), finished).empty


def test_a_flipped_byte_in_pretrained_weights_is_found_with_every_job_to_rerun(tampered):
    # a finished training run that loaded the weights
    (tampered / LOADER).mkdir(parents=True)
    (tampered / LOADER / "metrics.json").write_text(json.dumps({"run": {}, "settings": {}, "result": {
        "status": "completed", "best_epoch": 1, "test": {}}}))
    (tampered / LOADER / "history.csv").write_text("")
    weights = tampered / PRETRAIN / "weights.pt"
    flipped = bytearray(weights.read_bytes())
    flipped[700] ^= 0x01
    weights.write_bytes(bytes(flipped))
    mismatches = verify_weights(config(), tampered)
    assert list(mismatches["path"]) == [f"{PRETRAIN}/weights.pt"]
    row = mismatches.iloc[0]
    assert "differs from" in row["problem"] and "pre-training job (net GRU)" in row["problem"]
    assert row["used_by"].split(";") == [f"{PRETRAIN}/pretrain.json", f"{LOADER}/metrics.json"]
    out = subprocess.run([sys.executable, str(REPO / "workflow_scripts/status.py"), "--directory", str(tampered),
                          "--configfile", str(SMOKE), "--verify"], capture_output=True, text=True)
    assert out.returncode == 1 and f"{PRETRAIN}/weights.pt: SHA-256" in out.stdout, out.stdout + out.stderr
    assert (tampered / "results/demo/verify_delete.txt").read_text().split() == [
        f"{PRETRAIN}/pretrain.json", f"{PRETRAIN}/weights.pt", f"{LOADER}/metrics.json", f"{LOADER}/history.csv"]


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
