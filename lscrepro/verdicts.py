"""The verdicts the pipeline gives: a pre-training's (``judge_pretraining``: converged, not
converged, diverged, and whether it kept its initial weights), which the status table, the
summaries and the claims all take from here; and the claims table's verdict counts. Plain
Python: status imports this, and must not rerun whenever the statistics
(lscrepro/results/claims.py, paired.py) change."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class RunVerdict:
    state: str  # "converged", "not_converged" or "diverged"
    detail: str  # why, in one line
    kept_initial: bool  # the run handed back the weights it started from (selected step 0)


KEPT_INITIAL = "kept its initial weights"


def judge_pretraining(report: dict) -> RunVerdict:
    """A pretrain.json's verdict, from its result and the settings it ran with ("resolved":
    the settings dataclass, defaults included): converged when the procedure said so and
    every radius it aims at ended within its tolerance of its target (the mean over kinds,
    or each kind where the result names per-kind targets, as the LRU's)."""
    result = report.get("result", {})
    status = result.get("status", "?")
    kept = result.get("selected_step") == 0 and result.get("steps", 0) > 0
    lsc = report.get("resolved", {}).get("lsc")
    if not isinstance(lsc, dict) or "tolerance" not in lsc or "target" not in lsc:
        detail = f"{status}; the report records no resolved lsc settings (written before they were): rerun it"
        return RunVerdict("diverged" if status == "diverged" else "not_converged", detail, kept)
    offs = _offsets(result, float(lsc["target"]))
    worst = max(off for *_, off in offs)
    within = worst <= lsc["tolerance"]  # False for a NaN radius (inf)
    radii = ", ".join(f"{what} {radius:.4g} vs target {goal:g}" for what, radius, goal, _ in offs)
    detail = f"{status}, {radii}: off by {worst:.3g} {'<=' if within else '>'} tolerance {lsc['tolerance']:g}"
    if kept:
        detail += f"; {KEPT_INITIAL} after {result['steps']} steps"
    if status == "diverged":
        return RunVerdict("diverged", detail, kept)
    return RunVerdict("converged" if status == "converged" and within else "not_converged", detail, kept)


def _offsets(result: dict, target: float) -> list[tuple[str, float, float, float]]:
    """(what, radius, its target, |radius - target|) of each radius the run aims at; the
    distance of a NaN radius is inf."""
    goals = result.get("targets") or {}
    if goals:
        after = result.get("radius_after_per_kind", {})
        pairs = [(f"{kind} radius", float(after.get(kind, math.nan)), float(goal)) for kind, goal in goals.items()]
    else:
        pairs = [("radius", float(result.get("radius_after_mean", math.nan)), target)]
    return [(what, radius, goal, _distance(radius, goal)) for what, radius, goal in pairs]


def _distance(radius: float, goal: float) -> float:
    off = abs(radius - goal)
    return math.inf if math.isnan(off) else off


# --- the claims -------------------------------------------------------------------------

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN = "holds", "does not hold", "inconclusive", "not run"
VERDICTS = [HOLDS, FAILS, INCONCLUSIVE, NOT_RUN]


def counts(verdicts) -> dict[str, int]:
    """How many claims have each verdict, every verdict named (zeros too), in VERDICTS order."""
    verdicts = list(verdicts)
    return {v: verdicts.count(v) for v in VERDICTS}


def verdict_counts(path: str | os.PathLike) -> dict[str, int]:
    """The verdict counts of a claims.csv (csv only: no pandas)."""
    with open(path, newline="") as handle:
        return counts(row["verdict"] for row in csv.DictReader(handle))
