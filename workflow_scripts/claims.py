"""Check each of the paper's claims on the grid that ran: claims.csv (one row per claim and
grid cell: n, the estimate with its 95% interval, the p-value, the verdict) and claims.md.

A family whose files are not given (not in the config) has its claims listed as not run; so
has one whose file does not exist yet (a partial grid, run by hand), with a warning."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lscrepro.results.claims import write_claims


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ffn-summary", type=Path, help="results/ffn/summary.csv (Figure 2)")
    parser.add_argument("--rnn-summary", type=Path, help="results/rnn/summary.csv (its pre-trainings)")
    parser.add_argument("--rnn-runs", type=Path, help="results/rnn/fig3_runs.csv (Figure 3)")
    parser.add_argument("--lru-summary", type=Path, help="results/lru/summary.csv (Figure 4, Table 1)")
    parser.add_argument("--demo", action="store_true", help="the runs use the demo's toy data: say so")
    parser.add_argument("--out", required=True, help="claims.csv")
    parser.add_argument("--markdown-out", required=True, help="claims.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    write_claims(args.ffn_summary, args.rnn_summary, args.rnn_runs, args.lru_summary, args.demo, args.out,
                 args.markdown_out)


if __name__ == "__main__":
    main()
