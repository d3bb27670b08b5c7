"""Draw Figure 3 from the run and matched-pair tables written by fig3_data.py."""

from __future__ import annotations

import argparse

from lscrepro.plotting.fig3 import plot_fig3
from lscrepro.results.fig3 import read_runs, read_wins


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", required=True, help="fig3_runs.csv")
    parser.add_argument("--wins", required=True, help="fig3_wins.csv")
    parser.add_argument("--out", nargs="+", required=True, help="figure files; format from the suffix")
    args = parser.parse_args(argv)
    plot_fig3(read_wins(args.wins), read_runs(args.runs), *args.out)


if __name__ == "__main__":
    main()
