"""Reduce the deep-RNN runs to what Figure 3 and the table show: each run's metric at its own
best validation epoch (from the history.csv next to each metrics.json), the matched-pair win
percentages of each bar panel (the paper's run sets, all runs), and the mean ± std table (with
the parameter count where the summary has one) as CSV, Markdown and LaTeX."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lscrepro.results.fig3 import write_fig3_data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/rnn/summary.csv")
    parser.add_argument("--metrics", nargs="*", default=[], type=Path,
                        help="the runs' metrics.json; each needs a history.csv beside it")
    parser.add_argument("--out", required=True, help="fig3_runs.csv: one row per run")
    parser.add_argument("--wins-out", required=True, help="fig3_wins.csv: matched-pair percentages per panel")
    parser.add_argument("--table-out", required=True, help="table.csv")
    parser.add_argument("--markdown-out", required=True, help="table.md")
    parser.add_argument("--latex-out", required=True, help="table.tex")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    write_fig3_data(args.summary, args.metrics, args.out, args.wins_out, args.table_out, args.markdown_out,
                    args.latex_out)


if __name__ == "__main__":
    main()
