"""Table 1 (ResLRU on PTB): summary.csv reduced to the reference's ``lruptb2latex`` table
(``table1``), rendered by ``table1_markdown`` and ``table1_latex``."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from lscrepro.io import write_csv, write_text
from lscrepro.results.lru import LRU_KEYS, LRU_TASK, VARIANT_ORDER
from lscrepro.results.tables import (higher_is_better, latex_escape, latex_row, latex_tabular, mark_best, markdown_row,
                                     ordered_present, spread_text)

log = logging.getLogger("table1")

TABLE1_LABELS = {"default": "default", "lsc": "ρ=1", "lsc_half": "ρ=0.5", "lsc_unbalanced": "ρ̄_t=0.5"}
TABLE1_LABELS_LATEX = {"default": "default", "lsc": r"$\rho=1$", "lsc_half": r"$\rho=0.5$",
                       "lsc_unbalanced": r"$\overline{\rho}_t=0.5$"}
TABLE1_COLUMNS = ["depth", "variant", "clip", "label", "val_mean", "val_std", "test_mean", "test_std",
                  "n", "runs", "val_best", "test_best", "val_std_best", "test_std_best", "evaluation"]
# which numbers are bold: "reference" (lruptb2latex, stable_drnn plot_training.py@c128682:499-502:
# each of mean and std on its own, bold where it is its group's smallest) or "mean" (this
# port's earlier rule: the whole cell, mean and std, where the mean is best)
BOLD_RULES = ("reference", "mean")
# how the runs computed their perplexities (metrics.json "evaluation"; the task's setting)
EVALUATIONS = {"reference": "the reference's: N//B//maxlen - 2 windows per split at the training "
                            "batch size, perplexity = mean over batches of exp(batch cross-entropy)",
               "full": "every window of the split, perplexity = exp(token-mean cross-entropy)"}
TABLE1_NOTE = ("{spread}; {bold} per depth and clipping group (with / without) in bold; "
               "validation = minimum over epochs of the validation perplexity, test = test perplexity "
               "at the best-validation epoch.")
BOLD_NOTES = {"reference": "the best mean and, on its own, the smallest std",
              "mean": "the best mean (with its std)"}


def _check_summary(summary: pd.DataFrame) -> None:
    missing = sorted(set(LRU_KEYS + ["val_perplexity", "test_perplexity"]) - set(summary.columns))
    if missing:
        raise ValueError(f"summary lacks columns {missing}")
    if summary.duplicated(LRU_KEYS).any():  # two rows for one run would double-count a seed
        clashing = summary.loc[summary.duplicated(LRU_KEYS, keep=False), LRU_KEYS]
        raise ValueError(f"summary has several rows for the same run {LRU_KEYS}: "
                         f"{clashing.drop_duplicates().to_dict('records')}")


def _mark_best(table: pd.DataFrame, column: str, higher: bool | None = None) -> pd.Series:
    """The best finite value within its (depth, clipping yes/no) group; ties all marked (means
    of different seeds' values can differ from a tie in the last bit only). ``higher``:
    whether larger is better (default: the perplexity's direction)."""
    if higher is None:
        higher = higher_is_better(LRU_TASK, "perplexity")
    return mark_best(table[column], [table["depth"], table["clip"] > 0], higher, rtol=1e-12)


def table1_label(variant: str, clip: float, latex: bool = False) -> str:
    """The reference's row label: the variant's target radius, " + clip" when clipping."""
    names = TABLE1_LABELS_LATEX if latex else TABLE1_LABELS
    label = names.get(variant, latex_escape(variant) if latex else variant)
    return label + (" + clip" if clip > 0 else "")


def table1(summary: pd.DataFrame, setup: str = "table1") -> pd.DataFrame:
    """Table 1: per (depth, variant, clip) of the runs of ``setup`` the mean and std (ddof = 1)
    of val_perplexity (at the best-val-loss epoch, which is the minimum over epochs since
    perplexity = exp(loss)) and of test_perplexity; n = runs with a finite val_perplexity,
    runs = all runs; label; val_best / test_best per (depth, clipping yes/no).

    A non-finite value (a run with no finished epoch) is skipped by mean, std and n alike."""
    _check_summary(summary)
    rows = summary[summary["setup"].astype(str) == setup]
    values = rows[["val_perplexity", "test_perplexity"]].apply(pd.to_numeric, errors="coerce")
    values = values.where(np.isfinite(values))
    evaluation = rows["evaluation"].astype(str) if "evaluation" in rows else "unrecorded"
    rows = rows[["depth", "variant"]].assign(clip=rows["clip"].astype(float), val=values["val_perplexity"],
                                             test=values["test_perplexity"], evaluation=evaluation)
    table = rows.groupby(["depth", "variant", "clip"]).agg(
        val_mean=("val", "mean"), val_std=("val", "std"), test_mean=("test", "mean"),
        test_std=("test", "std"), n=("val", "count"), runs=("val", "size"),
        evaluation=("evaluation", lambda e: "+".join(sorted(set(e))))).reset_index()
    table["label"] = [table1_label(v, c) for v, c in zip(table["variant"], table["clip"])]
    table["val_best"] = _mark_best(table, "val_mean")
    table["test_best"] = _mark_best(table, "test_mean")
    table["val_std_best"] = _mark_best(table, "val_std", higher=False)  # the smallest spread
    table["test_std_best"] = _mark_best(table, "test_std", higher=False)
    rank = {v: i for i, v in enumerate(ordered_present(table["variant"], VARIANT_ORDER))}
    order = table.assign(clipped=table["clip"] > 0, rank=table["variant"].map(rank))
    order = order.sort_values(["depth", "clipped", "rank", "clip"])
    return table.loc[order.index, TABLE1_COLUMNS].reset_index(drop=True)


def _cell(mean: float, std: float, best: tuple[bool, bool], bold, math: bool, rule: str) -> str:
    """The cell "mean ± std", 2 decimals (no std for one seed); ``best``: (mean, std) marks,
    bold as ``rule`` says (BOLD_RULES); "–" if no value."""
    if pd.isna(mean):
        return "--" if math else "–"
    parts = [f"{mean:.2f}"] + ([] if pd.isna(std) else [f"{std:.2f}"])
    if rule == "mean":
        if not math:
            text = " ± ".join(parts)
            return bold(text) if best[0] else text
        best = (best[0], best[0])
    marked = [bold(p) if b else p for p, b in zip(parts, best)]
    if math:  # as bolden_best: each number in \textbf, so the digits inside $…$ come out bold
        return "$" + r"~\pm~".join(marked) + "$"
    return " ± ".join(marked)


def _blocks(table: pd.DataFrame, bold, math: bool, rule: str):
    """(depth, [(label, val cell, test cell), ...]) in the table's row order."""
    if rule not in BOLD_RULES:
        raise ValueError(f"table1 bold must be one of {BOLD_RULES}, got {rule!r}")
    for depth in sorted(table["depth"].unique()):
        rows = table[table["depth"] == depth]
        yield depth, [(table1_label(r.variant, r.clip, latex=math),
                       _cell(r.val_mean, r.val_std, (r.val_best, r.val_std_best), bold, math, rule),
                       _cell(r.test_mean, r.test_std, (r.test_best, r.test_std_best), bold, math, rule))
                      for r in rows.itertuples(index=False)]


def table1_markdown(table: pd.DataFrame, bold: str = "reference") -> str:
    """Table 1 as Markdown: one table per depth, best per depth and clipping group in bold
    (``bold``: BOLD_RULES)."""
    if table.empty:
        return "No runs yet.\n"
    blocks = []
    for depth, rows in _blocks(table, lambda s: f"**{s}**", math=False, rule=bold):
        lines = [f"| Depth {depth} LRU | validation perplexity | test perplexity |", "|---|---|---|"]
        lines += [markdown_row(row) for row in rows]
        blocks.append("\n".join(lines))
    note = TABLE1_NOTE.format(spread=spread_text(table["n"]), bold=BOLD_NOTES[bold])
    return "\n\n".join(blocks) + "\n\n" + note + " " + evaluation_note(table) + "\n"


def evaluation_note(table: pd.DataFrame) -> str:
    """Which perplexity the table's runs report (task.evaluation), in one sentence."""
    used = sorted(set("+".join(table["evaluation"]).split("+")))
    return "Evaluation: " + "; ".join(f"{e} ({EVALUATIONS.get(e, 'not recorded by these runs')})"
                                      for e in used) + "."


def table1_latex(table: pd.DataFrame, bold: str = "reference") -> str:
    """Table 1 as one booktabs tabular {lcc}, a header row per depth, as lruptb2latex
    (``bold``: BOLD_RULES)."""
    header = (r"\textbf{Depth %s LRU} & \textbf{\shortstack{validation \\ perplexity}} & "
              r"\textbf{\shortstack{test \\ perplexity}} \\")
    lines = []
    for i, (depth, rows) in enumerate(_blocks(table, lambda s: rf"\textbf{{{s}}}", math=True, rule=bold)):
        lines += ([r"\midrule"] if i else []) + [header % depth, r"\midrule"]
        lines += [latex_row(row) for row in rows]
    if table.empty:
        lines.append(r"\multicolumn{3}{c}{no runs yet} \\")
    return latex_tabular("lcc", lines)


def write_table1(summary_csv: str | os.PathLike, setup: str, out: str | os.PathLike,
                 markdown_out: str | os.PathLike, latex_out: str | os.PathLike, bold: str = "reference") -> None:
    """Table 1 of the runs of ``setup`` as CSV (``out``), Markdown and LaTeX (``bold``: BOLD_RULES)."""
    summary = pd.read_csv(summary_csv, dtype={"setup": str, "variant": str})
    table = table1(summary, setup)
    if table.empty:  # most likely a setup the summary does not hold
        log.warning("no runs of setup %r; the summary holds %s", setup, sorted(summary["setup"].unique()))
    write_csv(out, table)
    write_text(markdown_out, table1_markdown(table, bold))
    write_text(latex_out, table1_latex(table, bold))
    log.info("wrote %s, %s and %s: %d rows", out, markdown_out, latex_out, len(table))
