"""The paper's claims, each checked on the grid that ran: one row per claim and grid cell with
its paired statistics and a verdict (claims.csv), and the same as a Markdown table (claims.md).

It reads what the figures read, through their reducers: the FFN summary (Figure 2, runs
matched on learning rate and seed), the per-run Figure 3 metric (fig3_runs.csv, counted by
``matched_wins`` as the figure's panels count it), the lru summary (Figure 4 and Table 1,
matched on seed), and each family's summary for its pre-trainings. A family that is not given
has its claims listed as ``not run``; so has a comparison without runs: missing runs never
make a claim fail.

Verdicts (lscrepro.results.paired): ``holds`` when the 95% interval lies on the paper's side of no
effect, ``does not hold`` when it lies on the other, ``inconclusive`` when it includes no
effect or fewer than 3 pairs stand behind it, ``not run`` without runs.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from lscrepro.io import write_csv, write_text
from lscrepro.results.fig2 import FFN_TASK
from lscrepro.results.fig3 import EXCLUDED_NETS, FIG3_PANELS, Comparison, beats, matched_wins, nets_of
from lscrepro.results.lru import LRU_TASK
from lscrepro.results.paired import NOT_RUN, VERDICTS, median_ci, sign_p, verdict, wilcoxon_p, wilson
from lscrepro.results.rnn_table import RADIUS_TOLERANCE, kept_initial
from lscrepro.results.tables import higher_is_better, markdown_row, ordered_present
from lscrepro.workflow.spec import FAMILIES
from lscrepro.verdicts import counts, verdict_counts  # noqa: F401  (verdict_counts: for callers)

COLUMNS = ["claim", "family", "cell", "comparison", "metric", "statement", "n", "runs", "wins",
           "win_fraction", "estimate", "ci_low", "ci_high", "interval", "p_value", "test", "verdict",
           "detail"]
BOOTSTRAP = "bootstrap 95% of the median"
DIFFERENCE_TEST = "Wilcoxon signed-rank"
WILSON = "Wilson 95%"
SIGN_TEST = "binomial vs 1/2"

# Figure 2: LSC against each baseline initialisation, matched on (learning rate, seed)
FIG2_BASELINES = {"glorot": "Glorot", "he": "He"}
# how the claims name the variants of the deep RNNs and the ResLRU
TARGET_NAMES = {"default": "no pre-training", "lsc": "ρ=1", "lsc_half": "ρ=0.5",
                "lsc_unbalanced": "the unbalanced ρ (ρ̄=0.5)"}
# the nets of a Figure 3 bar (RNN-ReLU is left out of every bar, as in the paper)
NET_GROUPS = {"alif": "the ALIF nets", "no_alif": "the LSTM, GRU and RNN-σ", "all": "all nets but RNN-ReLU"}
LRU_SETUPS = {"fig4": "Figure 4", "table1": "Table 1"}
LRU_METRICS = {"val_perplexity": "validation perplexity", "test_perplexity": "test perplexity"}
# the LSC variants each family's config grids: their pre-trainings are checked, and one that
# did not run is listed as not run
PRETRAINED = {"ffn": ["lsc"], "rnn": ["lsc", "lsc_half"], "lru": ["lsc", "lsc_half", "lsc_unbalanced"]}
FAMILY_TEXT = {"ffn": "dense nets (Figure 2)", "rnn": "deep RNNs (Figure 3)",
               "lru": "ResLRUs (Figure 4, Table 1)"}
TEXT = {key: str for key in ("dataset", "activation", "task", "net", "variant", "setup", "lsc_status")}
log = logging.getLogger("claims")


def _row(claim: str, family: str, cell: str, comparison: str, metric: str, statement: str,
         detail: str = "") -> dict:
    """A claim with no runs behind it yet: ``not run``; the checks fill in the rest."""
    row = dict.fromkeys(COLUMNS, math.nan)
    row.update(claim=claim, family=family, cell=cell, comparison=comparison, metric=metric,
               statement=statement, n=0, runs=0, wins=0, interval="", test="", verdict=NOT_RUN,
               detail=detail)
    return row


def _pairs(frame: pd.DataFrame, keys: list[str], challenger: str, baseline: str, column: str) -> pd.DataFrame:
    """Columns a (challenger) and b (baseline) of ``column``, one row per matched ``keys``."""
    def side(variant):
        return pd.to_numeric(frame.loc[frame["variant"] == variant].set_index(keys)[column], errors="coerce")
    return pd.concat([side(challenger).rename("a"), side(baseline).rename("b")], axis=1, join="inner")


def paired_difference(pairs: pd.DataFrame, higher_is_better: bool, key: str) -> dict:
    """The statistics of a paired comparison: n pairs, the challenger's wins as the figures
    count them (strictly better; a NaN value never wins and loses to any finite one), the
    median difference a − b with its seeded bootstrap interval, the Wilcoxon p-value and the
    verdict. Pairs without a finite value on both sides count in n and wins but have no
    difference, as the figures' means skip them."""
    n = len(pairs)
    if n == 0:
        return {"detail": "no matched pairs"}
    better = pd.Series(higher_is_better, index=pairs.index)
    wins = int(beats(pairs["a"], pairs["b"], better).sum())
    finite = np.isfinite(pairs["a"]) & np.isfinite(pairs["b"])
    differences = (pairs["a"] - pairs["b"])[finite].to_numpy()
    median, low, high = median_ci(differences, key)
    left_out, p_value = n - len(differences), wilcoxon_p(differences)
    return {"n": n, "runs": 2 * n, "wins": wins, "win_fraction": wins / n, "estimate": median,
            "ci_low": low, "ci_high": high, "interval": BOOTSTRAP, "p_value": p_value,
            "test": DIFFERENCE_TEST,
            "verdict": verdict(len(differences), low, high, 0.0, higher_is_better, p_value),
            "detail": f"{left_out} of {n} pairs lack a finite value: not in the difference" if left_out else ""}


def win_fraction(wins: int, n: int) -> dict:
    """A win fraction with its Wilson interval and binomial test against one half; the claim
    holds when the interval lies above one half."""
    if n == 0:
        return {"detail": "no matched pairs"}
    low, high = wilson(wins, n)
    p_value = sign_p(wins, n)
    return {"n": n, "wins": wins, "win_fraction": wins / n, "estimate": wins / n, "ci_low": low,
            "ci_high": high, "interval": WILSON, "p_value": p_value, "test": SIGN_TEST,
            "verdict": verdict(n, low, high, 0.5, True, p_value)}


def _key(row: dict) -> str:
    """What seeds a row's bootstrap: the row's own identity, nothing else."""
    return "|".join(str(row[k]) for k in ("claim", "cell", "comparison", "metric"))


def _missing(frame: pd.DataFrame, variants: list[str]) -> str:
    absent = [v for v in variants if not (frame["variant"] == v).any()]
    return f"no {' and no '.join(absent)} runs" if absent else ""


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


# --- Figure 2 -----------------------------------------------------------------------------

def _fig2_statement(name: str, dataset: str, activation: str) -> str:
    return (f"LSC pre-training gives a higher test accuracy than {name} initialisation on {dataset} "
            f"with {activation} (runs matched on learning rate and seed).")


def fig2_claims(summary: pd.DataFrame | None) -> list[dict]:
    """Per dataset × activation, LSC against each of FIG2_BASELINES: the paired difference in
    test accuracy over runs matched on (lr, seed)."""
    if summary is None:
        return [_row("Figure 2", "ffn", "–", f"lsc vs {b}", "test accuracy",
                     _fig2_statement(name, "any dataset", "any activation"), "family not in the config")
                for b, name in FIG2_BASELINES.items()]
    _require(summary, ["dataset", "activation", "variant", "lr", "seed", "test_accuracy"], "the ffn summary")
    rows = []
    for (dataset, activation), cell in summary.groupby(["dataset", "activation"], sort=True):
        for baseline, name in FIG2_BASELINES.items():
            row = _row("Figure 2", "ffn", f"{dataset}, {activation}", f"lsc vs {baseline}", "test accuracy",
                       _fig2_statement(name, dataset, activation), _missing(cell, ["lsc", baseline]))
            if not row["detail"]:
                pairs = _pairs(cell, ["lr", "seed"], "lsc", baseline, "test_accuracy")
                row.update(paired_difference(pairs, higher_is_better(FFN_TASK, "accuracy"), _key(row)))
            rows.append(row)
    return rows


# --- Figure 3 -----------------------------------------------------------------------------

def _fig3_statement(bar: Comparison, cell: str) -> str:
    challengers = " or ".join(TARGET_NAMES.get(v, v) for v in bar.challengers)
    return (f"{challengers} beats {TARGET_NAMES.get(bar.baseline, bar.baseline)} in more than half of the "
            f"matched (task, net, seed) runs of {NET_GROUPS[bar.nets]} ({cell}).")


def _paired_runs(runs: pd.DataFrame, bar: Comparison, depths: list) -> int:
    """How many runs stand behind a bar's pairs: every paired challenger run and every
    baseline run with at least one partner (one baseline can face two challengers)."""
    keys = ["task", "net", "depth", "seed"]
    kept = runs[~runs["net"].isin(EXCLUDED_NETS) & runs["depth"].isin(depths)]
    kept = kept[nets_of(bar.nets, kept["net"])]
    challengers = kept[kept["variant"].isin(bar.challengers)][keys]
    baselines = kept[kept["variant"] == bar.baseline][keys]
    paired_challengers = challengers.merge(baselines, on=keys)
    return len(paired_challengers) + len(baselines.merge(challengers.drop_duplicates(), on=keys))


def fig3_claims(runs: pd.DataFrame | None) -> list[dict]:
    """Every bar of both Figure 3 panels, per depth and (with several depths) pooled: the
    win fraction of matched pairs as ``matched_wins`` counts it, with its Wilson interval."""
    if runs is None:
        return [_row("Figure 3", "rnn", "–", f"{panel}: {name}", "win fraction",
                     _fig3_statement(bar, f"any depth, {spec.title}"), "family not in the config")
                for panel, spec in FIG3_PANELS.items() for name, bar in spec.comparisons.items()]
    _require(runs, ["task", "net", "depth", "variant", "seed", "metric", "higher_is_better"], "fig3_runs")
    depths = sorted(runs["depth"].unique())
    cells = [(f"depth {d}", [d]) for d in depths] + ([("all depths pooled", depths)] if len(depths) > 1 else [])
    rows = []
    for panel, spec in FIG3_PANELS.items():
        wins = matched_wins(runs, panel)
        for name, bar in spec.comparisons.items():
            for cell, at in cells:
                counted = wins[(wins["comparison"] == name) & wins["depth"].isin(at)]
                label = f"{cell}, {spec.title}"
                row = _row("Figure 3", "rnn", label, f"{panel}: {name}", "win fraction",
                           _fig3_statement(bar, label))
                row.update(win_fraction(int(counted["wins"].sum()), int(counted["pairs"].sum())))
                row["runs"] = _paired_runs(runs, bar, at)
                rows.append(row)
    return rows


# --- Figure 4 and Table 1 -----------------------------------------------------------------

def _lru_statement(variant: str, metric: str, cell: str) -> str:
    return (f"LSC to {TARGET_NAMES.get(variant, variant)} gives a lower {LRU_METRICS[metric]} than no "
            f"pre-training ({cell}; runs matched on seed).")


def _clip_text(clip: float) -> str:
    return f"clip {clip:g}" if clip > 0 else "no clipping"


def _lru_cell(title: str, label: str, cell: pd.DataFrame, absent: str = "") -> list[dict]:
    """Each LSC target against no pre-training in one cell, for each perplexity."""
    rows = []
    for variant in PRETRAINED["lru"]:
        for metric, name in LRU_METRICS.items():
            row = _row(title, "lru", label, f"{variant} vs default", name, _lru_statement(variant, metric, label),
                       absent or _missing(cell, [variant, "default"]))
            if not row["detail"]:
                pairs = _pairs(cell, ["seed"], variant, "default", metric)
                row.update(paired_difference(pairs, higher_is_better(LRU_TASK, "perplexity"), _key(row)))
            rows.append(row)
    return rows


def lru_claims(summary: pd.DataFrame | None) -> list[dict]:
    """Per setup × depth × clipping, each LSC target against no pre-training: the paired
    difference (over seeds) in validation and in test perplexity; lower is better. A setup
    of LRU_SETUPS without runs (not in the config's lru.setups) is not run."""
    if summary is None:
        return [row for title in LRU_SETUPS.values()
                for row in _lru_cell(title, "–", pd.DataFrame(), "family not in the config")]
    _require(summary, ["setup", "depth", "clip", "variant", "seed", *LRU_METRICS], "the lru summary")
    summary = summary.assign(setup=summary["setup"].astype(str), clip=summary["clip"].astype(float))
    rows = []
    for setup in ordered_present([*summary["setup"], *LRU_SETUPS], list(LRU_SETUPS)):
        title, runs = LRU_SETUPS.get(setup, setup), summary[summary["setup"] == setup]
        if runs.empty:
            rows += _lru_cell(title, "–", runs, f"no {setup} runs")
        for (depth, clip), cell in runs.groupby(["depth", "clip"], sort=True):
            rows += _lru_cell(title, f"{title}, depth {depth}, {_clip_text(clip)}", cell)
    return rows


# --- Pre-training -------------------------------------------------------------------------

def _pretraining_statement(family: str, variant: str, target: float) -> str:
    aim = TARGET_NAMES.get(variant, variant) if variant != "lsc" else f"ρ={target:g}"
    return (f"Most LSC pre-trainings of the {FAMILY_TEXT.get(family, family)} to {aim} end converged, "
            "their radii within the run's tolerance of the target.")


def _filter_note(runs: pd.DataFrame) -> str:
    """The reference's Figure 2 filter: it drops a run whose final radius is more than
    RADIUS_TOLERANCE from 1 (a NaN radius fails the test, so it is dropped too)."""
    off = (pd.to_numeric(runs["lsc_radius_after"], errors="coerce") - 1).abs()
    kept = int((off <= RADIUS_TOLERANCE).sum())
    return (f"the reference's filter (final radius more than {RADIUS_TOLERANCE} from 1) would drop "
            f"{len(runs) - kept} of {len(runs)} training runs")


def pretraining_claims(family: str, summary: pd.DataFrame | None) -> list[dict]:
    """Per LSC variant of ``family``: the fraction of its pre-training jobs (one per
    pretrain key; the summary repeats them per training run) whose verdict is converged
    (lsc_verdict, from lscrepro.verdicts, as the status table); its detail counts those with
    the mean radius within their tolerance and those that handed back their initial weights."""
    expected = PRETRAINED.get(family, [])
    if summary is None:
        return [_row("Pre-training", family, f"{family}, {v}", v, "fraction converged",
                     _pretraining_statement(family, v, 1.0), "family not in the config") for v in expected]
    _require(summary, ["variant", "lsc_target", "lsc_radius_after", "lsc_tolerance", "lsc_verdict"],
             f"the {family} summary")
    lsc = summary[pd.to_numeric(summary["lsc_target"], errors="coerce").notna()]
    rows = []
    for variant in ordered_present([*lsc["variant"], *expected], expected):
        trained = lsc[lsc["variant"] == variant]
        jobs = trained.drop_duplicates(FAMILIES[family].pretrain_keys)
        target = float(jobs["lsc_target"].iloc[0]) if len(jobs) else 1.0
        row = _row("Pre-training", family, f"{family}, {variant}", variant, "fraction converged",
                   _pretraining_statement(family, variant, target), f"no {variant} pre-trainings")
        if len(jobs):
            off = (pd.to_numeric(jobs["lsc_radius_after"], errors="coerce") - jobs["lsc_target"]).abs()
            within = off <= pd.to_numeric(jobs["lsc_tolerance"], errors="coerce")  # NaN: not within
            reached = int((jobs["lsc_verdict"] == "converged").sum())
            notes = [f"{int(within.sum())} of {len(jobs)} end with the mean radius within their tolerance",
                     f"{int(kept_initial(jobs).sum())} of {len(jobs)} kept their initial weights"]
            notes += [_filter_note(trained)] if family == "ffn" else []
            row.update(win_fraction(reached, len(jobs)), runs=len(jobs), detail="; ".join(notes))
        rows.append(row)
    return rows


# --- The table ----------------------------------------------------------------------------

def claims_table(ffn: pd.DataFrame | None = None, rnn_runs: pd.DataFrame | None = None,
                 rnn: pd.DataFrame | None = None, lru: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim: Figure 2 (``ffn``: the ffn summary), Figure 3 (``rnn_runs``: fig3_runs),
    Figure 4 and Table 1 (``lru``: the lru summary), then each family's pre-trainings (its
    summary). None: the family is not in the config, and its claims are not run. Floats keep
    6 significant digits, so the CSV does not print the last bits of a bootstrap."""
    rows = fig2_claims(ffn) + fig3_claims(rnn_runs) + lru_claims(lru)
    for family, summary in (("ffn", ffn), ("rnn", rnn), ("lru", lru)):
        rows += pretraining_claims(family, summary)
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("win_fraction", "estimate", "ci_low", "ci_high", "p_value"):
        table[column] = [float(f"{v:.6g}") for v in table[column].astype(float)]
    return table.astype({"n": int, "runs": int, "wins": int})


def _number(value: float, signed: bool) -> str:
    return "–" if not math.isfinite(value) else (f"{value:+.3g}" if signed else f"{value:.2f}")


def _estimate_text(row) -> str:
    """The estimate cell: value [interval], then wins and p; for a claim not run, why."""
    if row.verdict == NOT_RUN:
        return "–"
    signed = row.interval == BOOTSTRAP  # a difference; else a fraction
    text = (f"{_number(row.estimate, signed)} [{_number(row.ci_low, signed)}, {_number(row.ci_high, signed)}]"
            f"; {row.wins}/{row.n} {'better' if signed else 'jobs' if row.claim == 'Pre-training' else 'wins'}")
    return text + (f"; p={row.p_value:.2g}" if math.isfinite(row.p_value) else "")


def _cell(text) -> str:
    """Markdown cells must not hold a pipe (and the report splits rows on ' | ')."""
    return str(text).replace("|", "/")


MARKDOWN_NOTES = (
    "n: matched pairs (pre-training: jobs). Figures 2 and 4, Table 1: the median paired difference "
    "(LSC − baseline; accuracy higher is better, perplexity lower) with a seeded bootstrap 95% interval "
    "(10,000 resamples) and the Wilcoxon signed-rank p; wins: pairs in which LSC is strictly better. "
    "Figure 3: the fraction of matched pairs the challenger wins as the figure counts them (strictly "
    "better; a run without a finite metric never wins and loses to any finite one), with its Wilson 95% "
    "interval and the binomial p against 1/2. Pre-training: the fraction of jobs whose verdict is "
    "converged (radii within the run's tolerance), the status table's verdict. Verdict: holds when the interval lies wholly on "
    "the claimed side of no effect (0, or 1/2 for fractions) and the test's p is below 0.05, does not "
    "hold when both point the other way, inconclusive when the interval includes no effect, p >= 0.05 or "
    "n < 3, not run without runs. (With few pairs a bootstrap interval excludes no effect whenever every "
    "pair agrees, 4 of 4 included, whose Wilcoxon p is 0.125: the p-value keeps that inconclusive.)")


def claims_markdown(table: pd.DataFrame, demo: bool = False) -> str:
    """claims.md: the verdict counts, one table row per claim (figure, the claim, n, the
    estimate with its interval, the verdict, notes), then how to read it."""
    tally = counts(table["verdict"])
    lines = ["# The paper's claims on this grid", "",
             "Verdicts: " + ", ".join(f"{verdict} {k}" for verdict, k in tally.items()) + ".", ""]
    if demo:
        lines += ["These runs are the demo grid's: toy data, one or two seeds, a few training steps. They "
                  "check that the pipeline computes every claim; they cannot test the paper.", ""]
    lines += ["| Figure | Claim | n | Estimate [95% CI] | Verdict | Notes |", "|---|---|---:|---|---|---|"]
    for row in table.itertuples(index=False):
        cells = [row.claim, row.statement, row.n, _estimate_text(row), row.verdict, row.detail or "–"]
        lines.append(markdown_row(_cell(c) for c in cells))
    return "\n".join(lines + ["", MARKDOWN_NOTES, ""])


def read_input(path: Path | None, what: str) -> pd.DataFrame | None:
    """The CSV, or None (its claims: not run) when no path is given or the file is missing."""
    if path is None:
        return None
    if not Path(path).exists():
        log.warning("%s %s does not exist: its claims are listed as not run", what, path)
        return None
    return pd.read_csv(path, dtype=TEXT)


def write_claims(ffn_summary: Path | None = None, rnn_summary: Path | None = None, rnn_runs: Path | None = None,
                 lru_summary: Path | None = None, demo: bool = False, *,
                 out: str | os.PathLike, markdown_out: str | os.PathLike) -> None:
    """claims.csv (``out``) and claims.md from the files given (None: that family is not run)."""
    table = claims_table(ffn=read_input(ffn_summary, "the ffn summary"),
                         rnn_runs=read_input(rnn_runs, "fig3_runs"),
                         rnn=read_input(rnn_summary, "the rnn summary"),
                         lru=read_input(lru_summary, "the lru summary"))
    write_csv(out, table)
    write_text(markdown_out, claims_markdown(table, demo=demo))
    log.info("wrote %s and %s: %s", out, markdown_out, counts(table["verdict"]))
