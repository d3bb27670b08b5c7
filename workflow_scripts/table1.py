"""Reduce the lru runs of one setup to Table 1 (ResLRU on PTB): mean ± std over seeds of the
validation and test perplexity per depth, variant and clipping, as CSV, Markdown and LaTeX."""

from __future__ import annotations

import argparse
import logging

from lscrepro.results.table1 import BOLD_RULES, write_table1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/lru/summary.csv")
    parser.add_argument("--setup", default="table1", help="keep only the runs of this setup")
    parser.add_argument("--out", required=True, help="table1.csv")
    parser.add_argument("--markdown-out", required=True, help="table1.md")
    parser.add_argument("--latex-out", required=True, help="table1.tex")
    parser.add_argument("--bold", choices=BOLD_RULES,
                        help="which numbers are bold (default: the reference's; config lru.table1_bold)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    options = {"bold": args.bold} if args.bold else {}  # absent: write_table1's default
    write_table1(args.summary, args.setup, args.out, args.markdown_out, args.latex_out, **options)


if __name__ == "__main__":
    main()
