"""The workflow on a real SLURM cluster through the executor plugin and the shipped
profile. .ci/run starts a single-node cluster on loopback (.ci/slurm/start_slurm.sh);
without a responding controller these tests are skipped."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from workflow_utils import copy_workflow, snakemake


def slurm_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    out = subprocess.run(["sinfo", "--noheader", "--format=%T"], capture_output=True, text=True)
    return out.returncode == 0 and any(s in out.stdout for s in ("idle", "mixed", "allocated"))


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(not slurm_is_up(), reason="no SLURM controller answers (see .ci/run)"),
]

# The cluster .ci/run starts has no accounting database, so sacct cannot report job
# states; the plugin must poll squeue instead, and soon (its default waits 40 s).
CI_CLUSTER = ("--slurm-init-seconds-before-status-checks", "2",
              "--latency-wait", "5", "--jobs", "2", "--slurm-keep-successful-logs")


def test_pretraining_and_array_training_run_as_slurm_jobs(tmp_path):
    workdir = copy_workflow(tmp_path)
    target = "results/demo/ffn/mnist/relu/lsc/lr0.01/seed0/metrics.json"
    snakemake(workdir, "--profile", "slurm", "--configfile", "config/smoke.yaml",
              *CI_CLUSTER, target, timeout=900)
    metrics = json.loads((workdir / target).read_text())
    assert metrics["result"]["status"] in {"completed", "early_stopped"}
    assert (workdir / "results/demo/ffn/pretrained/mnist/relu/lsc/seed0/pretrain.json").exists()
    # the plugin writes one log per SLURM job, under the rule's name
    slurm_logs = {p.relative_to(workdir / "logs/slurm").parts[0]
                  for p in (workdir / "logs/slurm").rglob("*.log")}
    assert {"rule_pretrain_ffn", "rule_train_ffn"} <= slurm_logs, slurm_logs
