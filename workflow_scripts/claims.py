"""Check each of the paper's claims on the grid that ran: claims.csv (one row per claim and
grid cell: n, the estimate with its 95% interval, the p-value, the verdict) and claims.md.

A family whose files are not given (not in the config) has its claims listed as not run; so
has one whose file does not exist yet (a partial grid, run by hand), with a warning."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from lscrepro.claims import claims_markdown, claims_table, counts
from lscrepro.io import write_csv, write_text

log = logging.getLogger("claims")
TEXT = {key: str for key in ("dataset", "activation", "task", "net", "variant", "setup", "lsc_status")}


def read(path: Path | None, what: str) -> pd.DataFrame | None:
    """The CSV, or None (its claims: not run) when no path is given or the file is missing."""
    if path is None:
        return None
    if not path.exists():
        log.warning("%s %s does not exist: its claims are listed as not run", what, path)
        return None
    return pd.read_csv(path, dtype=TEXT)


def tolerance(text: str) -> tuple[str, float]:
    family, _, value = text.partition("=")
    if not value:
        raise argparse.ArgumentTypeError(f"--tolerance takes FAMILY=VALUE, got {text!r}")
    return family, float(value)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ffn-summary", type=Path, help="results/ffn/summary.csv (Figure 2)")
    parser.add_argument("--rnn-summary", type=Path, help="results/rnn/summary.csv (its pre-trainings)")
    parser.add_argument("--rnn-runs", type=Path, help="results/rnn/fig3_runs.csv (Figure 3)")
    parser.add_argument("--lru-summary", type=Path, help="results/lru/summary.csv (Figure 4, Table 1)")
    parser.add_argument("--tolerance", type=tolerance, nargs="*", default=[], metavar="FAMILY=VALUE",
                        help="the pre-training tolerance per family (the config's lsc.tolerance)")
    parser.add_argument("--demo", action="store_true", help="the runs use the demo's toy data: say so")
    parser.add_argument("--csv-out", required=True, help="claims.csv")
    parser.add_argument("--markdown-out", required=True, help="claims.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    table = claims_table(ffn=read(args.ffn_summary, "the ffn summary"),
                         rnn_runs=read(args.rnn_runs, "fig3_runs"),
                         rnn=read(args.rnn_summary, "the rnn summary"),
                         lru=read(args.lru_summary, "the lru summary"),
                         tolerances=dict(args.tolerance))
    write_csv(args.csv_out, table)
    write_text(args.markdown_out, claims_markdown(table, demo=args.demo))
    log.info("wrote %s and %s: %s", args.csv_out, args.markdown_out, counts(table["verdict"]))


if __name__ == "__main__":
    main()
