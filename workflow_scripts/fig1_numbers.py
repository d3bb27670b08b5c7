"""Compute the Figure 1 tables: descent-path counts (panel b) and RNN input gradients (panel c)."""

from __future__ import annotations

import argparse
import json
import logging

from lscrepro.settings import settings_from
from lscrepro.results.fig1 import Fig1Settings, write_fig1_numbers


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True, help="the config's fig1 section, as JSON")
    parser.add_argument("--out", required=True, help="CSV for panel b (paths.csv)")
    parser.add_argument("--pascal-out", required=True, help="CSV for panel c (pascal.csv)")
    args = parser.parse_args(argv)
    write_fig1_numbers(args.out, args.pascal_out, settings_from(Fig1Settings, json.loads(args.spec), "fig1"))


if __name__ == "__main__":
    main()
