"""Reduce the FFN summary to what Figure 2 draws: test accuracy over seeds per
(dataset, activation, variant, learning rate)."""

from __future__ import annotations

import argparse

from lscrepro.results.fig2 import write_fig2_data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/ffn/summary.csv")
    parser.add_argument("--out", required=True, help="fig2_data.csv")
    args = parser.parse_args(argv)
    write_fig2_data(args.summary, args.out)


if __name__ == "__main__":
    main()
