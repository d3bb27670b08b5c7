"""Reduce the FFN summary to what Figure 2 draws: test accuracy over seeds per
(dataset, activation, variant, learning rate)."""

from __future__ import annotations

import argparse

import pandas as pd

from lscrepro.aggregate import fig2_table
from lscrepro.io import write_csv


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", required=True, help="results/ffn/summary.csv")
    parser.add_argument("--out", required=True, help="fig2_data.csv")
    args = parser.parse_args(argv)
    write_csv(args.out, fig2_table(pd.read_csv(args.summary)))


if __name__ == "__main__":
    main()
