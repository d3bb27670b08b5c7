"""Failures a user meets, run through Snakemake in scratch copies of the demo workflow.

Each test checks the exit status, the message on the console (the workflow profile sets
show-failed-logs, so a failing job's log is printed there) and that nothing half-written
stays at a final path:
- a damaged dataset file (truncated, one byte flipped, a wrong canonical file);
- corrupt pre-trained weights;
- a corrupt checkpoint (the job starts fresh and succeeds);
- a full disk (a file size limit) and a results folder that is not writable;
- a run killed with SIGKILL, once in pre-training and once in training, that resumes
  from its checkpoints and ends exactly where an uninterrupted run ends.

The jobs run with --cores 1; the module's runs take about 3 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from workflow_utils import copy_workflow, planned_jobs, snakemake

pytestmark = pytest.mark.slow

SMOKE = ("--configfile", "config/smoke.yaml")
# Longer jobs, so that a kill lands mid-job: pre-training runs all its epochs (it never
# gets within this tolerance of the target), and training runs 8 epochs.
LONGER = ("--configfile", "config/smoke.yaml", "longer.yaml")
LONGER_YAML = "ffn:\n  train:\n    epochs: 8\n  lsc:\n    epochs: 30\n    tolerance: 0.001\n"

DATA = "results/demo/data"
STAMP = f"{DATA}/mnist.json"
IMAGES = f"{DATA}/train-images-idx3-ubyte.gz"
PRETRAIN = "results/demo/ffn/pretrained/mnist/relu/lsc/seed0"
PRETRAIN_LOG = "logs/demo/ffn/pretrained/mnist/relu/lsc/seed0/pretrain.log"
LSC = "results/demo/ffn/mnist/relu/lsc/lr0.01/seed0"
LSC_LOG = "logs/demo/ffn/mnist/relu/lsc/lr0.01/seed0/train.log"
GLOROT = "results/demo/ffn/mnist/relu/glorot/lr0.01/seed0"
GLOROT_LOG = "logs/demo/ffn/mnist/relu/glorot/lr0.01/seed0/train.log"
GARBAGE = random.Random(0).randbytes(4096)


def console(out: subprocess.CompletedProcess) -> str:
    return out.stdout + out.stderr


def clone(src: Path, dest: Path) -> Path:
    """A copy of a scratch workflow with its results and .snakemake, mtimes kept."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def temp_files(workdir: Path) -> list[Path]:
    """Temporary files or folders of atomic writes (lscrepro.io, prepared caches)."""
    return sorted(p for p in (workdir / "results").rglob("*") if p.name.endswith(".tmp"))


def last_line(path: Path) -> str:
    return path.read_text().strip().splitlines()[-1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Demo data, fetched and prepared for mnist, and both code stamps: no job has run."""
    workdir = copy_workflow(tmp_path_factory.mktemp("prepared"))
    (workdir / "longer.yaml").write_text(LONGER_YAML)
    snakemake(workdir, "--cores", "1", "results/demo/prepared/mnist", "results/demo/code/ffn_train.json",
              "results/demo/code/ffn_pretrain.json", *SMOKE)
    return workdir


@pytest.fixture(scope="module")
def uninterrupted(prepared, tmp_path_factory) -> Path:
    """The LSC run (pre-training, then training) with the longer settings, never interrupted."""
    workdir = clone(prepared, tmp_path_factory.mktemp("uninterrupted") / "w")
    snakemake(workdir, "--cores", "1", f"{LSC}/metrics.json", *LONGER)
    return workdir


# --- 1. damaged dataset files ---------------------------------------------------------

def _truncate(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte], ids=["truncated", "byte_flipped"])
def test_a_damaged_demo_file_is_refused_by_name_with_the_fix(prepared, tmp_path, damage):
    workdir = clone(prepared, tmp_path / "w")
    # as right after demo_data ran: the files are not verified yet
    shutil.rmtree(workdir / "results/demo/prepared")
    (workdir / STAMP).unlink()
    images = workdir / IMAGES
    damaged = damage(images.read_bytes())
    images.write_bytes(damaged)

    out = snakemake(workdir, "--cores", "1", f"{GLOROT}/metrics.json", *SMOKE, check=False)
    assert out.returncode != 0
    text = console(out)
    assert f"fetch_dataset: {IMAGES} has the wrong sha256: expected " in text
    assert "The file was left in place, unused." in text
    fix = f"python workflow_scripts/make_demo_data.py --data-dir {DATA}"
    assert f"It is listed as demo data in {DATA}/registry.txt: rerun `{fix}`." in text
    # refused, left in place as it was, nothing made from it
    assert images.read_bytes() == damaged
    assert not (workdir / STAMP).exists() and not (workdir / "results/demo/prepared/mnist").exists()
    assert not (workdir / GLOROT / "metrics.json").exists() and temp_files(workdir) == []

    if damage is _truncate:
        return  # the fix, once: it works
    subprocess.run(fix.split(), cwd=workdir, check=True, capture_output=True)
    snakemake(workdir, "--cores", "1", STAMP, *SMOKE)
    assert json.loads((workdir / STAMP).read_text())["dataset"] == "mnist"


def test_a_wrong_canonical_file_is_refused_with_its_url_and_hash(prepared, tmp_path):
    workdir = clone(prepared, tmp_path / "w")
    (workdir / STAMP).unlink()
    (workdir / "canonical.yaml").write_text("data:\n  dir: canonical\n  demo: false\n  offline: true\n")
    (workdir / "canonical").mkdir()
    images = workdir / "canonical/train-images-idx3-ubyte.gz"
    images.write_bytes(b"<html>a proxy's error page, not MNIST</html>")

    out = snakemake(workdir, "--cores", "1", STAMP, *SMOKE, "canonical.yaml", check=False)
    assert out.returncode != 0
    text = console(out)
    assert ("fetch_dataset: canonical/train-images-idx3-ubyte.gz has the wrong sha256: expected "
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609, got ") in text
    assert ("The file was left in place, unused. Delete it (it is downloaded again unless offline) or "
            "replace it with the canonical file from "
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz.") in text
    assert images.exists() and not (workdir / STAMP).exists() and temp_files(workdir) == []


# --- 2. corrupt pre-trained weights ---------------------------------------------------

def _flip_one_byte(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # inside a tensor's bytes: torch.load reads it without error
    return bytes(flipped)


@pytest.mark.parametrize("damage", [lambda data: GARBAGE, _flip_one_byte], ids=["garbage", "one_flipped_byte"])
def test_damaged_pretrained_weights_stop_the_training_job_naming_the_file_and_its_job(uninterrupted, tmp_path,
                                                                                      damage):
    workdir = clone(uninterrupted, tmp_path / "w")
    weights = workdir / PRETRAIN / "weights.pt"
    weights.write_bytes(damage(weights.read_bytes()))
    # the newer weights make Snakemake rerun the training job, not the pre-training
    assert planned_jobs(workdir, f"{LSC}/metrics.json", *LONGER) == {"train_ffn": 1}

    out = snakemake(workdir, "--cores", "1", f"{LSC}/metrics.json", *LONGER, check=False)
    assert out.returncode != 0
    message = last_line(workdir / LSC_LOG)
    assert message.startswith(f"job train: pre-trained weights {PRETRAIN}/weights.pt: SHA-256 "), message
    assert (f"which the pre-training job (activation relu, dataset mnist, seed 0, variant lsc) recorded in "
            f"{PRETRAIN}/pretrain.json") in message
    assert message.endswith(f"delete {PRETRAIN}/weights.pt and {PRETRAIN}/pretrain.json and rerun snakemake: it "
                            "reruns that pre-training, then the training runs that load it")
    assert message in console(out) and "Traceback" not in (workdir / LSC_LOG).read_text()
    assert not (workdir / LSC / "metrics.json").exists() and not (workdir / LSC / "history.csv").exists()
    assert temp_files(workdir) == []

    # the fix the message gives: without the files, both jobs are planned again
    weights.unlink()
    (workdir / PRETRAIN / "pretrain.json").unlink()
    assert planned_jobs(workdir, f"{LSC}/metrics.json", *LONGER) == {"pretrain_ffn": 1, "train_ffn": 1}


# --- 3. a corrupt checkpoint ----------------------------------------------------------

def test_a_corrupt_checkpoint_means_a_fresh_start_that_succeeds(prepared, tmp_path):
    workdir = clone(prepared, tmp_path / "w")
    folder = workdir / GLOROT
    folder.mkdir(parents=True)
    checkpoint = folder / "checkpoint.pt"
    checkpoint.write_bytes(GARBAGE)
    # and the temporary file of a checkpoint write that was killed midway
    (folder / ".checkpoint.pt.k1ll3d.tmp").write_bytes(GARBAGE[:1000])

    out = snakemake(workdir, "--cores", "1", f"{GLOROT}/metrics.json", *SMOKE, check=False)
    assert out.returncode == 0, console(out)
    log = (workdir / GLOROT_LOG).read_text()
    assert (f"checkpoint {GLOROT}/checkpoint.pt is unreadable (not a PyTorch file: truncated or "
            "overwritten); starting fresh") in log.splitlines()
    assert f"removed {GLOROT}/.checkpoint.pt.k1ll3d.tmp, left by an interrupted checkpoint write" in log
    assert "resumed from checkpoint" not in log and "epoch 1:" in log and "epoch 4:" in log
    result = json.loads((folder / "metrics.json").read_text())["result"]
    assert result["resumed_from_epoch"] == 0 and result["epochs_run"] == 4
    assert result["status"] == "completed"
    # the job removes its checkpoint once its outputs are written
    assert sorted(p.name for p in folder.iterdir()) == ["history.csv", "metrics.json"]


# --- 4. a full disk, a folder that is not writable -------------------------------------

def _assert_failed_cleanly(workdir: Path, out: subprocess.CompletedProcess, reason: str) -> None:
    assert out.returncode != 0
    message = (f"job train: cannot write {GLOROT}/checkpoint.pt ({reason}); nothing half-written was "
               f"left behind. Check that {GLOROT} is a writable directory whose disk has free space (and "
               "that no quota or file size limit is hit), then rerun the job.")
    assert message in console(out), console(out)
    assert last_line(workdir / GLOROT_LOG) == message
    for name in ("metrics.json", "history.csv", "checkpoint.pt"):
        assert not (workdir / GLOROT / name).exists(), name
    assert temp_files(workdir) == []


def test_a_full_disk_fails_the_job_clearly_and_leaves_nothing(prepared, tmp_path):
    """The disk fills up when the job writes: a file size limit (RLIMIT_FSIZE) makes every
    write past 64 KiB fail, for root too. The first checkpoint is larger than that."""
    workdir = clone(prepared, tmp_path / "w")
    limit = 64 * 1024

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", f"{GLOROT}/metrics.json", *SMOKE],
                         cwd=workdir, capture_output=True, text=True, timeout=600, preexec_fn=small_files)
    # torch.save reports the failed write only as its writer's position check
    reason = r"RuntimeError: [enforce fail at inline_container.cc:"
    assert reason in last_line(workdir / GLOROT_LOG)
    found = re.search(r"\((RuntimeError: .*?)\); nothing", last_line(workdir / GLOROT_LOG)).group(1)
    _assert_failed_cleanly(workdir, out, found)

    # without the limit the same command succeeds: nothing left behind is in the way
    snakemake(workdir, "--cores", "1", f"{GLOROT}/metrics.json", *SMOKE)
    assert (workdir / GLOROT / "metrics.json").exists() and temp_files(workdir) == []


def test_a_results_folder_that_is_not_writable_fails_the_job_clearly(prepared, tmp_path):
    workdir = clone(prepared, tmp_path / "w")
    folder = workdir / GLOROT
    folder.mkdir(parents=True)
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("chmod does not stop this user from writing (root or CAP_DAC_OVERRIDE); "
                        "test_a_full_disk_fails_the_job_clearly_and_leaves_nothing covers failed writes")
        out = snakemake(workdir, "--cores", "1", f"{GLOROT}/metrics.json", *SMOKE, check=False)
        _assert_failed_cleanly(workdir, out, "[Errno 13] Permission denied")
    finally:
        if folder.exists():
            folder.chmod(0o755)


# --- 5. kill and resume -----------------------------------------------------------------

def kill_when(workdir: Path, log: str, pattern: str, checkpoint: str, *args: str, timeout: float = 300) -> None:
    """Run the LSC target in its own process group; SIGKILL the whole group once ``log``
    matches ``pattern`` and ``checkpoint`` exists (a checkpoint was written)."""
    with open(workdir / "console.txt", "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--cores", "1", f"{LSC}/metrics.json", *LONGER, *args],
            cwd=workdir, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the run ended before it could be killed ({log} never matched {pattern!r}):\n"
                                + (workdir / "console.txt").read_text())
                path = workdir / log
                if (path.exists() and re.search(pattern, path.read_text(), re.M)
                        and (workdir / checkpoint).exists()):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"{log} did not match {pattern!r} within {timeout} s")
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _result(path: Path, drop=("environment", "seconds", "resumed_from_epoch")) -> dict:
    return {k: v for k, v in json.loads(path.read_text())["result"].items() if k not in drop}


def test_a_killed_run_resumes_and_ends_where_an_uninterrupted_run_ends(prepared, uninterrupted, tmp_path):
    workdir = clone(prepared, tmp_path / "w")
    target = f"{LSC}/metrics.json"

    # killed in pre-training, after its second epoch
    kill_when(workdir, PRETRAIN_LOG, r"^LSC epoch 2:", f"{PRETRAIN}/checkpoint.pt")
    assert not (workdir / PRETRAIN / "weights.pt").exists()
    assert not (workdir / PRETRAIN / "pretrain.json").exists()

    # Snakemake's lock outlives a SIGKILL: a rerun is refused until --unlock
    out = snakemake(workdir, "--cores", "1", target, *LONGER, "--rerun-incomplete", check=False)
    assert out.returncode != 0
    assert "Directory cannot be locked" in console(out) and "--unlock" in console(out)
    snakemake(workdir, "--unlock", target, *LONGER)

    # rerun: pre-training resumes and finishes; training is killed after its second epoch
    kill_when(workdir, LSC_LOG, r"^epoch 2:", f"{LSC}/checkpoint.pt", "--rerun-incomplete")
    pretrain_log = (workdir / PRETRAIN_LOG).read_text()
    assert re.search(r"^LSC resumed from checkpoint after epoch [1-9]", pretrain_log, re.M), pretrain_log
    assert "LSC before:" not in pretrain_log  # the measurement before is restored, not redone
    assert (workdir / PRETRAIN / "weights.pt").exists() and not (workdir / PRETRAIN / "checkpoint.pt").exists()
    assert not (workdir / LSC / "metrics.json").exists() and not (workdir / LSC / "history.csv").exists()

    snakemake(workdir, "--unlock", target, *LONGER)
    snakemake(workdir, "--cores", "1", target, *LONGER, "--rerun-incomplete")
    train_log = (workdir / LSC_LOG).read_text()
    resumed_after = re.search(r"^resumed from checkpoint after epoch (\d+)$", train_log, re.M)
    assert resumed_after and int(resumed_after.group(1)) >= 1, train_log
    # only the epochs after the checkpoint are run again
    epochs = [int(n) for n in re.findall(r"^epoch (\d+):", train_log, re.M)]
    assert epochs == list(range(int(resumed_after.group(1)) + 1, 9)), train_log

    # the same ending as the uninterrupted run, in every metric
    resumed, reference = workdir / LSC, uninterrupted / LSC
    assert json.loads((resumed / "metrics.json").read_text())["result"]["resumed_from_epoch"] >= 1
    assert _result(resumed / "metrics.json") == _result(reference / "metrics.json")
    pd.testing.assert_frame_equal(pd.read_csv(resumed / "history.csv"), pd.read_csv(reference / "history.csv"),
                                  check_exact=True)
    assert _result(workdir / PRETRAIN / "pretrain.json") == _result(uninterrupted / PRETRAIN / "pretrain.json")
    ours = torch.load(workdir / PRETRAIN / "weights.pt", weights_only=True)
    theirs = torch.load(uninterrupted / PRETRAIN / "weights.pt", weights_only=True)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not (resumed / "checkpoint.pt").exists() and temp_files(workdir) == []
