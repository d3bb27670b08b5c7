"""Why the training steps stay below issue 26's share of the GEMM rate: every training shape
of the grid, one step profiled on one thread (lscrepro/cost/profile.py), with its GEMM
share, the GEMMs' own rate, the eager floor of its non-GEMM op calls, those calls replayed
one by one, below its target the whole step replayed in its order, and the verdict (meets /
GEMM rate too low / eager floor too high / eager calls too slow / calls in sequence too slow /
reachable in principle).

    python benchmarks/step_profile.py [--config config/config.yaml] [--rule train_rnn ...]
                                      [--limit N] [--workers 1] [--retries 0] [--json docs/step_profile.json]
    python benchmarks/step_profile.py --from-json docs/step_profile.json   (the tables again)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

from lscrepro.cost.grid import grid_shapes
from lscrepro.cost.profile import MEETS, profile_all
from lscrepro.io import write_json

ROOT = Path(__file__).resolve().parents[1]
TRAIN_RULES = ("train_ffn", "train_rnn", "train_lru")


def slack_text(row: dict, most: int = 2) -> str:
    """The non-GEMM ops (and Python) furthest above their floor: measured / floor CPU s."""
    return ", ".join(f"{o['op'].removeprefix('aten::')} {o['measured_s']:.3g}/{o['floor_s']:.2g}"
                     for o in row["slack_ops"][:most])


def print_table(rows: list[dict]) -> None:
    print("\n| rule | shape | width | CPU s/step | step_mfu | GEMM share of step | GEMMs' rate | non-GEMM CPU s "
          "| non-GEMM floor s (calls) | non-GEMM replayed s | non-GEMM s the target allows | eager ceiling "
          "| replayed ceiling | target | verdict | most above floor (measured/floor s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for row in rows:
        print(f"| {row['rule']} | {row['shape']} | {row['width']} | {row['step_s']:.3g} "
              f"| {row['step_mfu']:.0%} | {row['gemm_share']:.0%} | {row['gemm_mfu']:.0%} "
              f"| {row['nongemm_s']:.3g} | {row['nongemm_floor_s']:.3g} ({row['nongemm_calls']}) "
              f"| {optional(row, 'nongemm_replayed_s', '{:.3g}')} | {row['nongemm_allowance_s']:.3g} "
              f"| {row['eager_ceiling_mfu']:.0%} | {optional(row, 'replayed_ceiling_mfu')} | {row['target']:.0%} "
              f"| {row['verdict']} | {slack_text(row)} |")


def optional(row: dict, key: str, form: str = "{:.0%}") -> str:
    """A field that runs before the replay (lscrepro/cost/replay.py) do not have: "–" there."""
    return form.format(row[key]) if key in row else "–"


# shape fields that vary inside a group of the grouped table (task x net / dataset / setup)
WITHIN_GROUP = ("depth=", "variant=", "activation=", "clip=")


def group_rows(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        key = " ".join(f for f in row["shape"].split() if not f.startswith(WITHIN_GROUP))
        groups.setdefault((row["rule"], key), []).append(row)
    return groups


def span(rows: list[dict], key: str, form: str = "{:.0%}") -> str:
    """min-max of a field over rows, in the given format (one value where they agree)."""
    if any(key not in r for r in rows):
        return "–"
    low, high = (form.format(f(r[key] for r in rows)) for f in (min, max))
    return low if low == high else f"{low}–{high}"


def print_grouped(rows: list[dict]) -> None:
    """One line per (rule, task x net / dataset / setup): min-max over its shapes."""
    print("\n| rule | shapes | n | width | CPU s/step | step_mfu | GEMM share of step | GEMMs' rate "
          "| non-GEMM CPU s | non-GEMM floor s | non-GEMM s the target allows | eager ceiling "
          "| replayed ceiling | eager ceiling, GEMMs at the rate | ceiling fused (GEMMs + random draws) | target "
          "| verdicts "
          "| most above its floor (most often first) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for (rule, key), mine in group_rows(rows).items():
        verdicts = Counter(r["verdict"] for r in mine)
        firsts = [r["slack_ops"][0]["op"] for r in mine]
        first = max(sorted(set(firsts)), key=firsts.count)  # ties: the first by name
        print(f"| {rule} | {key} | {len(mine)} | {span(mine, 'width', '{}')} | {span(mine, 'step_s', '{:.3g}')} "
              f"| {span(mine, 'step_mfu')} | {span(mine, 'gemm_share')} | {span(mine, 'gemm_mfu')} "
              f"| {span(mine, 'nongemm_s', '{:.3g}')} | {span(mine, 'nongemm_floor_s', '{:.3g}')} "
              f"| {span(mine, 'nongemm_allowance_s', '{:.3g}')} | {span(mine, 'eager_ceiling_mfu')} "
              f"| {span(mine, 'replayed_ceiling_mfu')} "
              f"| {span(mine, 'eager_ceiling_mfu_gemms_at_rate')} | {span(mine, 'fused_ceiling_mfu')} "
              f"| {span(mine, 'target')} "
              f"| {', '.join(f'{v} {n}' for v, n in sorted(verdicts.items()))} | {first.removeprefix('aten::')} |")


def print_below_target(rows: list[dict]) -> None:
    """The shapes below their target, one by one: each run's step_mfu, the eager floor and
    the replays (calls one by one, then the whole step in its order) against the time the
    target allows, and the verdict."""
    print("\n| rule | shape | width | step_mfu (each run) | target | GEMMs' rate "
          "| GEMM s + non-GEMM floor s = eager floor s (allowed) | eager ceiling "
          "| non-GEMM replayed s (measured) | replayed ceiling | fused ceiling "
          "| step replayed in order s (measured) | in-sequence ceiling | verdict | most replayed time |")
    print("|---|---|---:|---|---:|---:|---|---:|---|---:|---:|---|---:|---|---|")
    for row in rows:
        if row["verdict"] == MEETS:
            continue
        shape = " ".join(f for f in row["shape"].split() if not f.startswith("variant="))
        runs = ", ".join(f"{mfu:.1%}" for mfu in row["step_mfu_runs"])
        replayed = ", ".join(f"{o['op'].removeprefix('aten::')} {o['replayed_s']:.2g}" for o in row["replayed_ops"][:2])
        sequence = f"{row['sequence_s']:.3g} ({row['step_s']:.3g})" if "sequence_s" in row else "–"
        print(f"| {row['rule']} | {shape} | {row['width']} | {row['step_mfu']:.2%} ({runs}) | {row['target']:.0%} "
              f"| {row['gemm_mfu']:.0%} | {row['gemm_s']:.3g} + {row['nongemm_floor_s']:.3g} = "
              f"{row['eager_floor_s']:.3g} ({row['target_s']:.3g}) | {row['eager_ceiling_mfu']:.0%} "
              f"| {row['nongemm_replayed_s']:.3g} ({row['nongemm_s']:.3g}) | {row['replayed_ceiling_mfu']:.0%} "
              f"| {row['fused_ceiling_mfu']:.0%} | {sequence} | {optional(row, 'sequence_ceiling_mfu', '{:.1%}')} "
              f"| {row['verdict']} | {replayed} |")


def print_counts(rows: list[dict]) -> None:
    counts = Counter(row["verdict"] for row in rows)
    print(f"\nverdicts over {len(rows)} shapes: " + ", ".join(f"{v} {n}" for v, n in counts.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--rule", nargs="*", choices=TRAIN_RULES, help="only these rules (default: all three)")
    parser.add_argument("--limit", type=int, help="at most this many shapes per rule")
    parser.add_argument("--workers", type=int, default=1, help="shapes profiled at once (1 thread each)")
    parser.add_argument("--retries", type=int, default=0,
                        help="profile a shape below its target again, up to N times, and keep its best run")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--from-json", help="print the tables of a written run instead of profiling")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())["rows"]
        print_table(rows)
        print_grouped(rows)
        print_below_target(rows)
        print_counts(rows)
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
    rows = profile_all(shapes, args.workers, retries=args.retries)
    print_table(rows)
    print_grouped(rows)
    print_below_target(rows)
    print_counts(rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    print(f"\n{len(shapes)} training shapes profiled in {time.perf_counter() - start:.0f} s "
          f"({args.workers} at a time, 1 thread each), {date.today()}, commit {commit}; "
          f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    if args.json:
        write_json(Path(args.json), {"commit": commit, "date": str(date.today()), "workers": args.workers,
                                     "retries": args.retries,
                                     "seconds": time.perf_counter() - start,
                                     "load_average": {"before": load[0], "after": os.getloadavg()[0]},
                                     "rows": rows})


if __name__ == "__main__":
    main()
