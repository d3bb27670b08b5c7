"""The claims table's verdicts and their counts. Plain Python: status imports this to print
the counts, and must not rerun whenever the statistics (lscrepro/results/claims.py, paired.py) change."""

from __future__ import annotations

import csv
import os

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
