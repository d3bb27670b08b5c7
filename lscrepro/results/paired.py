"""Paired statistics behind the claims table (lscrepro.results.claims): a seeded bootstrap interval
of the median paired difference, the Wilcoxon signed-rank test, the Wilson interval of a
win fraction with its binomial test, and the verdict an interval gives.

Numpy and scipy only. scipy.stats is imported where it is used: it alone takes 0.7 s to
import. Every
bootstrap draws from a generator seeded by the claim's own key, so a row's interval does not
depend on which other rows the grid has, and the same inputs give the same numbers on every
run.
"""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np

from lscrepro.verdicts import FAILS, HOLDS, INCONCLUSIVE, NOT_RUN, VERDICTS  # noqa: F401

CONFIDENCE = 0.95
RESAMPLES = 10_000
ALPHA = 0.05  # the paired test must reject no effect at this level too
MIN_N = 3  # fewer pairs than this cannot show anything: inconclusive whatever the interval


def seed_of(key: str) -> int:
    """A stable seed from text (Python's hash() changes from one process to the next)."""
    return zlib.crc32(key.encode())


def median_ci(differences, key: str) -> tuple[float, float, float]:
    """(median, low, high): the median of ``differences`` and its percentile bootstrap
    interval at CONFIDENCE, from RESAMPLES resamples of the pairs drawn with seed_of(key).
    NaN throughout for no differences."""
    values = np.asarray(differences, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed_of(key))
    medians = np.median(values[rng.integers(0, values.size, (RESAMPLES, values.size))], axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(np.median(values)), float(low), float(high)


def wilcoxon_p(differences) -> float:
    """Two-sided Wilcoxon signed-rank p-value; zero differences (ties) are dropped, as
    scipy's default does. NaN when no difference is non-zero: there is nothing to rank."""
    values = np.asarray(differences, dtype=float)
    if not np.any(values != 0):
        return math.nan
    from scipy import stats

    with warnings.catch_warnings():  # small samples: scipy warns about its approximation
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(values).pvalue)


def wilson(wins: int, n: int) -> tuple[float, float]:
    """The Wilson interval of wins / n at CONFIDENCE; NaN for n = 0."""
    from scipy import stats

    if n == 0:
        return math.nan, math.nan
    interval = stats.binomtest(int(wins), int(n)).proportion_ci(CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def sign_p(wins: int, n: int) -> float:
    """Two-sided binomial test of wins / n against one half; NaN for n = 0."""
    from scipy import stats

    return float(stats.binomtest(int(wins), int(n), 0.5).pvalue) if n else math.nan


def verdict(n: int, low: float, high: float, null: float, higher_is_better: bool,
            p_value: float = 0.0) -> str:
    """inconclusive for n < MIN_N, an interval that includes ``null`` (no effect), or a test
    that does not reject no effect at ALPHA (with few pairs a bootstrap interval excludes the
    null whenever every pair agrees: 4 of 4 has Wilcoxon p = 0.125); else holds when the
    whole interval lies on the better side, does not hold on the worse. (A claim without
    runs is not run: the caller says so, never this.)"""
    if n < MIN_N or not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if not p_value < ALPHA:
        return INCONCLUSIVE
    if low > null:
        return HOLDS if higher_is_better else FAILS
    if high < null:
        return FAILS if higher_is_better else HOLDS
    return INCONCLUSIVE
