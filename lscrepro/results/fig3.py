"""Figure 3's tables: each deep-RNN run's metric at its own best validation epoch
(fig3_runs.csv, ``rnn_runs``) and the matched-pair win percentages of each bar panel
(fig3_wins.csv, ``fig3_wins``); ``write_fig3_data`` writes them with the mean ± std table of
lscrepro.results.rnn_table.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lscrepro.catalog.tasks import TASKS
from lscrepro.io import write_csv, write_text
from lscrepro.results.rnn_table import rnn_table, table_latex, table_markdown
from lscrepro.results.summary import read_histories
from lscrepro.results.tables import whole_numbers

log = logging.getLogger("fig3_data")

RNN_KEYS = ["task", "net", "depth", "variant", "seed"]
ALIF_NETS = {"maLSNN", "maLSNNb"}
EXCLUDED_NETS = {"rsimplernn"}  # the paper drops RNN-ReLU from the bars


@dataclass(frozen=True)
class Comparison:
    """One bar of Figure 3: runs of any ``challengers`` variant against the ``baseline``
    variant of the same task, net, depth and seed, on the nets of ``nets`` (all, alif or
    no_alif)."""
    challengers: tuple[str, ...]
    baseline: str
    nets: str


@dataclass(frozen=True)
class Fig3Panel:
    title: str
    comparisons: dict[str, Comparison]


# panel -> its bars (the same four names in both, in the reference's order).
# "paper": the reference's nice_bar_plot on the run sets its grid scheduled. Its grid ran no
#   rho = 0.5 for maLSNN/maLSNNb, so the rho = 0.5 bars hold the LSTM, GRU and ssimplernn only;
#   its "rho = 1 better than none" takes every findLSC run as challenger, rho = 0.5 included:
#   for the ALIFs that is rho = 1 alone, for the other nets lsc and lsc_half alike.
# "all": every run of this grid, ALIF rho = 0.5 included; the rho = 1 bars take lsc runs only.
FIG3_PANELS = {
    "paper": Fig3Panel("(a) the paper's run sets", {
        "ρ=0.5 better than ρ=1": Comparison(("lsc_half",), "lsc", "no_alif"),
        "ρ=0.5 better than none": Comparison(("lsc_half",), "default", "no_alif"),
        "ρ=1 better than none (ALIFs)": Comparison(("lsc",), "default", "alif"),
        "ρ=1 better than none (no ALIFs)": Comparison(("lsc", "lsc_half"), "default", "no_alif"),
    }),
    "all": Fig3Panel("(b) all runs of this grid", {
        "ρ=0.5 better than ρ=1": Comparison(("lsc_half",), "lsc", "all"),
        "ρ=0.5 better than none": Comparison(("lsc_half",), "default", "all"),
        "ρ=1 better than none (ALIFs)": Comparison(("lsc",), "default", "alif"),
        "ρ=1 better than none (no ALIFs)": Comparison(("lsc",), "default", "no_alif"),
    }),
}
FIG3_COMPARISONS = list(FIG3_PANELS["all"].comparisons)  # the bars' names, in order


def _metric_spec(task: str) -> tuple[str, bool]:
    """The metric Figure 3 compares and the table reports, and its direction: the task's
    headline metric (lscrepro.catalog.tasks)."""
    entry = TASKS.get(task)
    if entry is None or not entry.metric:
        known = sorted(name for name, known_entry in TASKS.items() if known_entry.metric)
        raise ValueError(f"no Figure 3 metric for task {task!r}: give its entry in lscrepro.catalog.tasks "
                         f"a `metric`; tasks with one: {known}")
    return entry.metric, entry.higher_is_better


def metric_at_best_epoch(history: pd.DataFrame, name: str, higher_is_better: bool) -> tuple[float, float]:
    """(test_<name>, epoch) at the epoch of the best val_<name>: the reference's
    t_list[argmax/argmin v_list]. The first best epoch wins a tie (argmax does the same);
    NaN validation values (a diverged last epoch) are skipped. (NaN, NaN) if none is finite
    or the history is empty (a run that diverged in its first epoch)."""
    if history.empty:
        return float("nan"), float("nan")
    missing = {f"val_{name}", f"test_{name}", "epoch"} - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}")
    validation = pd.to_numeric(history[f"val_{name}"], errors="coerce")
    validation = validation.where(validation.abs() != float("inf"))
    if validation.notna().sum() == 0:
        return float("nan"), float("nan")
    best = validation.idxmax() if higher_is_better else validation.idxmin()
    return float(history.at[best, f"test_{name}"]), float(history.at[best, "epoch"])


def rnn_runs(summary: pd.DataFrame, histories: dict[tuple, pd.DataFrame] | None = None) -> pd.DataFrame:
    """One row per deep-RNN run with Figure 3's value: ``metric`` (test perplexity or mode
    accuracy at the metric's own best validation epoch, from the history keyed by
    (task, net, depth, variant, seed) where given; else the summary's test_* column, which is
    taken at the best-validation-loss epoch), its name, direction, epoch and source, and
    ``parameters`` (the model's parameter count) where the summary has that column."""
    missing = set(RNN_KEYS) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    if summary.duplicated(RNN_KEYS).any():
        raise ValueError(f"summary has several rows for the same {RNN_KEYS}")
    histories = histories or {}
    rows = []
    for _, run in summary.iterrows():
        name, higher = _metric_spec(run["task"])
        key = tuple(run[k] for k in RNN_KEYS)
        value, epoch, source = float(run.get(f"test_{name}", float("nan"))), float("nan"), "summary"
        if key in histories:
            value, epoch = metric_at_best_epoch(histories[key], name, higher)
            source = "history"
        rows.append({**{k: run[k] for k in RNN_KEYS}, "status": run.get("status"),
                     "metric_name": name, "higher_is_better": higher, "metric": value,
                     "metric_epoch": epoch, "metric_source": source,
                     "lsc_radius_after": run.get("lsc_radius_after", float("nan")),
                     "lsc_target": run.get("lsc_target", float("nan")),
                     "lsc_selected_step": run.get("lsc_selected_step", float("nan")),
                     "parameters": run.get("parameters", float("nan"))})
    columns = [*RNN_KEYS, "status", "metric_name", "higher_is_better", "metric", "metric_epoch",
               "metric_source", "lsc_radius_after", "lsc_target", "lsc_selected_step"]
    if "parameters" in summary.columns:
        columns.append("parameters")
    table = pd.DataFrame(rows, columns=columns)
    if "parameters" in table.columns:
        table["parameters"] = whole_numbers(table["parameters"], "parameters")
    return table.sort_values(RNN_KEYS, ignore_index=True)


def beats(challenger: pd.Series, baseline: pd.Series, higher_is_better: pd.Series) -> pd.Series:
    """Strictly better; a tie is not better. A NaN metric (a run that never had a finite
    validation value) counts as worst, so it never wins and any finite value beats it."""
    worst = pd.Series(float("-inf"), index=challenger.index).where(higher_is_better, float("inf"))
    a, b = challenger.fillna(worst), baseline.fillna(worst)
    return (a > b).where(higher_is_better, a < b)


def nets_of(group: str, nets: pd.Series) -> pd.Series:
    if group == "alif":
        return nets.isin(ALIF_NETS)
    if group == "no_alif":
        return ~nets.isin(ALIF_NETS)
    return pd.Series(True, index=nets.index)


WIN_COLUMNS = ["comparison", "depth", "wins", "pairs", "percent", "skipped"]


def matched_wins(runs: pd.DataFrame, panel: str = "all") -> pd.DataFrame:
    """One panel of Figure 3 (FIG3_PANELS): per comparison and depth, how many matched
    (task, net, seed) pairs a challenger run wins against its baseline. Columns comparison,
    depth, wins, pairs, percent (100 wins/pairs; NaN without pairs) and skipped (runs of the
    compared variants and nets whose partner is missing: not paired, not counted). Where a
    comparison has several challenger variants, each challenger run is its own pair.

    "Better" is strictly higher accuracy or lower perplexity: a tie counts as not better.
    rsimplernn is left out, as in the paper. Every depth present in ``runs`` gets a row per
    comparison, pairs or not."""
    if panel not in FIG3_PANELS:
        raise ValueError(f"no Figure 3 panel {panel!r}; known: {list(FIG3_PANELS)}")
    kept = runs[~runs["net"].isin(EXCLUDED_NETS)]
    pair_keys = ["task", "net", "depth", "seed"]
    columns = [*pair_keys, "metric", "higher_is_better"]
    rows = []
    for comparison, bar in FIG3_PANELS[panel].comparisons.items():
        eligible = kept[nets_of(bar.nets, kept["net"])]
        challengers = eligible[eligible["variant"].isin(bar.challengers)][columns]
        baselines = eligible[eligible["variant"] == bar.baseline][columns]
        pairs = challengers.merge(baselines, on=pair_keys, how="outer", suffixes=("_a", "_b"),
                                  indicator=True)
        matched = pairs[pairs["_merge"] == "both"]
        wins = beats(matched["metric_a"], matched["metric_b"], matched["higher_is_better_a"].astype(bool))
        for depth in sorted(runs["depth"].unique()):
            at_depth = matched["depth"] == depth
            n_pairs, n_wins = int(at_depth.sum()), int(wins[at_depth].sum())
            skipped = int(((pairs["_merge"] != "both") & (pairs["depth"] == depth)).sum())
            rows.append({"comparison": comparison, "depth": depth, "wins": n_wins, "pairs": n_pairs,
                         "percent": 100 * n_wins / n_pairs if n_pairs else float("nan"),
                         "skipped": skipped})
    return pd.DataFrame(rows, columns=WIN_COLUMNS)


def fig3_wins(runs: pd.DataFrame) -> pd.DataFrame:
    """fig3_wins.csv: ``matched_wins`` of every panel, a tidy row per (panel, comparison,
    depth), with what each bar compares: panel (paper or all), comparison, challengers (the
    challenger variants, joined by +), baseline, nets (all, alif or no_alif), then depth,
    wins, pairs, percent and skipped."""
    frames = []
    for panel, spec in FIG3_PANELS.items():
        wins = matched_wins(runs, panel)
        bars = wins["comparison"].map(spec.comparisons)
        frames.append(wins.assign(panel=panel, challengers=bars.map(lambda b: "+".join(b.challengers)),
                                  baseline=bars.map(lambda b: b.baseline), nets=bars.map(lambda b: b.nets)))
    columns = ["panel", "comparison", "challengers", "baseline", "nets", *WIN_COLUMNS[1:]]
    return pd.concat(frames, ignore_index=True)[columns]


TEXT = {"task": str, "net": str, "variant": str}


def read_runs(path: str | os.PathLike) -> pd.DataFrame:
    """fig3_runs.csv, its names as text."""
    return pd.read_csv(path, dtype={**TEXT, "metric_name": str})


def read_wins(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path)


def write_fig3_data(summary_csv: str | os.PathLike, metrics: list[Path], out: str | os.PathLike,
                    wins_out: str | os.PathLike, table_out: str | os.PathLike,
                    markdown_out: str | os.PathLike, latex_out: str | os.PathLike) -> None:
    """fig3_runs.csv (``out``), fig3_wins.csv and the rnn table as CSV, Markdown and LaTeX,
    from the rnn summary and the history.csv beside each of the runs' ``metrics``."""
    summary = pd.read_csv(summary_csv, dtype=TEXT)
    histories = read_histories(metrics, RNN_KEYS)
    known = set(summary[RNN_KEYS].itertuples(index=False, name=None))
    unused = [key for key in histories if key not in known]
    if unused:  # a stale summary: its runs fall back to the summary's test_* columns
        log.warning("%d histories have no summary row, e.g. %s", len(unused), unused[0])
    runs = rnn_runs(summary, histories)
    table = rnn_table(runs)
    write_csv(out, runs)
    write_csv(wins_out, fig3_wins(runs))
    write_csv(table_out, table)
    write_text(markdown_out, table_markdown(table))
    write_text(latex_out, table_latex(table))
