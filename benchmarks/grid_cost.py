"""What the paper grid costs on this machine, measured: CPU-hours per rule (per-job range
and total) and peak memory per job, from one timing of every distinct job shape at the
paper's sizes (lscrepro/cost/), and each shape's step as a share of the same run's GEMM rate
(``step_mfu``: counted FLOPs / step seconds / GEMM FLOP/s, lscrepro/cost/flops.py). On a GPU, ``--device cuda`` gives GPU-hours.

    python benchmarks/grid_cost.py [--config config/config.yaml] [--device cpu] [--threads 1]
                                   [--rules pretrain_rnn train_rnn ...] [--json results/grid_cost.json]

Jobs run with one thread (the rules' ``threads: 1``), so the default times one thread.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import yaml

from lscrepro.cost.grid import grid_shapes, measure_all, per_rule, profile_resources
from lscrepro.io import write_json

ROOT = Path(__file__).resolve().parents[1]


def print_shares(rows: list[dict], device: str) -> None:
    """Each shape's step: seconds, counted GFLOP and their share of the run's GEMM rate."""
    print(f"\nGEMM rate of this run: {rows[0]['gemm_flops_per_s'] / 1e9:.1f} GFLOP/s (float32, {device}); "
          "GFLOP/step counted by torch.utils.flop_counter (matmuls and convolutions, forward and backward)")
    print("\n| rule | shape | s/step | GFLOP/step | share of GEMM rate (step_mfu) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        step_s = row.get("lsc_step_s", row.get("train_step_s"))
        print(f"| {row['rule']} | {row['shape']} | {step_s:.3g} | {row['step_flops'] / 1e9:,.3g} "
              f"| {row['step_mfu']:.0%} |")


def print_table(table: list[dict], device: str) -> None:
    unit = "GPU" if device.startswith("cuda") else "CPU"
    print(f"\n| rule | jobs | {unit}-h per job (min / median / max) | {unit}-h total | without the time caps "
          f"| peak memory per job | share of GEMM rate (min / median / max) |")
    print("|---|---:|---|---:|---:|---:|---|")
    for row in table:
        print(f"| {row['rule']} | {row['jobs']} | {row['job_hours_min']:.2f} / {row['job_hours_median']:.2f} / "
              f"{row['job_hours_max']:.2f} | {row['total_hours']:,.1f} | {row['uncapped_total_hours']:,.1f} "
              f"| {row['peak_mb'] / 1024:.1f} GiB | {row['step_mfu_min']:.0%} / {row['step_mfu_median']:.0%} / "
              f"{row['step_mfu_max']:.0%} |")
    total = sum(row["total_hours"] for row in table)
    uncapped = sum(row["uncapped_total_hours"] for row in table)
    print(f"| all | {sum(row['jobs'] for row in table)} | | {total:,.1f} | {uncapped:,.1f} | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, help="shapes timed at once (default: one per "
                        "--threads cores on the CPU, one on a GPU)")
    parser.add_argument("--rules", nargs="*", help="only these rules (default: every job rule)")
    parser.add_argument("--json", help="also write the rows and the table here")
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text())
    shapes = [s for s in grid_shapes(config) if not args.rules or s.rule in args.rules]
    if not shapes:
        sys.exit(f"no job of {args.config} belongs to the rules {args.rules}")
    start = time.perf_counter()
    workers = args.workers or (1 if args.device != "cpu" else max(os.cpu_count() // args.threads, 1))
    rows = measure_all(shapes, args.device, args.threads, workers)
    table = per_rule(rows)
    print_shares(rows, args.device)
    print_table(table, args.device)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print("\nThe workflow profile's requests (profiles/default/config.yaml, set-resources), with the "
          "margins of lscrepro/cost/grid.py:")
    for rule, resources in profile_resources(table).items():
        print(f"  {rule}: " + ", ".join(f"{k}: {v}" for k, v in resources.items()))
    print(f"\n{len(shapes)} job shapes measured in {time.perf_counter() - start:.0f} s on {args.device} "
          f"({args.threads} thread(s) each, {workers} at a time), {date.today()}, commit {commit or 'unknown'}")
    if args.json:
        write_json(Path(args.json), {"device": args.device, "threads": args.threads, "workers": workers,
                                     "commit": commit, "seconds": time.perf_counter() - start,
                                     "date": str(date.today()), "rows": rows, "table": table})


if __name__ == "__main__":
    main()
