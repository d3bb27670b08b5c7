"""Compute the Figure 1 tables: descent-path counts (panel b) and RNN input gradients (panel c)."""

from __future__ import annotations

import argparse
import logging

from lscrepro.results.fig1 import write_fig1_numbers


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=10, help="layers L of the PascalRNN and HeRNN")
    parser.add_argument("--steps", type=int, default=100, help="time steps T of panel c")
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--rhos", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--hernn-width", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-time", type=int, default=10_000, help="panel b: largest T")
    parser.add_argument(
        "--depth-gap", type=int, default=5, help="panel b: dl of the T sweep and T of the dl sweep"
    )
    parser.add_argument("--out", required=True, help="CSV for panel b (paths.csv)")
    parser.add_argument("--pascal-out", required=True, help="CSV for panel c (pascal.csv)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = parse_args(argv)
    write_fig1_numbers(args.out, args.pascal_out, max_time=args.max_time, depth_gap=args.depth_gap,
                       depth=args.depth, steps=args.steps, batch=args.batch, rhos=args.rhos,
                       hernn_width=args.hernn_width, seed=args.seed)


if __name__ == "__main__":
    main()
