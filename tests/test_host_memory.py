"""The allocator policy of the jobs (lscrepro.host_memory): a freed large tensor's pages stay
in the process, so the next step's tensor of that size faults no page in."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lscrepro.jobs import common

# a child process: the policy is per process and cannot be undone in this one
CHILD = """
import resource, sys, torch
from lscrepro.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
def faults_of_a_fresh_tensor():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(16 * 2 ** 20).fill_(1.0)  # 64 MiB: mmapped by default glibc, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
# with the policy the heap grows over the first few tensors (measured: 9), after which every
# tensor reuses a freed block
print(applied, *[faults_of_a_fresh_tensor() for _ in range(20)][-5:])
"""


def _last_faults(policy: str) -> tuple[bool, list[int]]:
    out = subprocess.run([sys.executable, "-c", CHILD, policy], capture_output=True, text=True, check=True)
    applied, *faults = out.stdout.split()
    return applied == "True", [int(f) for f in faults]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_a_freed_tensor_is_reused_without_page_faults():
    applied, faults = _last_faults("on")
    _, faults_default = _last_faults("off")
    assert applied
    assert min(faults_default) > 10_000  # 16,384 pages of 4 KiB, faulted in afresh every time
    assert max(faults) < 1_000


def test_the_jobs_set_the_policy(monkeypatch):
    calls = []
    monkeypatch.setattr(common, "keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(common, "build_task", lambda *a: type("T", (), {"dims": {}})())
    monkeypatch.setattr(common, "build_model", lambda *a: __import__("torch").nn.Linear(1, 1))
    common.setup({"device": "cpu", "task": {}, "data": {}, "model": {}, "seed": 0}, threads=1)
    assert calls == [True]
