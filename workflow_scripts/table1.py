"""Reduce the lru runs of one setup to Table 1 (ResLRU on PTB): mean ± std over seeds of the
validation and test perplexity per depth, variant and clipping, as CSV, Markdown and LaTeX."""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from lscrepro.aggregate_lru import table1, table1_latex, table1_markdown
from lscrepro.io import write_csv, write_text

log = logging.getLogger("table1")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/lru/summary.csv")
    parser.add_argument("--setup", default="table1", help="keep only the runs of this setup")
    parser.add_argument("--csv-out", required=True, help="table1.csv")
    parser.add_argument("--markdown-out", required=True, help="table1.md")
    parser.add_argument("--latex-out", required=True, help="table1.tex")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    summary = pd.read_csv(args.summary, dtype={"setup": str, "variant": str})
    table = table1(summary, args.setup)
    if table.empty:  # most likely a --setup the summary does not hold
        log.warning("no runs of setup %r; the summary holds %s", args.setup,
                    sorted(summary["setup"].unique()))
    write_csv(args.csv_out, table)
    write_text(args.markdown_out, table1_markdown(table))
    write_text(args.latex_out, table1_latex(table))
    log.info("wrote %s, %s and %s: %d rows", args.csv_out, args.markdown_out, args.latex_out, len(table))


if __name__ == "__main__":
    main()
