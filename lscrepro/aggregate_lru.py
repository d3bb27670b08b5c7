"""Figure 4 and Table 1 (ResLRU on PTB) from the lru family's runs.

``fig4_curves`` stacks the per-epoch validation perplexity of every run (one line per seed in
the figure); ``table1`` reduces summary.csv to the reference's ``lruptb2latex`` table, which
``table1_markdown`` and ``table1_latex`` render. Pure pandas: no torch, no matplotlib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lscrepro.aggregate import _latex_escape, ordered_present

LRU_KEYS = ["setup", "depth", "variant", "clip", "seed"]
VARIANT_ORDER = ["default", "lsc", "lsc_half", "lsc_unbalanced"]
CURVE_COLUMNS = [*LRU_KEYS, "epoch", "val_perplexity"]
TABLE1_LABELS = {"default": "default", "lsc": "ρ=1", "lsc_half": "ρ=0.5", "lsc_unbalanced": "ρ̄_t=0.5"}
TABLE1_LABELS_LATEX = {"default": "default", "lsc": r"$\rho=1$", "lsc_half": r"$\rho=0.5$",
                       "lsc_unbalanced": r"$\overline{\rho}_t=0.5$"}
TABLE1_COLUMNS = ["depth", "variant", "clip", "label", "val_mean", "val_std", "test_mean", "test_std",
                  "n", "runs", "val_best", "test_best", "evaluation"]
# how the runs computed their perplexities (metrics.json "evaluation"; the task's setting)
EVALUATIONS = {"reference": "the reference's: N//B//maxlen - 2 windows per split at the training "
                            "batch size, perplexity = mean over batches of exp(batch cross-entropy)",
               "full": "every window of the split, perplexity = exp(token-mean cross-entropy)"}
TABLE1_NOTE = ("Mean ± std over seeds; best per depth and clipping group (with / without) in bold; "
               "validation = minimum over epochs of the validation perplexity, test = test perplexity "
               "at the best-validation epoch.")


def run_key(key: tuple) -> tuple:
    """(setup, depth, variant, clip, seed) with canonical types, so 0 and 0.0 are one clip."""
    if not isinstance(key, tuple) or len(key) != len(LRU_KEYS):
        raise ValueError(f"history key {key!r} is not a ({', '.join(LRU_KEYS)}) tuple")
    setup, depth, variant, clip, seed = key
    return str(setup), int(depth), str(variant), float(clip), int(seed)


def fig4_curves(histories: dict[tuple, pd.DataFrame], setup: str | None = "fig4") -> pd.DataFrame:
    """Tidy per-epoch validation perplexity of the runs of ``setup`` (None: all): columns
    setup, depth, variant, clip, seed, epoch, val_perplexity, sorted by run and epoch.

    An empty history (a run that diverged in its first epoch) adds no rows. A history lacking
    epoch or val_perplexity is a ValueError naming its run."""
    frames = []
    for raw_key, history in histories.items():
        key = run_key(raw_key)
        if (setup is not None and key[0] != setup) or history.empty:
            continue
        missing = sorted({"epoch", "val_perplexity"} - set(history.columns))
        if missing:
            raise ValueError(f"history of run {key} lacks columns {missing}")
        frame = history[["epoch", "val_perplexity"]].copy()
        frame["val_perplexity"] = pd.to_numeric(frame["val_perplexity"], errors="coerce")
        frames.append(frame.assign(**dict(zip(LRU_KEYS, key))))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            CURVE_COLUMNS, [str, int, str, float, int, int, float])})
    curves = pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]
    curves["epoch"] = curves["epoch"].astype(int)
    return curves.sort_values([*LRU_KEYS, "epoch"], ignore_index=True)


def _check_summary(summary: pd.DataFrame) -> None:
    missing = sorted(set(LRU_KEYS + ["val_perplexity", "test_perplexity"]) - set(summary.columns))
    if missing:
        raise ValueError(f"summary lacks columns {missing}")
    if summary.duplicated(LRU_KEYS).any():  # two rows for one run would double-count a seed
        clashing = summary.loc[summary.duplicated(LRU_KEYS, keep=False), LRU_KEYS]
        raise ValueError(f"summary has several rows for the same run {LRU_KEYS}: "
                         f"{clashing.drop_duplicates().to_dict('records')}")


def _mark_best(table: pd.DataFrame, column: str) -> pd.Series:
    """The smallest finite mean within its (depth, clipping yes/no) group; ties all marked."""
    group = [table["depth"], table["clip"] > 0]
    best = table[column].groupby(group).transform("min")
    # means of different seeds' values can differ from a tie in the last bit only
    return pd.Series(np.isclose(table[column], best, rtol=1e-12, atol=0.0), index=table.index)


def table1_label(variant: str, clip: float, latex: bool = False) -> str:
    """The reference's row label: the variant's target radius, " + clip" when clipping."""
    names = TABLE1_LABELS_LATEX if latex else TABLE1_LABELS
    label = names.get(variant, _latex_escape(variant) if latex else variant)
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
    rank = {v: i for i, v in enumerate(ordered_present(table["variant"], VARIANT_ORDER))}
    order = table.assign(clipped=table["clip"] > 0, rank=table["variant"].map(rank))
    order = order.sort_values(["depth", "clipped", "rank", "clip"])
    return table.loc[order.index, TABLE1_COLUMNS].reset_index(drop=True)


def _cell(mean: float, std: float, best: bool, bold, math: bool) -> str:
    """The cell "mean ± std", 2 decimals (no std for one seed), bold when best; "–" if no value."""
    if pd.isna(mean):
        return "--" if math else "–"
    parts = [f"{mean:.2f}"] + ([] if pd.isna(std) else [f"{std:.2f}"])
    if math:  # as bolden_best: each number in \textbf, so the digits inside $…$ come out bold
        return "$" + r"~\pm~".join(bold(p) if best else p for p in parts) + "$"
    text = " ± ".join(parts)
    return bold(text) if best else text


def _blocks(table: pd.DataFrame, bold, math: bool):
    """(depth, [(label, val cell, test cell), ...]) in the table's row order."""
    for depth in sorted(table["depth"].unique()):
        rows = table[table["depth"] == depth]
        yield depth, [(table1_label(r.variant, r.clip, latex=math),
                       _cell(r.val_mean, r.val_std, r.val_best, bold, math),
                       _cell(r.test_mean, r.test_std, r.test_best, bold, math))
                      for r in rows.itertuples(index=False)]


def table1_markdown(table: pd.DataFrame) -> str:
    """Table 1 as Markdown: one table per depth, best per depth and clipping group in bold."""
    if table.empty:
        return "No runs yet.\n"
    blocks = []
    for depth, rows in _blocks(table, lambda s: f"**{s}**", math=False):
        lines = [f"| Depth {depth} LRU | validation perplexity | test perplexity |", "|---|---|---|"]
        lines += [f"| {label} | {val} | {test} |" for label, val, test in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n" + TABLE1_NOTE + " " + evaluation_note(table) + "\n"


def evaluation_note(table: pd.DataFrame) -> str:
    """Which perplexity the table's runs report (task.evaluation), in one sentence."""
    used = sorted(set("+".join(table["evaluation"]).split("+")))
    return "Evaluation: " + "; ".join(f"{e} ({EVALUATIONS.get(e, 'not recorded by these runs')})"
                                      for e in used) + "."


def table1_latex(table: pd.DataFrame) -> str:
    """Table 1 as one booktabs tabular {lcc}, a header row per depth, as lruptb2latex."""
    header = (r"\textbf{Depth %s LRU} & \textbf{\shortstack{validation \\ perplexity}} & "
              r"\textbf{\shortstack{test \\ perplexity}} \\")
    lines = [r"% requires \usepackage{booktabs}", r"\begin{tabular}{lcc}", r"\toprule"]
    for i, (depth, rows) in enumerate(_blocks(table, lambda s: rf"\textbf{{{s}}}", math=True)):
        lines += ([r"\midrule"] if i else []) + [header % depth, r"\midrule"]
        lines += [f"{label} & {val} & {test} " + r"\\" for label, val, test in rows]
    if table.empty:
        lines.append(r"\multicolumn{3}{c}{no runs yet} \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
