"""benchmarks/gpu_check.py, on the CPU: the same code a GPU machine runs (a slice of the
demo grid per family, compared with a CPU run and with itself, and step timings)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_utils import load_script

REPO = Path(__file__).resolve().parents[1]


def test_compare_flags_a_gap_beyond_the_tolerance_and_a_run_that_changed():
    compare = load_script("benchmarks/gpu_check.py").compare
    cpu = {"a": 1.0, "b": 2.0, "c": math.nan}
    rows = {r["number"]: r for r in compare({"a": 1.01, "b": 2.5, "c": math.nan}, cpu,
                                            {"a": 1.01, "b": 2.4, "c": math.nan}, rtol=0.05)}
    assert rows["a"]["close"] and rows["a"]["deterministic"]
    assert not rows["b"]["close"] and not rows["b"]["deterministic"]
    assert rows["c"]["close"] and rows["c"]["deterministic"]  # NaN on both sides agrees


@pytest.mark.slow
def test_the_cpu_run_of_the_gpu_check_passes_and_covers_every_family(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--timing", "small",
                           "--out", str(out), "--workdir", str(tmp_path / "work")],
                          cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["ok"] and result["device"] == "cpu"
    families = {row["number"].split(".")[0] + "." + row["number"].split(".")[1] for row in result["numbers"]}
    assert families == {f"{f}.{kind}" for f in ("ffn", "rnn", "lru") for kind in ("train", "pretrain")}
    assert all(row["deterministic"] for row in result["numbers"])
    for family in ("ffn", "rnn", "lru"):
        assert result["timings"][family]["lsc_step_s"] > 0 and result["timings"][family]["train_step_s"] > 0
    assert "OK in" in done.stdout
