"""What the paper grid costs, measured: seconds per LSC step and per training step of every
distinct job shape at the paper's sizes, extrapolated to whole jobs and summed per rule.

A job shape is a resolved spec without what does not change the cost (seed, learning
rate, LSC target). For each, the model is built at the real dataset's sizes
(``Preparation.canonical_info``) and fed random batches of the task's layout: token ids
(PTB), spike rasters (SHD, sl-MNIST) or images; the numbers that enter the model do not
change the time of its dense arithmetic. One job costs at most

    pretrain  LSC steps x the stop rule's upper bound (capped by lsc.max_seconds), plus
              the before/after radius measurements;
    train     epochs x (training steps per epoch + a validation pass), capped by
              train.max_seconds, plus the test pass;

early stopping can only make it shorter. Each shape's step is also counted in FLOPs
(``torch.utils.flop_counter``: the matmuls and convolutions of forward and backward) and set
against the same run's single-thread GEMM rate (``step_mfu``, lscrepro/cost/flops.py). Each shape runs in a forked child process of its own, so
its peak resident memory (ru_maxrss: the interpreter, torch, the model, one batch and the LSC
Jacobians; not the dataset's arrays) is its own.
"""

from __future__ import annotations

import copy
import json
import resource
import statistics
from dataclasses import dataclass
from multiprocessing import get_context

import torch
import torch.nn.functional as F

from ..host_memory import keep_freed_memory
from ..models import build_model
from ..models.readout import readout_cross_entropy
from ..optim import adabelief_lookahead
from ..workflow.spec import FAMILIES, pretrain_runs, resolve_spec, train_runs
from .flops import measure_gemm_rate, train_step_flops
from .lsc import lsc_job_seconds, lsc_seconds, lsc_step_flops
from .sizes import batches_per_epoch, random_batch, seconds_per_call, task_sizes

# spec entries that do not change what a job computes, only the values it computes with
COST_FREE = (("seed",), ("run",), ("pretrained",), ("lsc", "target"), ("train", "lr"))


@dataclass(frozen=True)
class Shape:
    rule: str  # pretrain_<family> / train_<family>
    spec: dict
    jobs: int


def shape_key(spec: dict) -> str:
    trimmed = copy.deepcopy(spec)
    for path in COST_FREE:
        parent = trimmed
        for key in path[:-1]:
            parent = parent.get(key, {})
        parent.pop(path[-1], None)
    return json.dumps(trimmed, sort_keys=True)


def grid_shapes(config: dict) -> list[Shape]:
    """Every distinct job shape of the config's grid, with how many jobs share it."""
    shapes: dict[tuple, Shape] = {}
    for name in FAMILIES:
        if name not in config:
            continue
        for kind, runs in (("pretrain", pretrain_runs), ("train", train_runs)):
            for _, row in runs(name, config[name]).iterrows():
                spec = resolve_spec(config, name, kind, row.to_dict())
                key = (f"{kind}_{name}", shape_key(spec))
                old = shapes.get(key)
                shapes[key] = Shape(key[0], spec, 1 + (old.jobs if old else 0))
    return list(shapes.values())


# --- timing ---
def training_loss(model, x: torch.Tensor, y: torch.Tensor, dims: dict) -> torch.Tensor:
    """The mean loss of one training batch as the task's batch_step computes it: a language
    task's readout fused with the cross-entropy (tasks/language.py), else the logits'."""
    if "vocab_size" in dims and hasattr(model, "readout_weights"):
        return readout_cross_entropy(model.features(x)[0], *model.readout_weights(), y)[0]
    out = model(x)
    out = out[0] if isinstance(out, tuple) else out
    return F.cross_entropy(out.reshape(-1, dims["num_classes"]), y.reshape(-1))


# --- timing ---------------------------------------------------------------------------------------
def training_step(model, spec: dict, dims: dict, generator):
    """(step, x): one training step at the spec's batch size on a random batch ``x``
    (forward, ``training_loss``, backward, optimiser step), as the grid times it."""
    optimizer = adabelief_lookahead(model.parameters(), 1e-3, 0.0)
    x, y = random_batch(dims, spec["train"]["batch_size"], generator)

    def step():
        model.train()
        loss = training_loss(model, x, y, dims)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step, x


def training_seconds(model, spec: dict, dims: dict, generator) -> tuple[float, float]:
    """Seconds of one training step at the spec's batch size and of one evaluation batch."""
    step, x = training_step(model, spec, dims, generator)

    def logits():
        out = model(x)
        return (out[0] if isinstance(out, tuple) else out).reshape(-1, dims["num_classes"])

    def evaluate():
        model.eval()
        with torch.no_grad():
            logits()
    return seconds_per_call(step, settled=True), seconds_per_call(evaluate, settled=True)


def measure_shape(shape: Shape, device: str = "cpu") -> dict:
    """Per-step seconds of one shape, and the peak memory of measuring it (MB)."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    spec, (dims, sizes) = shape.spec, task_sizes(shape.spec)
    model = build_model(spec["model"], dims, 0).to(device)
    if shape.rule.startswith("pretrain"):
        timed = lsc_seconds(model, spec, dims, sizes, generator)
        timed.update(lsc_step_flops(model, spec, dims, sizes, generator))
    else:
        step, evaluation = training_seconds(model, spec, dims, generator)
        timed = {"train_step_s": step, "eval_batch_s": evaluation,
                 **train_step_flops(spec, dims, lambda m, x, y: training_loss(m, x, y, dims))}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**timed, "peak_mb": peak_mb}


def job_seconds(shape: Shape, timed: dict, capped: bool = True) -> float:
    """Upper bound of one job's seconds from its shape's per-step times (``capped``: with
    the spec's time cap, as the job runs)."""
    spec = shape.spec
    if shape.rule.startswith("pretrain"):
        return lsc_job_seconds(spec, timed, task_sizes(spec), capped)
    dims, sizes = task_sizes(spec)
    train = spec["train"]
    batch = train["batch_size"]
    eval_batch = spec["task"].get("eval_batch_size", batch)
    per_epoch = (batches_per_epoch(spec, sizes, batch) * timed["train_step_s"]
                 + batches_per_epoch(spec, sizes, eval_batch, "val") * timed["eval_batch_s"] * eval_batch / batch)
    total = train.get("epochs", 1) * per_epoch
    cap = train.get("max_seconds") if capped else None
    test = batches_per_epoch(spec, sizes, eval_batch, "test") * timed["eval_batch_s"] * eval_batch / batch
    return (min(total, cap) if cap else total) + test


def _measure_in_child(args: tuple[Shape, str, int]) -> dict:
    shape, device, threads = args
    torch.set_num_threads(threads)
    return measure_shape(shape, device)


def measure_all(shapes: list[Shape], device: str = "cpu", threads: int = 1, workers: int = 1,
                log=print) -> list[dict]:
    """Each shape measured in a fresh forked process (its own peak memory), ``workers`` at a
    time (one thread each is what a job uses, so two workers on two cores time the same)."""
    # the policy as the jobs run (lscrepro.jobs.common.setup), set before any pool starts a
    # thread, the GEMM rate's included: the workers forked from the pools' threads then
    # allocate from the main heap (lscrepro.host_memory)
    keep_freed_memory()
    rows = []
    gemm_flops_per_s = measure_gemm_rate(device, threads)
    log(f"GEMM rate: {gemm_flops_per_s / 1e9:.1f} GFLOP/s ({threads} thread(s), float32)")
    # fork: the children inherit the imports (a spawned child would spend ~2 s importing
    # torch per shape); the parent has run no torch kernel, so no thread pool is forked
    with get_context("fork").Pool(workers, maxtasksperchild=1) as pool:
        timings = pool.imap(_measure_in_child, [(shape, device, threads) for shape in shapes])
        for index, (shape, timed) in enumerate(zip(shapes, timings), 1):
            seconds = job_seconds(shape, timed)
            step_s = timed["lsc_step_s" if shape.rule.startswith("pretrain") else "train_step_s"]
            timed["gemm_flops_per_s"] = gemm_flops_per_s
            timed["step_mfu"] = timed["step_flops"] / step_s / gemm_flops_per_s
            rows.append({"rule": shape.rule, "jobs": shape.jobs, "shape": describe_shape(shape),
                         "job_hours": seconds / 3600,
                         "uncapped_job_hours": job_seconds(shape, timed, capped=False) / 3600, **timed})
            log(f"[{index}/{len(shapes)}] {shape.rule} {rows[-1]['shape']}: {seconds / 3600:.2f} h per "
                f"job x {shape.jobs}, peak {timed['peak_mb']:.0f} MB, "
                f"{timed['step_flops'] / 1e9:.2f} GFLOP/step = {timed['step_mfu']:.0%} of the GEMM rate")
    return rows


def describe_shape(shape: Shape) -> str:
    """The shape's grid values, less those that do not change its cost (seed, learning
    rate); the clip stays: clipping is part of the shape (shape_key keeps clip_norm)."""
    spec = shape.spec
    run = {k: v for k, v in spec["run"].items() if k not in ("seed", "lr")}
    return " ".join(f"{k}={v}" for k, v in run.items())


def per_rule(rows: list[dict]) -> list[dict]:
    """CPU-hours per rule: jobs, per-job range, total, and the largest peak memory."""
    table = []
    for rule in dict.fromkeys(r["rule"] for r in rows):
        mine = [r for r in rows if r["rule"] == rule]
        hours = [r["job_hours"] for r in mine]
        table.append({"rule": rule, "jobs": sum(r["jobs"] for r in mine),
                      "job_hours_min": min(hours), "job_hours_median": statistics.median(hours),
                      "job_hours_max": max(hours),
                      "total_hours": sum(r["job_hours"] * r["jobs"] for r in mine),
                      "uncapped_total_hours": sum(r["uncapped_job_hours"] * r["jobs"] for r in mine),
                      "peak_mb": max(r["peak_mb"] for r in mine),
                      "step_mfu_min": min(r["step_mfu"] for r in mine),
                      "step_mfu_median": statistics.median(r["step_mfu"] for r in mine),
                      "step_mfu_max": max(r["step_mfu"] for r in mine)})
    return table


# The profile's requests from the table: the slowest job's time and the largest peak
# memory, each with this margin (the peak leaves out the dataset's arrays: CIFAR's are
# 0.7 GB, hence the floor), rounded up.
RUNTIME_MARGIN, MEMORY_MARGIN, MEMORY_FLOOR_MB = 1.5, 2.0, 4000


def profile_resources(table: list[dict]) -> dict[str, dict[str, int]]:
    """{rule: {runtime (minutes), mem_mb}} that cover every measured job with the margins."""
    def up(value: float, step: int) -> int:
        return int(-(-value // step) * step)
    return {row["rule"]: {"runtime": up(row["job_hours_max"] * 60 * RUNTIME_MARGIN, 10),
                          "mem_mb": max(up(row["peak_mb"] * MEMORY_MARGIN, 1000), MEMORY_FLOOR_MB)}
            for row in table}
