"""The GPU-hour estimate from grid_cost rows (lscrepro.cost.gpu)."""

import json
from pathlib import Path

import pytest

from lscrepro.cost.gpu import gpu_hours_per_rule, job_flops

ROW = {"rule": "train_rnn", "jobs": 3, "uncapped_job_hours": 10.0, "step_mfu": 0.5,
       "gemm_flops_per_s": 2e11}


def test_a_job_runs_its_cpu_flops_at_the_stated_share_of_the_gpu_rate():
    assert job_flops(ROW) == pytest.approx(10 * 3600 * 0.5 * 2e11)
    other = dict(ROW, jobs=1, uncapped_job_hours=1.0)
    (rule,) = gpu_hours_per_rule([ROW, other], peak=1e13, share=0.5)
    # 10 h at 1e11 FLOP/s = 3.6e15 FLOP, at 5e12 FLOP/s: 720 s = 0.2 h per job
    assert rule["gpu_hours_per_job_max"] == pytest.approx(0.2)
    assert rule["gpu_hours_total"] == pytest.approx(3 * 0.2 + 0.02)
    assert rule["cpu_hours_uncapped_total"] == pytest.approx(31.0)
    assert rule["jobs"] == 4


def test_a_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="share must be in"):
        gpu_hours_per_rule([ROW], share=30)


def test_the_committed_grid_cost_gives_an_estimate_per_rule():
    rows = json.loads((Path(__file__).parents[1] / "docs/grid_cost.json").read_text())["rows"]
    table = gpu_hours_per_rule(rows)
    assert {row["rule"] for row in table} == {row["rule"] for row in rows}
    assert all(0 < row["gpu_hours_total"] < row["cpu_hours_uncapped_total"] for row in table)
