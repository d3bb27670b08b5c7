"""The workflow on a real SLURM cluster through the executor plugin and the shipped
profile. .ci/run starts a single-node cluster on loopback (.ci/slurm/start_slurm.sh);
without a responding controller these tests are skipped."""

from __future__ import annotations

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
              "--latency-wait", "5", "--slurm-keep-successful-logs")


# The demo grid's Figure 2 on MNIST alone: 4 pre-trainings and 24 trainings, enough for
# job arrays of several tasks, in a third of the full demo grid's time
SUBGRID = "ffn:\n  datasets: [mnist]\n"


def test_the_demo_grids_figures_1_and_2_run_as_slurm_jobs(tmp_path):
    """`snakemake --profile slurm` as typed in the repository root (plus the demo config on
    one dataset, the targets and the loopback cluster's polling settings)."""
    workdir = copy_workflow(tmp_path)
    (workdir / "subgrid.yaml").write_text(SUBGRID)
    figures = [f"results/demo/figures/fig{n}.{ext}" for n in (1, 2) for ext in ("pdf", "png")]
    snakemake(workdir, "--profile", "slurm", "--configfile", "config/smoke.yaml", "subgrid.yaml",
              *CI_CLUSTER, *figures, timeout=1800)
    for figure in figures:
        assert (workdir / figure).stat().st_size > 1000, figure
    summary = (workdir / "results/demo/ffn/summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 24
    # the plugin writes one log per SLURM job, under the rule's name, named
    # <array job id>_<task id>.log for an array task: every pre-training, training and data
    # preparation ran as a SLURM job, and the pre-trainings and trainings went out as arrays
    # (slurm/config.yaml), a few submissions for many jobs
    logs, arrays = {}, {}
    for path in (workdir / "logs/slurm").rglob("*.log"):
        rule = path.relative_to(workdir / "logs/slurm").parts[0]
        logs[rule] = logs.get(rule, 0) + 1
        array_id, _, task = path.stem.partition("_")
        if task.isdigit():
            arrays.setdefault(rule, set()).add(array_id)
    assert logs.get("rule_pretrain_ffn") == 4 and logs.get("rule_train_ffn", 0) >= 24, logs
    assert logs.get("rule_prepare_dataset") == 1, logs
    for rule, jobs in (("rule_pretrain_ffn", 4), ("rule_train_ffn", 24)):
        assert 1 <= len(arrays.get(rule, ())) <= jobs // 4, (rule, arrays)
