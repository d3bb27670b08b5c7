"""Why the training steps stay below issue 26's share of the GEMM rate: every training shape
of the grid, one step profiled on one thread (lscrepro/cost/profile.py), with its GEMM
share, the GEMMs' own rate, the largest other ops and whether the target is reachable.

    python benchmarks/step_profile.py [--config config/config.yaml] [--rule train_rnn ...]
                                      [--limit N] [--workers 1] [--json docs/step_profile.json]
    python benchmarks/step_profile.py --from-json docs/step_profile.json   (the tables again)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import yaml

from lscrepro.cost.grid import grid_shapes
from lscrepro.cost.profile import profile_all
from lscrepro.io import write_json

ROOT = Path(__file__).resolve().parents[1]
TRAIN_RULES = ("train_ffn", "train_rnn", "train_lru")


def print_table(rows: list[dict]) -> None:
    print("\n| rule | shape | width | CPU s/step | step_mfu | GEMM share of step | GEMMs' rate "
          "(ceiling) | target | reachable? | largest other ops (share of step) | limited by |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for row in rows:
        top = ", ".join(f"{o['op'].removeprefix('aten::')} {o['share']:.0%}" for o in row["top_ops"])
        print(f"| {row['rule']} | {row['shape']} | {row['width']} | {row['step_s']:.3g} "
              f"| {row['step_mfu']:.0%} | {row['gemm_share']:.0%} | {row['gemm_mfu']:.0%} "
              f"| {row['target']:.0%} | {'yes' if row['reachable'] else 'no'} | {top} "
              f"| {row['limited_by']} |")


# shape fields that vary inside a group of the grouped table (task x net / dataset / setup)
WITHIN_GROUP = ("depth=", "variant=", "activation=", "clip=")


def group_rows(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        key = " ".join(f for f in row["shape"].split() if not f.startswith(WITHIN_GROUP))
        groups.setdefault((row["rule"], key), []).append(row)
    return groups


def print_grouped(rows: list[dict]) -> None:
    """One line per (rule, task x net / dataset / setup): min-max over its shapes."""
    def span(mine, key, form="{:.0%}"):
        low, high = min(r[key] for r in mine), max(r[key] for r in mine)
        low, high = form.format(low), form.format(high)
        return low if low == high else f"{low}–{high}"
    print("\n| rule | shapes | n | width | CPU s/step | step_mfu | GEMM share of step | GEMMs' rate "
          "(ceiling) | target | reachable? | GEMM share the target needs | largest other op (share, most "
          "often first) | limited by |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
    for (rule, key), mine in group_rows(rows).items():
        # step_mfu = GEMM share x the GEMMs' rate, so the target needs this share in GEMMs
        needs = [row["target"] / row["gemm_mfu"] for row in mine if row["reachable"]]
        reach = {r["reachable"] for r in mine}
        firsts = [r["top_ops"][0]["op"] for r in mine]
        first = max(sorted(set(firsts)), key=firsts.count)  # ties: the first by name
        tops = {"top": [r["top_ops"][0] for r in mine if r["top_ops"][0]["op"] == first]}
        print(f"| {rule} | {key} | {len(mine)} | {span(mine, 'width', '{}')} | {span(mine, 'step_s', '{:.3g}')} "
              f"| {span(mine, 'step_mfu')} | {span(mine, 'gemm_share')} | {span(mine, 'gemm_mfu')} "
              f"| {span(mine, 'target')} | {'yes' if reach == {True} else 'no' if reach == {False} else 'some'} "
              f"| {span([{'n': n} for n in needs], 'n') if needs else '—'} "
              f"| {first.removeprefix('aten::')} {span(tops['top'], 'share')} "
              f"| {', '.join(sorted({r['limited_by'] for r in mine}))} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--rule", nargs="*", choices=TRAIN_RULES, help="only these rules (default: all three)")
    parser.add_argument("--limit", type=int, help="at most this many shapes per rule")
    parser.add_argument("--workers", type=int, default=1, help="shapes profiled at once (1 thread each)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--from-json", help="print the tables of a written run instead of profiling")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())["rows"]
        print_table(rows)
        print_grouped(rows)
        return
    config = yaml.safe_load(Path(args.config).read_text())
    rules = args.rule or TRAIN_RULES
    shapes = [s for s in grid_shapes(config) if s.rule in rules]
    if args.limit:
        shapes = [s for rule in rules for s in [s for s in shapes if s.rule == rule][:args.limit]]
    if not shapes:
        sys.exit(f"no training shape of {args.config} belongs to the rules {list(rules)}")
    load = os.getloadavg()
    start = time.perf_counter()
    rows = profile_all(shapes, args.workers)
    print_table(rows)
    print_grouped(rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    print(f"\n{len(shapes)} training shapes profiled in {time.perf_counter() - start:.0f} s "
          f"({args.workers} at a time, 1 thread each), {date.today()}, commit {commit}; "
          f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.json:
        write_json(Path(args.json), {"commit": commit, "date": str(date.today()), "workers": args.workers,
                                     "seconds": time.perf_counter() - start,
                                     "load_average": {"before": load[0], "after": os.getloadavg()[0]},
                                     "rows": rows})


if __name__ == "__main__":
    main()
