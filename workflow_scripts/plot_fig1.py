"""Draw Figure 1 from the CSV tables written by fig1_numbers.py."""

from __future__ import annotations

import argparse

from lscrepro.plotting.fig1 import plot_fig1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", required=True, help="panel b CSV (paths.csv)")
    parser.add_argument("--pascal", required=True, help="panel c CSV (pascal.csv)")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    args = parser.parse_args(argv)
    plot_fig1(args.paths, args.pascal, *args.out)


if __name__ == "__main__":
    main()
