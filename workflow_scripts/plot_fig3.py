"""Draw Figure 3 from the run and matched-pair tables written by fig3_data.py."""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd

from lscrepro.plotting.fig3 import plot_fig3

log = logging.getLogger("plot_fig3")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True, help="fig3_runs.csv")
    parser.add_argument("--wins", required=True, help="fig3_wins.csv")
    parser.add_argument("--pdf", required=True, help="figure as PDF")
    parser.add_argument("--png", required=True, help="figure as PNG")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    start = time.perf_counter()
    names = {"task": str, "net": str, "variant": str, "metric_name": str}
    plot_fig3(pd.read_csv(args.wins), pd.read_csv(args.runs, dtype=names), args.pdf, args.png)
    log.info("wrote %s and %s in %.2f s", args.pdf, args.png, time.perf_counter() - start)


if __name__ == "__main__":
    main()
