"""Draw Figure 2 from the summary CSV written by aggregate_ffn.py."""

from __future__ import annotations

import argparse
import logging
import time

from lscrepro.plotting.fig2 import plot_fig2

log = logging.getLogger("plot_fig2")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="summary CSV (summary.csv)")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    start = time.perf_counter()
    plot_fig2(args.summary, *args.out)
    log.info("wrote %s in %.2f s", ", ".join(args.out), time.perf_counter() - start)


if __name__ == "__main__":
    main()
