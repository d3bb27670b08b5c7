"""Draw Figure 1 from the CSV tables written by fig1_numbers.py."""

from __future__ import annotations

import argparse
import logging
import time

from lscrepro.plotting.fig1 import plot_fig1

log = logging.getLogger("plot_fig1")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", required=True, help="panel b CSV (paths.csv)")
    parser.add_argument("--pascal", required=True, help="panel c CSV (pascal.csv)")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    start = time.perf_counter()
    plot_fig1(args.paths, args.pascal, *args.out)
    log.info("wrote %s in %.2f s", ", ".join(args.out), time.perf_counter() - start)


if __name__ == "__main__":
    main()
