"""The allocator policy of the jobs (lscrepro.host_memory): a freed large tensor's pages stay
in the process, so the next step's tensor of that size faults no page in."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lscrepro.jobs import common

# the faults of 20 fresh 64 MiB tensors, in a child process: the policy is per process and
# cannot be undone in this one
LAST_FAULTS = """
import resource, torch
def last_faults():
    faults = []
    for _ in range(20):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(16 * 2 ** 20).fill_(1.0)  # 64 MiB: mmapped by default glibc, freed at once
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    # with the policy the heap grows over the first few tensors (measured: 9), after which
    # every tensor reuses a freed block
    return faults[-5:]
"""
CHILD = LAST_FAULTS + """
import sys
from lscrepro.host_memory import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
print(applied, *last_faults())
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


# a child process with the policy, whose pool forks its second worker from the pool's
# handler thread
POOL_CHILD = LAST_FAULTS + """
import threading
from multiprocessing import get_context
from lscrepro.host_memory import keep_freed_memory
def worker_faults(_):
    torch.set_num_threads(1)
    return threading.current_thread().name, max(last_faults())
keep_freed_memory()  # in the parent, before the pool starts its threads
with get_context("fork").Pool(1, maxtasksperchild=1) as pool:
    for thread, faults in pool.imap(worker_faults, range(2)):
        print(thread.replace(" ", "_"), faults)
"""


def _pool_workers_faults() -> list[tuple[str, int]]:
    out = subprocess.run([sys.executable, "-c", POOL_CHILD], capture_output=True, text=True, check=True)
    return [(thread, int(faults)) for thread, faults in (line.split() for line in out.stdout.splitlines())]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_a_pool_worker_forked_from_a_thread_keeps_its_freed_memory():
    (first, first_faults), (second, second_faults) = _pool_workers_faults()
    assert first == "MainThread" and second != "MainThread"  # what the test is about
    # without one arena the second worker allocates from its thread's arena, which serves a
    # 64 MiB block by a fresh mmap: 16,384 faults a tensor (measured)
    assert second_faults <= first_faults + 1_000 and second_faults < 1_000


def test_the_jobs_set_the_policy(monkeypatch):
    calls = []
    monkeypatch.setattr(common, "keep_freed_memory", lambda: calls.append(True))
    monkeypatch.setattr(common, "build_task", lambda *a: type("T", (), {"dims": {}})())
    monkeypatch.setattr(common, "build_model", lambda *a: __import__("torch").nn.Linear(1, 1))
    common.setup({"device": "cpu", "task": {}, "data": {}, "model": {}, "seed": 0}, threads=1)
    assert calls == [True]


class _PoolStarted(Exception):
    pass


@pytest.mark.parametrize("module, run", [
    ("profile", lambda m: m.profile_all([], workers=1, log=print)),
    ("grid", lambda m: m.measure_all([])),
])
def test_the_profilers_set_the_policy_before_any_pool_starts_its_threads(monkeypatch, module, run):
    """Before the first pool, the GEMM rate's included: a thread that has exited leaves its
    arena to the next one whatever the limit (lscrepro.host_memory)."""
    import importlib

    from lscrepro.cost import flops
    profiler = importlib.import_module(f"lscrepro.cost.{module}")
    calls = []

    def pool(*args, **kwargs):
        calls.append("pool")
        raise _PoolStarted

    context = type("Context", (), {"Pool": staticmethod(pool)})
    monkeypatch.setattr(profiler, "keep_freed_memory", lambda: calls.append("policy"))
    for forking in (profiler, flops):  # grid's measure_gemm_rate forks from flops
        monkeypatch.setattr(forking, "get_context", lambda method: context)
    with pytest.raises(_PoolStarted):
        run(profiler)
    assert calls == ["policy", "pool"]
