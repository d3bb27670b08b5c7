"""Draw Figure 4 (ResLRU on PTB learning curves) from the table written by fig4_data.py."""

from __future__ import annotations

import argparse

from lscrepro.plotting.fig4 import plot_fig4
from lscrepro.results.fig4 import read_curves


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
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    parser.add_argument("--ylim", nargs="+", default=["100", "300"], metavar="LIM",
                        help="perplexity axis range: LOW HIGH (default 100 300, as the paper) "
                        "or none (automatic)")
    args = parser.parse_args(argv)
    try:
        ylim = parse_ylim(args.ylim)
    except ValueError as error:
        parser.error(str(error))
    plot_fig4(read_curves(args.curves), *args.out, ylim=ylim)


if __name__ == "__main__":
    main()
