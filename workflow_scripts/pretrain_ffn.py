"""LSC pre-training of one dense stack (rule pretrain_ffn)."""

import argparse
import json
import sys
from pathlib import Path

from lscrepro.ffn_jobs import run_pretrain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--activation", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--settings", required=True,
                        help="JSON: data_dir, offline, model, variant, lsc")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    settings = json.loads(args.settings)
    run_pretrain(dataset=args.dataset, activation=args.activation, seed=args.seed,
                 data_dir=settings["data_dir"], offline=settings["offline"],
                 model_cfg=settings["model"], variant_name=args.variant,
                 variant=settings["variant"],
                 lsc_cfg=settings["lsc"], weights_out=args.weights, report_out=args.report,
                 threads=args.threads, log=lambda line: print(line, file=sys.stderr, flush=True))


if __name__ == "__main__":
    main()
