"""Collect one family's runs into summary.csv: one row per training run, joined with
the pre-training it started from."""

from __future__ import annotations

import argparse
import logging

from lscrepro.results.summary import write_summary
from lscrepro.workflow.spec import FAMILIES


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", required=True, choices=sorted(FAMILIES))
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json of each training run")
    parser.add_argument("--pretrain", nargs="*", default=[], help="pretrain.json of each pre-training")
    parser.add_argument("--out", required=True, help="summary CSV, one row per run")
    args = parser.parse_args(argv)
    write_summary(args.family, args.metrics, args.pretrain, args.out)


if __name__ == "__main__":
    main()
