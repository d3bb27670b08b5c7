"""Draw Figure 2 from the table written by fig2_data.py."""

from __future__ import annotations

import argparse

from lscrepro.plotting.fig2 import plot_fig2
from lscrepro.results.fig2 import read_fig2_data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="fig2_data.csv")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    args = parser.parse_args(argv)
    plot_fig2(read_fig2_data(args.data), *args.out)


if __name__ == "__main__":
    main()
