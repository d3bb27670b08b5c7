"""benchmarks/grid_cost.py's library (lscrepro/cost/): the grid's job shapes, the
extrapolation from step times to whole jobs, and one measured shape per rule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lscrepro.cost.flops import batch_extended, count_flops
from lscrepro.cost.grid import Shape, describe_shape, grid_shapes, job_seconds, measure_all, per_rule, profile_resources

ROOT = Path(__file__).resolve().parents[1]


def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


def test_the_paper_grid_has_every_job_once_in_its_shapes():
    shapes = grid_shapes(_config("config.yaml"))
    jobs, distinct = {}, {}
    for shape in shapes:
        jobs[shape.rule] = jobs.get(shape.rule, 0) + shape.jobs
        distinct[shape.rule] = distinct.get(shape.rule, 0) + 1
    assert jobs == {"pretrain_ffn": 36, "train_ffn": 756, "pretrain_rnn": 288, "train_rnn": 432,
                    "pretrain_lru": 48, "train_lru": 128}
    # seeds, learning rates and the LSC target do not change a job's cost
    assert distinct["pretrain_rnn"] == 36 and distinct["train_rnn"] == 36
    # distinct shapes have distinct names (the clip of train_lru's shapes once was left out)
    names = [(shape.rule, describe_shape(shape)) for shape in shapes]
    assert len(set(names)) == len(names)


def _shape(rule: str, **run) -> Shape:
    for shape in grid_shapes(_config("config.yaml")):
        if shape.rule == rule and all(shape.spec["run"].get(k) == v for k, v in run.items()):
            return shape
    raise LookupError(rule, run)


def test_a_training_job_is_epochs_of_steps_and_validation_capped_by_max_seconds_plus_the_test():
    shape = _shape("train_rnn", task="wordptb", net="LSTM", depth=2)
    spec = shape.spec
    batch, eval_batch, maxlen = spec["train"]["batch_size"], spec["task"]["eval_batch_size"], spec["task"]["maxlen"]
    windows = {split: (tokens // rows) // maxlen - 2  # the reference's PTB windows
               for split, tokens, rows in (("train", 929589, batch), ("val", 73760, eval_batch),
                                           ("test", 82430, eval_batch))}
    timed = {"train_step_s": 0.5, "eval_batch_s": 0.1}
    eval_row = 0.1 / batch  # an evaluation batch is timed at the training batch size
    test = windows["test"] * eval_row * eval_batch
    epoch = windows["train"] * 0.5 + windows["val"] * eval_row * eval_batch
    expected = min(spec["train"]["epochs"] * epoch, spec["train"]["max_seconds"]) + test
    assert job_seconds(shape, timed) == pytest.approx(expected)
    assert job_seconds(shape, {"train_step_s": 1e-4, "eval_batch_s": 1e-5}) < spec["train"]["max_seconds"]


def test_a_recurrent_pre_training_is_its_steps_capped_plus_two_measurements():
    shape = _shape("pretrain_rnn", task="wordptb", net="GRU", depth=5)
    lsc = shape.spec["lsc"]
    steps = lsc["batches"] * shape.spec["task"]["maxlen"] * shape.spec["task"]["timerepeat"]
    # before and after: measure_batches x measure_steps (the defaults), each bounded by a step
    assert job_seconds(shape, {"lsc_step_s": 2.0}) == pytest.approx(steps * 2.0 + 2 * 2 * 10 * 2.0)
    assert job_seconds(shape, {"lsc_step_s": 1e3}) == pytest.approx(19800 + 2 * 2 * 10 * 1e3)


def test_flops_are_counted_forward_and_backward_and_extended_in_the_batch():
    import torch
    a, b = torch.randn(4, 8, requires_grad=True), torch.randn(8, 16)
    assert count_flops(lambda: (a @ b).sum().backward()) == 2 * 2 * 4 * 8 * 16  # forward + grad of a
    assert batch_extended(lambda size: 10 + 3 * size, 64) == 10 + 3 * 64


def test_one_shape_per_rule_is_measured_in_a_child_process():
    firsts = {}
    for shape in grid_shapes(_config("smoke.yaml")):
        firsts.setdefault(shape.rule, shape)
    rows = measure_all(list(firsts.values()), log=lambda _: None)
    assert [r["rule"] for r in rows] == list(firsts)
    for row in rows:
        assert row["job_hours"] > 0 and 100 < row["peak_mb"] < 8000, row
        assert all(v > 0 for k, v in row.items() if k.endswith("_s")), row
        # the step's counted FLOPs as a share of the run's GEMM rate
        assert row["step_flops"] > 0 and 0 < row["step_mfu"] <= 1.5, row
    table = per_rule(rows)
    assert [t["jobs"] for t in table] == [s.jobs for s in firsts.values()]


def test_the_script_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "cost.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks/grid_cost.py"), "--config",
                           str(ROOT / "config/smoke.yaml"), "--rules", "pretrain_lru", "--json", str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| pretrain_lru | 6 |" in done.stdout
    assert json.loads(out.read_text())["table"][0]["rule"] == "pretrain_lru"
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks/grid_cost.py"), "--config",
                          str(ROOT / "config/smoke.yaml"), "--rules", "pretrain_nothing"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert bad.returncode != 0 and "pretrain_nothing" in bad.stderr


def test_the_profile_requests_cover_the_measured_grid_with_the_margins():
    """profiles/default/config.yaml is the one home of the rules' resources, and covers the
    cost recorded in docs/grid_cost.json (benchmarks/grid_cost.py --json)."""
    recorded = json.loads((ROOT / "docs/grid_cost.json").read_text())
    profile = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())["set-resources"]
    wanted = profile_resources(recorded["table"])
    assert set(wanted) == {"pretrain_ffn", "train_ffn", "pretrain_rnn", "train_rnn", "pretrain_lru", "train_lru"}
    for rule, resources in wanted.items():
        for key, value in resources.items():
            assert profile[rule][key] >= value, (rule, key, profile[rule].get(key), value)
    for rules_file in (ROOT / "rules").glob("*.smk"):
        assert "resources:" not in rules_file.read_text(), rules_file  # only the profile sets them


def test_settle_warms_up_until_the_calls_stop_faulting_in_pages():
    """A call that touches fresh memory each time is run ``most`` times; one whose memory
    is warm after its first call stops at the second."""
    import mmap

    from lscrepro.cost.sizes import settle
    calls = []
    warm = bytearray(32 * 2 ** 20)

    def fresh():  # a new mapping whatever malloc's policy: every page written faults in
        calls.append("fresh")
        with mmap.mmap(-1, 32 * 2 ** 20) as pages:
            pages[::4096] = bytes(len(pages[::4096]))

    def reused():
        calls.append("warm")
        warm[::4096] = bytes(len(warm[::4096]))  # touches every page of one buffer

    settle(fresh, most=4)
    settle(reused, most=4)
    assert calls.count("fresh") == 4 and calls.count("warm") == 2
