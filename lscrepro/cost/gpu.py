"""GPU-hours of the paper grid, estimated from what ``benchmarks/grid_cost.py`` counted on
the CPU. An estimate until ``benchmarks/gpu_check.py`` has timed the steps on a GPU.

A job's work is its uncapped CPU time times the FLOP rate its steps reached there
(``step_mfu`` x the same run's GEMM rate: the counted matmul FLOPs of a step over its
seconds). On the GPU the same FLOPs run at a stated share of the device's dense rate. What
the FLOP count leaves out (eigensolvers, which torch runs on the host through MAGMA; the
per-time-step kernel launches of narrow cells) is not in the estimate, so it errs low for
the LSC pre-trainings and the sl-MNIST/SHD trainings.
"""

from __future__ import annotations

import statistics

# H100 SXM5's dense float32 rate (no tensor cores): lscrepro.device turns TF32 off, so
# float32 matmuls run at this rate, not at TF32's 495 TFLOP/s.
H100_FP32_FLOPS = 67e12
# The share of it assumed: about what the CPU steps reach of their GEMM rate (median 27-42%
# for the training rules in docs/grid_cost.json).
ASSUMED_SHARE = 0.3


def job_flops(row: dict) -> float:
    """FLOPs of one whole job of a grid_cost row (its uncapped hours at its step's rate)."""
    return row["uncapped_job_hours"] * 3600 * row["step_mfu"] * row["gemm_flops_per_s"]


def gpu_hours_per_rule(rows: list[dict], peak: float = H100_FP32_FLOPS,
                       share: float = ASSUMED_SHARE) -> list[dict]:
    """Per rule: jobs, GPU-hours per job (median, max) and in all, next to the uncapped
    CPU-hours of the same rows."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    by_rule: dict[str, list[dict]] = {}
    for row in rows:
        by_rule.setdefault(row["rule"], []).append(row)
    table = []
    for rule, group in by_rule.items():
        per_job = [job_flops(row) / (share * peak) / 3600 for row in group]
        table.append({
            "rule": rule,
            "jobs": sum(row["jobs"] for row in group),
            "gpu_hours_per_job_median": statistics.median(per_job),
            "gpu_hours_per_job_max": max(per_job),
            "gpu_hours_total": sum(h * row["jobs"] for h, row in zip(per_job, group)),
            "cpu_hours_uncapped_total": sum(row["uncapped_job_hours"] * row["jobs"] for row in group),
        })
    return table
