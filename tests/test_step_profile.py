"""benchmarks/step_profile.py's library (lscrepro/cost/profile.py): the report of the demo
grid's training shapes, and the verdict on planted steps (non-GEMM-heavy, slow GEMMs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from lscrepro.cost.grid import grid_shapes
from lscrepro.cost.profile import PYTHON, breakdown, gemm_rate, model_width, op_seconds, profile_all

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"rule", "jobs", "shape", "width", "step_s", "step_wall_s", "profiled_s", "on_cpu", "step_flops",
          "flops_counted", "gemm_flops_per_s", "step_mfu", "gemm_s", "gemm_share", "python_share", "gemm_mfu",
          "top_ops", "target", "reachable", "limited_by", "limit"}


def test_every_training_rule_of_the_demo_grid_is_reported_in_full():
    shapes, rules = [], set()
    for shape in grid_shapes(yaml.safe_load((ROOT / "config/smoke.yaml").read_text())):
        if shape.rule.startswith("train") and shape.rule not in rules:
            rules.add(shape.rule)
            shapes.append(shape)
    # a given GEMM rate: the run's own is benchmarks/step_profile.py's (and grid_cost's) concern
    rows = profile_all(shapes, workers=2, log=lambda _: None, rate=1e11)
    assert {row["rule"] for row in rows} == {"train_ffn", "train_rnn", "train_lru"}
    for row in rows:
        assert FIELDS <= set(row), FIELDS - set(row)
        assert row["step_flops"] > 0 and row["gemm_s"] > 0
        assert row["gemm_s"] <= row["profiled_s"]
        shares = [row["gemm_share"], row["python_share"], row["on_cpu"], *(o["share"] for o in row["top_ops"])]
        assert all(0 <= share <= 1 for share in shares), row
        assert len(row["top_ops"]) == 3 and row["target"] == 0.35  # the demo's models are narrow
        assert row["limit"]


def test_a_step_of_elementwise_work_is_limited_by_its_non_gemm_ops():
    torch.set_num_threads(1)
    a, big = torch.randn(256, 256), torch.randn(4_000_000)

    def step():
        a @ a
        for _ in range(4):
            big.exp().sin()
    profiled, ops = op_seconds(step)
    flops = 2 * 256 ** 3
    gemm_s = ops["aten::mm"] / profiled["wall"] * profiled["cpu"]
    # against the planted GEMM's own rate, the GEMMs reach the target: what stops the step
    # is the elementwise work, named first
    row = breakdown(profiled, ops, flops, gemm_rate=flops / gemm_s, step_s=profiled["cpu"], width=512)
    assert row["gemm_share"] < 0.5 and row["reachable"] and row["limited_by"] == "non-GEMM ops"
    assert {o["op"] for o in row["top_ops"][:2]} == {"aten::exp", "aten::sin"}
    assert row["limit"].startswith(f"{1 - row['gemm_share']:.0%} of the step outside GEMMs: aten::")


@pytest.mark.parametrize("gemm_s, other_s, limited_by", [
    (0.9, 0.1, "GEMM rate"),      # GEMMs at 1/0.9/2 = 56% of the rate: below 60% even alone
    (0.4, 0.6, "non-GEMM ops"),   # GEMMs at 125%, the step at 50%
    (0.45, 0.05, "nothing"),      # the step at 100%
])
def test_the_verdict_follows_the_numbers(gemm_s, other_s, limited_by):
    ops = {"aten::addmm": gemm_s, "aten::_log_softmax": other_s}
    step = {"wall": gemm_s + other_s, "cpu": gemm_s + other_s}
    row = breakdown(step, ops, flops=1.0, gemm_rate=2.0, step_s=gemm_s + other_s, width=256)
    assert row["target"] == 0.60 and row["limited_by"] == limited_by
    assert row["gemm_mfu"] == pytest.approx(1.0 / gemm_s / 2.0)
    assert row["top_ops"][0] == {"op": "aten::_log_softmax", "share": pytest.approx(other_s / (gemm_s + other_s))}
    assert row["top_ops"][1]["op"] == PYTHON


def test_the_width_is_the_widest_layer_or_the_embedding():
    assert model_width({"width": 128, "depth": 30}) == 128
    assert model_width({"widths": [500, 300], "embedding": 300}) == 500
    assert model_width({"widths": [24, 12], "width": 16, "embedding": 32}) == 32


def test_the_gemm_rate_is_counted_in_cpu_seconds():
    torch.set_num_threads(1)
    assert 1e9 < gemm_rate(most=1) < 1e13  # GFLOP/s to TFLOP/s on one core
