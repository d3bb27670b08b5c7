"""Reduce the deep-RNN runs to what Figure 3 and the table show: each run's metric at its own
best validation epoch (from the history.csv next to each metrics.json), the matched-pair win
percentages of each bar panel (the paper's run sets, all runs), and the mean ± std table (with
the parameter count where the summary has one) as CSV, Markdown and LaTeX."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from lscrepro.aggregate import RNN_KEYS, fig3_wins, rnn_runs, rnn_table, table_latex, table_markdown
from lscrepro.io import read_json, write_csv, write_text

log = logging.getLogger("fig3_data")


def read_histories(metrics_paths: list[Path]) -> dict[tuple, pd.DataFrame]:
    """(task, net, depth, variant, seed) from each metrics.json -> its sibling history.csv."""
    histories = {}
    for path in metrics_paths:
        run = read_json(path).get("run", {})
        missing = [k for k in RNN_KEYS if k not in run]
        if missing:
            raise ValueError(f"{path} lacks run keys {missing}")
        history = path.parent / "history.csv"
        if not history.exists():
            raise ValueError(f"{path} has no history.csv next to it ({history})")
        key = tuple(run[k] for k in RNN_KEYS)
        if key in histories:
            raise ValueError(f"{path}: a second metrics.json for the run {key}")
        try:
            histories[key] = pd.read_csv(history)
        except pd.errors.EmptyDataError:  # diverged before its first epoch ended: no rows
            histories[key] = pd.DataFrame()
    return histories


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/rnn/summary.csv")
    parser.add_argument("--metrics", nargs="*", default=[], type=Path,
                        help="the runs' metrics.json; each needs a history.csv beside it")
    parser.add_argument("--runs-out", required=True, help="fig3_runs.csv: one row per run")
    parser.add_argument("--wins-out", required=True, help="fig3_wins.csv: matched-pair percentages per panel")
    parser.add_argument("--table-out", required=True, help="table.csv")
    parser.add_argument("--markdown-out", required=True, help="table.md")
    parser.add_argument("--latex-out", required=True, help="table.tex")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    summary = pd.read_csv(args.summary, dtype={"task": str, "net": str, "variant": str})
    histories = read_histories(args.metrics)
    known = set(summary[RNN_KEYS].itertuples(index=False, name=None))
    unused = [key for key in histories if key not in known]
    if unused:  # a stale summary: its runs fall back to the summary's test_* columns
        log.warning("%d histories have no summary row, e.g. %s", len(unused), unused[0])
    runs = rnn_runs(summary, histories)
    table = rnn_table(runs)
    write_csv(args.runs_out, runs)
    write_csv(args.wins_out, fig3_wins(runs))
    write_csv(args.table_out, table)
    write_text(args.markdown_out, table_markdown(table))
    write_text(args.latex_out, table_latex(table))


if __name__ == "__main__":
    main()
