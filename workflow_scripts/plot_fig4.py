"""Draw Figure 4 (ResLRU on PTB learning curves) from the table written by fig4_data.py."""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd

from lscrepro.plotting.fig4 import plot_fig4

log = logging.getLogger("plot_fig4")


def parse_ylim(values: list[str]) -> tuple[float, float] | None:
    """["none"] -> None (automatic); [LOW, HIGH] -> (LOW, HIGH)."""
    if len(values) == 1 and values[0].lower() == "none":
        return None
    try:
        low, high = map(float, values)
    except ValueError:
        raise ValueError(f"--ylim takes LOW HIGH or none, got {' '.join(values)!r}") from None
    if not low < high:
        raise ValueError(f"--ylim LOW must be below HIGH, got {low:g} {high:g}")
    return low, high


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--curves", required=True, help="fig4_curves.csv")
    parser.add_argument("--pdf", required=True, help="figure as PDF")
    parser.add_argument("--png", required=True, help="figure as PNG")
    parser.add_argument("--ylim", nargs="+", default=["100", "300"], metavar="LIM",
                        help="perplexity axis range: LOW HIGH (default 100 300, as the paper) "
                        "or none (automatic)")
    args = parser.parse_args(argv)
    try:
        ylim = parse_ylim(args.ylim)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    start = time.perf_counter()
    curves = pd.read_csv(args.curves, dtype={"setup": str, "variant": str})
    plot_fig4(curves, args.pdf, args.png, ylim)
    log.info("wrote %s and %s in %.2f s", args.pdf, args.png, time.perf_counter() - start)


if __name__ == "__main__":
    main()
