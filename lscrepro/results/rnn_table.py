"""The deep RNNs' mean ± std table (the reference's make_good_latex): ``rnn_table`` from
Figure 3's per-run table, rendered by ``table_markdown`` and ``table_latex``."""

from __future__ import annotations

import pandas as pd

from lscrepro.catalog.cells import CELLS
from lscrepro.catalog.tasks import TASKS
from lscrepro.results.tables import (entry_title, latex_escape, latex_row, latex_tabular, mark_best, markdown_row,
                                     ordered_present, spread_text, whole_numbers)

RADIUS_TOLERANCE = 0.02  # make_good_latex strikes a group whose mean radius is further off
# the order and titles of the variants, in the table and in Figure 3; the tasks' and nets'
# come from their catalog entries (lscrepro.catalog.tasks, .cells), in catalog order
VARIANT_ORDER = ["default", "lsc", "lsc_half"]
TABLE_KEYS = ["task", "depth", "net", "variant"]


def kept_initial(runs: pd.DataFrame) -> pd.Series:
    """True for a run whose pre-training handed back its initial weights (selected step 0);
    False where the column is missing or NaN (no pre-training)."""
    if "lsc_selected_step" not in runs.columns:
        return pd.Series(False, index=runs.index)
    return pd.to_numeric(runs["lsc_selected_step"], errors="coerce").eq(0)


def _mark_best(table: pd.DataFrame) -> pd.Series:
    """True for the group(s) with the best finite mean within its (task, depth, net)."""
    return mark_best(table["mean"], [table["task"], table["depth"], table["net"]], table["higher_is_better"])


def rnn_table(runs: pd.DataFrame) -> pd.DataFrame:
    """make_good_latex's table from ``rnn_runs``: per task x depth x net x variant the mean and
    std (ddof = 1) of the metric (accuracy x100, perplexity as is), n (runs with a value), runs
    (all runs), the mean final LSC radius and its target, radius_off (|radius_mean - target| > 0.02), best
    (the best mean within its task, depth and net; ties all marked), kept_initial (runs whose
    pre-training handed back its initial weights: lsc_selected_step 0) and, where ``runs`` has
    that column, parameters (the parameter count its runs report; <NA> if none does).
    Raises ValueError if the runs of one group report different parameter counts."""
    scaled = runs.assign(value=runs["metric"] * runs["metric_name"].map({"mode_accuracy": 100}).fillna(1),
                         kept_initial=kept_initial(runs))
    grouped = scaled.groupby(TABLE_KEYS, sort=True)
    table = grouped.agg(metric_name=("metric_name", "first"), higher_is_better=("higher_is_better", "first"),
                        mean=("value", "mean"), std=("value", "std"), n=("value", "count"),
                        radius_mean=("lsc_radius_after", "mean"), lsc_target=("lsc_target", "first"),
                        runs=("value", "size"), kept_initial=("kept_initial", "sum"))
    if "parameters" in runs.columns:
        counts = whole_numbers(runs["parameters"], "parameters").groupby([runs[k] for k in TABLE_KEYS])
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


VARIANT_TITLES = {"default": "none", "lsc": "ρ_t=1", "lsc_half": "ρ_t=0.5"}
VARIANT_TITLES_LATEX = {"default": "none", "lsc": r"$\rho_t=1$", "lsc_half": r"$\rho_t=0.5$"}


def task_order() -> list[str]:
    return list(TASKS)


def net_order() -> list[str]:
    return list(CELLS)


def task_title(task: str) -> str:
    return entry_title(TASKS, task)


def net_title(net: str) -> str:
    return entry_title(CELLS, net)


def _net_title_latex(net: str) -> str:
    latex = entry_title(CELLS, net, "title_latex")
    return latex if latex != net else latex_escape(net_title(net))


def _metric_title(task: str, metric: str, latex: bool = False) -> str:
    """The task's headline metric's title with its direction's arrow; another metric (or a
    task not in the catalog): its name."""
    entry = TASKS.get(task)
    if entry is None or entry.metric != metric:
        return latex_escape(metric) if latex else metric
    if latex:
        title = entry.metric_title_latex or latex_escape(entry.metric_title or metric)
        return title + (r" $\uparrow$" if entry.higher_is_better else r" $\downarrow$")
    return (entry.metric_title or metric) + (" ↑" if entry.higher_is_better else " ↓")


def _table_grid(table: pd.DataFrame, bold, strike) -> tuple[list[str], list[tuple], dict]:
    """Variants (columns), (task, depth, net) rows in the paper's order, and the formatted
    cells, each wrapped by ``bold`` when best and ``strike`` when its radius is off target."""
    variants = ordered_present(table["variant"], VARIANT_ORDER)
    tasks, nets = ordered_present(table["task"], task_order()), ordered_present(table["net"], net_order())
    rows = sorted({(t, d, n) for t, d, n in table[["task", "depth", "net"]].itertuples(index=False)},
                  key=lambda r: (tasks.index(r[0]), r[1], nets.index(r[2])))
    cells = {}
    for group in table.itertuples(index=False):
        text = "–" if pd.isna(group.mean) else f"{group.mean:.2f}"
        if not pd.isna(group.std):
            text += f" ± {group.std:.2f}"
        text = strike(text) if group.radius_off else text
        text = bold(text) if group.best else text
        cells[(group.task, group.depth, group.net, group.variant)] = text + _kept_mark(group)
    return variants, rows, cells


def _kept_mark(group) -> str:
    """" (k/n init)" after a cell whose k of n runs trained from initial weights that their
    pre-training handed back unchanged; empty where none did."""
    kept = int(group.kept_initial)
    return f" ({kept}/{group.runs} init)" if kept else ""


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
    counts = whole_numbers(table["parameters"], "parameters")
    cells = {}
    for key, values in counts.groupby([table["task"], table["depth"], table["net"]]):
        present = sorted(set(values.dropna().astype(int)))
        cells[key] = "/".join(_count_text(v) for v in present) if present else "–"
    return cells


def _values(cells: dict, parameters: dict | None, row: tuple, variants: list[str]) -> list[str]:
    """A row's cells: its parameter count (where the table has them), then one per variant."""
    values = [cells.get((*row, v), "–") for v in variants]
    return ([parameters[row]] if parameters is not None else []) + values


def table_markdown(table: pd.DataFrame) -> str:
    """The rnn_table as a Markdown table: a row per task, depth and net, a column per variant
    (after a Parameters column where the table has parameter counts); best in bold, a group
    whose radius ended > 0.02 from its target struck through."""
    variants, rows, cells = _table_grid(table, lambda s: f"**{s}**", lambda s: f"~~{s}~~")
    parameters = _parameter_cells(table)
    metric = table.groupby("task")["metric_name"].first()
    header = ["Task", "Metric", "Layers", "Net", *(["Parameters"] if parameters is not None else []),
              *(VARIANT_TITLES.get(v, v) for v in variants)]
    lines = [markdown_row(header), "|" + "---|" * len(header)]
    for task, depth, net in rows:
        lines.append(markdown_row([task_title(task), _metric_title(task, metric[task]), depth, net_title(net),
                                   *_values(cells, parameters, (task, depth, net), variants)]))
    notes = f"{spread_text(table['n'])}; best per task, depth and net in bold; ~~struck~~: mean final " \
            f"radius more than {RADIUS_TOLERANCE} from its target; (k/n init): k of the n runs " \
            "trained from a pre-training that handed back its initial weights (selected step 0)."
    if parameters is not None:
        notes += " Parameters: the trained model's parameter count."
    return "\n".join(lines) + "\n\n" + notes + "\n"


def table_latex(table: pd.DataFrame) -> str:
    """The rnn_table as a LaTeX tabular (booktabs; \\sout needs ulem), laid out as
    table_markdown: best in \\textbf, an off-target radius in \\sout."""
    variants, rows, cells = _table_grid(table, lambda s: rf"\textbf{{{s}}}", lambda s: rf"\sout{{{s}}}")
    parameters = _parameter_cells(table)
    metric = table.groupby("task")["metric_name"].first()
    extra = ["Parameters"] if parameters is not None else []
    header = latex_row(["Task", "Metric", "Layers", "Net", *extra,
                        *(VARIANT_TITLES_LATEX.get(v, latex_escape(v)) for v in variants)])
    lines = [header, r"\midrule"]
    for task, depth, net in rows:
        values = [v.replace("±", r"$\pm$").replace("–", "--")
                  for v in _values(cells, parameters, (task, depth, net), variants)]
        lines.append(latex_row([latex_escape(task_title(task)), _metric_title(task, metric[task], latex=True),
                                str(depth), _net_title_latex(net), *values]))
    return latex_tabular("llll" + "r" * len(extra) + "c" * len(variants), lines,
                         r"\usepackage{booktabs} and \usepackage[normalem]{ulem}")
