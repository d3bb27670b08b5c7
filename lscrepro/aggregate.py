"""Tidy tables of any family's runs.

``summary`` reads every training run's metrics.json (nested run / settings / result, and
the top-level scalars of TOP_LEVEL_FIELDS) and joins the pretrain.json of the pre-training it
started from: one row per run (summary.csv). Each figure keeps its own reducer of that table
(``fig2_table``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from lscrepro.io import read_json

PathLike = str | os.PathLike

# pretrain.json field -> summary column; every family's LSC reports these
PRETRAIN_COLUMNS = {
    "result.radius_before_mean": "lsc_radius_before",
    "result.radius_after_mean": "lsc_radius_after",
    "settings.lsc.target": "lsc_target",
    "result.steps": "lsc_steps",
    "result.status": "lsc_status",
    "result.seconds": "pretrain_seconds",
    "result.environment.git_commit": "pretrain_git_commit",
}
OPTIONAL = {"result.environment.git_commit"}  # provenance of older reports may lack it
FIGURE2_KEYS = ["dataset", "activation", "variant", "lr"]


def _record(path: PathLike, required: Iterable[str]) -> dict:
    try:
        record = read_json(path)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in required if not isinstance(record.get(key), dict)]
    if missing:
        raise ValueError(f"{path} lacks the sections {missing} (a run / settings / result JSON)")
    return record


REQUIRED_RESULT = ["status", "test"]
# optional top-level scalars of a metrics.json that become summary columns of the same name
# (parameters: the trained model's parameter count); a file without one leaves it NaN
TOP_LEVEL_FIELDS = ["parameters", "evaluation"]


def _run_row(path: PathLike, run_keys: list[str]) -> dict:
    """run keys, then the result's scalars, its val/test metrics as val_*/test_* and its
    provenance as environment_*, then the TOP_LEVEL_FIELDS the file has."""
    record = _record(path, ["run", "result"])
    missing = [f"run.{k}" for k in run_keys if k not in record["run"]]
    missing += [f"result.{k}" for k in REQUIRED_RESULT if k not in record["result"]]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    result = record["result"]
    clash = sorted(set(record["run"]) & set(result))
    if clash:
        raise ValueError(f"{path}: keys {clash} are in both run and result")
    flat = pd.json_normalize({**record["run"], **result}, sep="_").iloc[0].to_dict()
    row = {k: v for k, v in flat.items() if not isinstance(v, (list, dict))}
    top = {k: record[k] for k in TOP_LEVEL_FIELDS if k in record}
    nested = sorted(k for k, v in top.items() if isinstance(v, (list, dict)))
    if nested:
        raise ValueError(f"{path}: top-level {nested} should be scalars")
    clash = sorted(set(top) & set(row))
    if clash:
        raise ValueError(f"{path}: keys {clash} are both top-level and in run or result")
    return {**row, **top}


def _pretrain_row(path: PathLike, keys: list[str]) -> dict:
    record = _record(path, ["run", "settings", "result"])
    flat = pd.json_normalize(record).iloc[0].to_dict()
    missing = [f"run.{k}" for k in keys if f"run.{k}" not in flat]
    missing += [field for field in PRETRAIN_COLUMNS if field not in flat and field not in OPTIONAL]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return {**{k: flat[f"run.{k}"] for k in keys},
            **{column: flat.get(field) for field, column in PRETRAIN_COLUMNS.items()}}


def _refuse_duplicates(frame: pd.DataFrame, paths: list[PathLike], keys: list[str], what: str) -> None:
    """Two files for the same keys would double-count."""
    if frame.empty:
        return
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        clashing = [str(path) for path, dup in zip(paths, duplicated) if dup]
        raise ValueError(f"{what} files share {keys}: {clashing}")


def summary(metrics_paths: Iterable[PathLike], pretrain_paths: Iterable[PathLike],
            run_keys: list[str], pretrain_keys: list[str]) -> pd.DataFrame:
    """One row per training run, sorted by ``run_keys``, with its pre-training (if any)
    joined on ``pretrain_keys`` (the run keys a pre-training depends on).

    Raises ValueError naming the file when one lacks a required key, and when two
    files describe the same run or the same pre-training."""
    metrics_paths, pretrain_paths = list(metrics_paths), list(pretrain_paths)
    runs = pd.DataFrame([_run_row(p, run_keys) for p in metrics_paths])
    _refuse_duplicates(runs, metrics_paths, run_keys, "metrics")
    pretrain = pd.DataFrame([_pretrain_row(p, pretrain_keys) for p in pretrain_paths],
                            columns=[*pretrain_keys, *PRETRAIN_COLUMNS.values()])
    _refuse_duplicates(pretrain, pretrain_paths, pretrain_keys, "pretrain")
    if runs.empty:
        return pd.DataFrame(columns=[*run_keys, *PRETRAIN_COLUMNS.values()])
    pretrain = pretrain.astype({k: runs[k].dtype for k in pretrain_keys})
    table = runs.merge(pretrain, on=pretrain_keys, how="left", validate="many_to_one")
    columns = [*run_keys, *(c for c in table.columns if c not in run_keys)]
    return table[columns].sort_values(run_keys, ignore_index=True)


def fig2_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of test_accuracy over seeds per (dataset, activation,
    variant, lr): what Figure 2 draws.

    Every run counts, diverged ones included, as in the reference; n counts the runs with a
    recorded accuracy (a NaN accuracy is skipped by mean and std alike). One run gives std NaN.
    """
    missing = set(FIGURE2_KEYS + ["test_accuracy"]) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    accuracy = summary.groupby(FIGURE2_KEYS, sort=True)["test_accuracy"]
    table = accuracy.agg(test_accuracy_mean="mean", test_accuracy_std="std", n="count")
    return table.reset_index()


# --- Figure 3 and the deep-RNN table ------------------------------------------------------

# task -> (metric, direction): what Figure 3 compares and the table reports
FIG3_METRICS = {"wordptb": ("perplexity", "min"), "heidelberg": ("mode_accuracy", "max"),
                "sl_mnist": ("mode_accuracy", "max")}
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
RADIUS_TOLERANCE = 0.02  # make_good_latex strikes a group whose mean radius is further off
VARIANT_ORDER = ["default", "lsc", "lsc_half"]


def _metric_spec(task: str) -> tuple[str, bool]:
    if task not in FIG3_METRICS:
        raise ValueError(f"no Figure 3 metric for task {task!r}; known: {sorted(FIG3_METRICS)}")
    name, direction = FIG3_METRICS[task]
    return name, direction == "max"


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
                     "parameters": run.get("parameters", float("nan"))})
    columns = [*RNN_KEYS, "status", "metric_name", "higher_is_better", "metric", "metric_epoch",
               "metric_source", "lsc_radius_after", "lsc_target"]
    if "parameters" in summary.columns:
        columns.append("parameters")
    table = pd.DataFrame(rows, columns=columns)
    if "parameters" in table.columns:
        table["parameters"] = _counts(table["parameters"], "parameters")
    return table.sort_values(RNN_KEYS, ignore_index=True)


def _counts(values: pd.Series, what: str) -> pd.Series:
    """Whole numbers as a nullable integer column; ValueError on anything else."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (values.notna() & numbers.isna()) | (numbers.notna() & (numbers % 1 != 0))
    if bad.any():
        raise ValueError(f"{what} should be whole numbers, got {values[bad].tolist()[:3]}")
    return numbers.astype("Int64")


def _beats(challenger: pd.Series, baseline: pd.Series, higher_is_better: pd.Series) -> pd.Series:
    """Strictly better; a tie is not better. A NaN metric (a run that never had a finite
    validation value) counts as worst, so it never wins and any finite value beats it."""
    worst = pd.Series(float("-inf"), index=challenger.index).where(higher_is_better, float("inf"))
    a, b = challenger.fillna(worst), baseline.fillna(worst)
    return (a > b).where(higher_is_better, a < b)


def _nets_of(group: str, nets: pd.Series) -> pd.Series:
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
        eligible = kept[_nets_of(bar.nets, kept["net"])]
        challengers = eligible[eligible["variant"].isin(bar.challengers)][columns]
        baselines = eligible[eligible["variant"] == bar.baseline][columns]
        pairs = challengers.merge(baselines, on=pair_keys, how="outer", suffixes=("_a", "_b"),
                                  indicator=True)
        matched = pairs[pairs["_merge"] == "both"]
        wins = _beats(matched["metric_a"], matched["metric_b"], matched["higher_is_better_a"].astype(bool))
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


TABLE_KEYS = ["task", "depth", "net", "variant"]


def _mark_best(table: pd.DataFrame) -> pd.Series:
    """True for the group(s) with the best finite mean within its (task, depth, net)."""
    finite = table["mean"].where(table["mean"].abs() != float("inf"))
    signed = finite.where(table["higher_is_better"], -finite)  # larger is better throughout
    best = signed.groupby([table["task"], table["depth"], table["net"]]).transform("max")
    return signed.notna() & (signed == best)


def rnn_table(runs: pd.DataFrame) -> pd.DataFrame:
    """make_good_latex's table from ``rnn_runs``: per task x depth x net x variant the mean and
    std (ddof = 1) of the metric (accuracy x100, perplexity as is), n (runs with a value), the
    mean final LSC radius and its target, radius_off (|radius_mean - target| > 0.02), best
    (the best mean within its task, depth and net; ties all marked) and, where ``runs`` has
    that column, parameters (the parameter count its runs report; <NA> if none does).
    Raises ValueError if the runs of one group report different parameter counts."""
    scaled = runs.assign(value=runs["metric"] * runs["metric_name"].map({"mode_accuracy": 100}).fillna(1))
    grouped = scaled.groupby(TABLE_KEYS, sort=True)
    table = grouped.agg(metric_name=("metric_name", "first"), higher_is_better=("higher_is_better", "first"),
                        mean=("value", "mean"), std=("value", "std"), n=("value", "count"),
                        radius_mean=("lsc_radius_after", "mean"), lsc_target=("lsc_target", "first"))
    if "parameters" in runs.columns:
        counts = _counts(runs["parameters"], "parameters").groupby([runs[k] for k in TABLE_KEYS])
        differing = counts.nunique() > 1
        if differing.any():
            raise ValueError("runs of one task, depth, net and variant report different parameter "
                             f"counts: {list(differing[differing].index)[:3]}")
        table["parameters"] = counts.first()  # first non-missing; <NA> if no run reports one
    table = table.reset_index()
    table["higher_is_better"] = table["higher_is_better"].astype(bool)
    distance = (table["radius_mean"] - table["lsc_target"]).abs()
    table["radius_off"] = distance > RADIUS_TOLERANCE  # NaN (no target or no radius): not off
    table["best"] = _mark_best(table)
    return table


TASK_ORDER = ["heidelberg", "sl_mnist", "wordptb"]
TASK_TITLES = {"heidelberg": "SHD", "sl_mnist": "sl-MNIST", "wordptb": "PTB"}
NET_ORDER = ["LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"]
NET_TITLES = {"rsimplernn": "RNN-ReLU", "ssimplernn": "RNN-σ", "maLSNN": "ALIF₊", "maLSNNb": "ALIF±"}
NET_TITLES_LATEX = {"rsimplernn": "RNN-ReLU", "ssimplernn": r"RNN-$\sigma$", "maLSNN": r"ALIF$_+$",
                    "maLSNNb": r"ALIF$_\pm$"}
VARIANT_TITLES = {"default": "none", "lsc": "ρ_t=1", "lsc_half": "ρ_t=0.5"}
VARIANT_TITLES_LATEX = {"default": "none", "lsc": r"$\rho_t=1$", "lsc_half": r"$\rho_t=0.5$"}
METRIC_TITLES = {"mode_accuracy": "accuracy (%) ↑", "perplexity": "perplexity ↓"}
METRIC_TITLES_LATEX = {"mode_accuracy": r"accuracy (\%) $\uparrow$", "perplexity": r"perplexity $\downarrow$"}


def ordered_present(values, preferred: list) -> list:
    """The values present: those in ``preferred`` in its order, then the others sorted."""
    present = set(values)
    return [v for v in preferred if v in present] + sorted(present - set(preferred), key=str)


def _table_grid(table: pd.DataFrame, bold, strike) -> tuple[list[str], list[tuple], dict]:
    """Variants (columns), (task, depth, net) rows in the paper's order, and the formatted
    cells, each wrapped by ``bold`` when best and ``strike`` when its radius is off target."""
    variants = ordered_present(table["variant"], VARIANT_ORDER)
    tasks, nets = ordered_present(table["task"], TASK_ORDER), ordered_present(table["net"], NET_ORDER)
    rows = sorted({(t, d, n) for t, d, n in table[["task", "depth", "net"]].itertuples(index=False)},
                  key=lambda r: (tasks.index(r[0]), r[1], nets.index(r[2])))
    cells = {}
    for group in table.itertuples(index=False):
        text = "–" if pd.isna(group.mean) else f"{group.mean:.2f}"
        if not pd.isna(group.std):
            text += f" ± {group.std:.2f}"
        text = strike(text) if group.radius_off else text
        cells[(group.task, group.depth, group.net, group.variant)] = bold(text) if group.best else text
    return variants, rows, cells


def _count_text(count: int) -> str:
    """A parameter count as the tables print it: 1.23M, 45.6k or the number itself."""
    if count >= 1_000_000:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}k" if count >= 1_000 else str(count)


def _parameter_cells(table: pd.DataFrame) -> dict | None:
    """(task, depth, net) -> its parameter count as text ("–" if no run reported one, the
    counts joined by "/" where its variants differ); None if the table has no parameters."""
    if "parameters" not in table.columns:
        return None
    counts = _counts(table["parameters"], "parameters")
    cells = {}
    for key, values in counts.groupby([table["task"], table["depth"], table["net"]]):
        present = sorted(set(values.dropna().astype(int)))
        cells[key] = "/".join(_count_text(v) for v in present) if present else "–"
    return cells


def table_markdown(table: pd.DataFrame) -> str:
    """The rnn_table as a Markdown table: a row per task, depth and net, a column per variant
    (after a Parameters column where the table has parameter counts); best in bold, a group
    whose radius ended > 0.02 from its target struck through."""
    variants, rows, cells = _table_grid(table, lambda s: f"**{s}**", lambda s: f"~~{s}~~")
    parameters = _parameter_cells(table)
    metric = table.groupby("task")["metric_name"].first()
    header = ["Task", "Metric", "Layers", "Net", *(["Parameters"] if parameters is not None else []),
              *(VARIANT_TITLES.get(v, v) for v in variants)]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for task, depth, net in rows:
        values = [cells.get((task, depth, net, v), "–") for v in variants]
        if parameters is not None:
            values.insert(0, parameters[(task, depth, net)])
        lines.append(f"| {TASK_TITLES.get(task, task)} | {METRIC_TITLES.get(metric[task], metric[task])} "
                     f"| {depth} | {NET_TITLES.get(net, net)} | " + " | ".join(values) + " |")
    notes = "Mean ± std over seeds; best per task, depth and net in bold; ~~struck~~: mean final " \
            f"radius more than {RADIUS_TOLERANCE} from its target."
    if parameters is not None:
        notes += " Parameters: the trained model's parameter count."
    return "\n".join(lines) + "\n\n" + notes + "\n"


def _latex_escape(text: str) -> str:
    return str(text).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def table_latex(table: pd.DataFrame) -> str:
    """The rnn_table as a LaTeX tabular (booktabs; \\sout needs ulem), laid out as
    table_markdown: best in \\textbf, an off-target radius in \\sout."""
    variants, rows, cells = _table_grid(table, lambda s: rf"\textbf{{{s}}}", lambda s: rf"\sout{{{s}}}")
    parameters = _parameter_cells(table)
    metric = table.groupby("task")["metric_name"].first()
    extra = ["Parameters"] if parameters is not None else []
    header = " & ".join(["Task", "Metric", "Layers", "Net", *extra,
                         *(VARIANT_TITLES_LATEX.get(v, _latex_escape(v)) for v in variants)])
    lines = [r"% requires \usepackage{booktabs} and \usepackage[normalem]{ulem}",
             r"\begin{tabular}{llll" + "r" * len(extra) + "c" * len(variants) + "}", r"\toprule",
             header + r" \\", r"\midrule"]
    for task, depth, net in rows:
        values = [cells.get((task, depth, net, v), "–") for v in variants]
        if parameters is not None:
            values.insert(0, parameters[(task, depth, net)])
        values = [v.replace("±", r"$\pm$").replace("–", "--") for v in values]
        lines.append(" & ".join([_latex_escape(TASK_TITLES.get(task, task)),
                                 METRIC_TITLES_LATEX.get(metric[task], _latex_escape(metric[task])),
                                 str(depth), NET_TITLES_LATEX.get(net, _latex_escape(net)), *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
