"""Supervised training of one dense stack at one grid point (rule train_ffn)."""

import argparse
import json
import sys
from pathlib import Path

from lscrepro.ffn_jobs import run_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--settings", required=True,
                        help="JSON: data_dir, offline, model, variant, train")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", type=Path, default=None,
                        help="pre-trained weights (variants with lsc: true)")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--history", type=Path, required=True)
    args = parser.parse_args()
    settings = json.loads(args.settings)
    run_train(dataset=args.dataset, activation=args.activation, variant_name=args.variant,
              variant=settings["variant"], lr=args.lr, seed=args.seed,
              data_dir=settings["data_dir"], offline=settings["offline"],
              model_cfg=settings["model"], train_cfg=settings["train"],
              metrics_out=args.metrics, history_out=args.history,
              checkpoint=args.metrics.with_name("checkpoint.pt"),
              pretrained_weights=args.weights, threads=args.threads,
              log=lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    main()
