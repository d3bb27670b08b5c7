"""Collect Figure 4's learning curves: the per-epoch validation perplexity of every lru run
of one setup, from the history.csv next to each metrics.json, as one tidy CSV."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lscrepro.results.fig4 import write_fig4_data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="*", default=[], type=Path,
                        help="the runs' metrics.json; each needs a history.csv beside it")
    parser.add_argument("--setup", default="fig4", help="keep only the runs of this setup")
    parser.add_argument("--out", required=True, help="fig4_curves.csv: one row per run and epoch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    write_fig4_data(args.metrics, args.setup, args.out)


if __name__ == "__main__":
    main()
