"""Collect the Figure 2 runs into summary.csv (and optionally the figure's own table)."""

from __future__ import annotations

import argparse
import logging

from lscrepro.aggregate import ffn_figure_table, ffn_summary
from lscrepro.io import write_csv

log = logging.getLogger("aggregate_ffn")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json of each training run")
    parser.add_argument("--pretrain", nargs="*", default=[], help="pretrain.json of each LSC pre-training")
    parser.add_argument("--out", required=True, help="summary CSV, one row per run")
    parser.add_argument("--figure-table", help="also write mean/std/n of test accuracy over seeds here")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    summary = ffn_summary(args.metrics, args.pretrain)
    write_csv(args.out, summary)
    log.info("wrote %s: %d runs, %d with a pre-training", args.out, len(summary),
             summary["lsc_radius_after"].notna().sum())
    if args.figure_table:
        table = ffn_figure_table(summary)
        write_csv(args.figure_table, table)
        log.info("wrote %s: %d points", args.figure_table, len(table))


if __name__ == "__main__":
    main()
