"""Estimated GPU-hours of the paper grid, per rule, from docs/grid_cost.json's counted FLOPs
(lscrepro.cost.gpu): an estimate, until benchmarks/gpu_check.py has run on a GPU.

    python benchmarks/gpu_estimate.py [--json docs/grid_cost.json] [--share 0.3] [--peak 67e12]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lscrepro.cost.gpu import ASSUMED_SHARE, H100_FP32_FLOPS, gpu_hours_per_rule

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(ROOT / "docs/grid_cost.json"))
    parser.add_argument("--share", type=float, default=ASSUMED_SHARE,
                        help="share of the GPU's dense float32 rate the steps reach")
    parser.add_argument("--peak", type=float, default=H100_FP32_FLOPS,
                        help="the GPU's dense float32 FLOP/s (H100 SXM5: 67e12)")
    args = parser.parse_args()
    cost = json.loads(Path(args.json).read_text())
    table = gpu_hours_per_rule(cost["rows"], args.peak, args.share)
    print(f"ESTIMATE from {args.json} (commit {cost['commit']}, {cost['date']}): counted FLOPs at "
          f"{args.share:.0%} of {args.peak / 1e12:.0f} TFLOP/s; not yet measured on a GPU")
    print(f"{'rule':<14}{'jobs':>6}{'GPU-h/job med':>15}{'max':>8}{'GPU-h total':>13}"
          f"{'CPU-h uncapped':>16}{'CPU/GPU':>9}")
    for row in table + [_total(table)]:
        ratio = row["cpu_hours_uncapped_total"] / row["gpu_hours_total"]
        print(f"{row['rule']:<14}{row['jobs']:>6}{row.get('gpu_hours_per_job_median', 0):>15.3f}"
              f"{row.get('gpu_hours_per_job_max', 0):>8.3f}{row['gpu_hours_total']:>13.1f}"
              f"{row['cpu_hours_uncapped_total']:>16,.1f}{ratio:>8.0f}x")


def _total(table: list[dict]) -> dict:
    return {"rule": "all", "jobs": sum(r["jobs"] for r in table),
            "gpu_hours_total": sum(r["gpu_hours_total"] for r in table),
            "cpu_hours_uncapped_total": sum(r["cpu_hours_uncapped_total"] for r in table)}


if __name__ == "__main__":
    main()
