"""The GPU path without a GPU (lscrepro.device_audit): every family's training and LSC step
on a non-CPU device, no CPU tensor and no unlisted host sync in the step loops; a planted
CPU tensor, CPU generator or sync is named. And the CUDA determinism settings of the jobs."""

from __future__ import annotations

import importlib
import os

import pytest
import torch
import torch.nn.functional as F

from lscrepro import device_audit
from lscrepro.device import make_deterministic
from lscrepro.device_audit import ALLOWED_SYNCS, AUDIT_DEVICE, FAMILIES, OnDevice, audit_family, audited


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_steps_on_the_device_without_violations(family):
    report = audit_family(family)
    assert not report.violations, report.summary()
    syncs = report.sync_counts()
    # one training step ran on the device: its one sync, and its epoch's totals read once
    assert syncs["training.py:loss_is_finite (read)"] == 1, report.summary()
    assert syncs["tasks/base.py:host_totals (read)"] == 1, report.summary()
    # and one LSC step (its procedure's own read)
    step_site = {"sites": "lsc/loop.py:LSCRun.step (read)",
                 "recurrent": "lsc/recurrent.py:RecurrentLSCRun.step (read)",
                 "lru": "lsc/lru.py:LRULSC.iterate (read)"}[FAMILIES[family][2]]
    assert syncs[step_site] >= 1, report.summary()


def test_a_planted_cpu_tensor_is_named(monkeypatch):
    import lscrepro.tasks.language as language
    fused = language.readout_cross_entropy  # what the PTB training step computes its loss with

    def loss_with_a_cpu_tensor(h, weight, bias, target):
        loss, loss_sum, correct = fused(h, weight, bias, target)
        return (loss + torch.zeros(target.numel())).mean(), loss_sum, correct

    monkeypatch.setattr(language, "readout_cross_entropy", loss_with_a_cpu_tensor)
    report = audit_family("lru")
    planted = [f for f in report.violations if f.kind == "cpu operand"]
    assert planted, report.summary()
    assert "tasks/language.py" in planted[0].where and "readout_cross_entropy(h, weight" in planted[0].where
    assert "test_device_audit.py" in planted[0].origin and "loss_with_a_cpu_tensor" in planted[0].origin


def test_a_recurrent_state_left_on_the_cpu_is_named(monkeypatch):
    """torch's fused GRU checks devices itself: the audit reports its error at our line."""
    import lscrepro.models.rnn as rnn
    original = rnn._zeros_state
    monkeypatch.setattr(rnn, "_zeros_state", lambda batch, n, count, device, dtype: original(batch, n, count, None, dtype))
    report = audit_family("GRU")
    kinds = {f.kind: f for f in report.violations}
    assert "models/rnn.py" in kinds["cpu tensor"].where and "_zeros_state" in kinds["cpu tensor"].where
    assert "not at the same device" in kinds["error"].op and "GRULayer.forward" in kinds["error"].where


def test_a_cpu_tensor_made_in_a_step_loop_is_named(monkeypatch):
    """Code (not a library's) making a tensor without device= inside a step loop, even one
    only used on the host, is a violation; outside the step loops (model init) it is not."""
    import lscrepro.training as training
    original = training.loss_is_finite
    monkeypatch.setattr(training, "loss_is_finite", lambda loss: original(loss) and bool(torch.ones(2).all()))
    report = audit_family("lru")
    made = [f for f in report.violations if f.kind == "cpu tensor"]
    assert made and made[0].op == "ones without device" and "test_device_audit.py" in made[0].origin, report.summary()


def test_a_planted_host_sync_in_the_step_loop_is_named(monkeypatch):
    import lscrepro.tasks.language as language

    def totals_read_at_every_step(totals):
        return {**totals, "loss": float(totals["loss"]), "batch_perplexity": 1.0, "batches": 1}

    monkeypatch.setattr(language, "with_batch_perplexity", totals_read_at_every_step)
    report = audit_family("lru")
    syncs = [f for f in report.violations if f.kind == "host sync"]
    assert syncs and all(f.in_step for f in syncs), report.summary()
    assert "tasks/language.py" in syncs[0].where and "totals_read_at_every_step" in syncs[0].origin


def test_cpu_generators_copies_and_reads_are_findings():
    with audited() as audit:
        x = torch.ones(4, device=AUDIT_DEVICE)
        assert isinstance(x, OnDevice) and x.device == AUDIT_DEVICE
        torch.randperm(4, generator=torch.Generator(), device=AUDIT_DEVICE)
        torch.randperm(4, generator=torch.Generator(device=AUDIT_DEVICE), device=AUDIT_DEVICE)
        host = x.cpu()
        values = (x * 2).tolist()
        picked = x[x > 0]
        made = torch.tensor([1.0, 2.0], device=AUDIT_DEVICE) + torch.tensor([3.0, 4.0])
    assert values == [2.0] * 4 and type(host) is torch.Tensor and isinstance(picked, OnDevice)
    assert isinstance(made, OnDevice) and made.elem.tolist() == [4.0, 6.0]
    ops = [(f.kind, f.op) for f in audit.findings]
    assert ops == [("cpu operand", "randperm on the device with a CPU generator"),
                   ("host sync", "_to_copy"), ("host sync", "Tensor.tolist"),
                   ("host sync", "index with a boolean mask"),
                   ("cpu tensor", "lift_fresh without device"), ("cpu operand", "add with CPU tensor(s) (2,)")]
    assert torch.Generator is not device_audit._AuditGenerator  # restored


def test_every_allowed_sync_names_an_existing_function():
    for path, qualname, _ in ALLOWED_SYNCS:
        target = importlib.import_module("lscrepro." + path.removesuffix(".py").replace("/", "."))
        for part in qualname.split("."):
            target = getattr(target, part)
        assert callable(target), (path, qualname)


# --- CUDA determinism ------------------------------------------------------------------------
@pytest.fixture
def global_flags(monkeypatch):
    """make_deterministic sets process-wide switches: put them back afterwards."""
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
     torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) = saved[2:]


def test_cuda_gets_the_determinism_settings(global_flags):
    make_deterministic(torch.device("cuda"))  # setting flags needs no GPU
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


def test_the_cpu_keeps_the_defaults(global_flags):
    torch.use_deterministic_algorithms(False)
    make_deterministic(torch.device("cpu"))
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    assert not torch.are_deterministic_algorithms_enabled()


def test_jobs_set_determinism_before_anything_touches_the_device(monkeypatch):
    """jobs.common.setup: the device, then the determinism settings, then the task (its data
    go to the device) and the model; cuBLAS reads its workspace setting at first use."""
    from lscrepro.jobs import common
    calls = []

    class Model:
        def to(self, device):
            calls.append("model.to")
            return self

    monkeypatch.setattr(common, "resolve_device", lambda name: calls.append("resolve") or torch.device("cuda"))
    monkeypatch.setattr(common, "make_deterministic", lambda device: calls.append(f"deterministic {device}"))
    monkeypatch.setattr(common, "build_task", lambda *args: calls.append("task") or type("T", (), {"dims": {}}))
    monkeypatch.setattr(common, "build_model", lambda *args: calls.append("model") or Model())
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    common.setup({"device": "cuda", "task": {}, "data": {}, "model": {}, "seed": 0}, threads=1)
    assert calls == ["resolve", "deterministic cuda", "task", "model", "model.to"]
