"""Run one job of any family from its spec: LSC pre-training or training.

    python workflow_scripts/job.py pretrain --spec SPEC --weights W --report R
    python workflow_scripts/job.py train --spec SPEC [--weights W] --metrics M --history H

SPEC is the job's JSON spec (as a string, or @file), resolved by the workflow.
"""

import argparse
import json
import sys
from pathlib import Path


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["pretrain", "train"])
    parser.add_argument("--spec", required=True, help="JSON spec, or @path to a JSON file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", type=lambda text: Path(text) if text else None,
                        help="pretrain: output; train: pre-trained input ('' for none)")
    parser.add_argument("--report", type=Path, help="pretrain: pretrain.json")
    parser.add_argument("--metrics", type=Path, help="train: metrics.json")
    parser.add_argument("--history", type=Path, help="train: history.csv")
    args = parser.parse_args(argv)
    text = Path(args.spec[1:]).read_text() if args.spec.startswith("@") else args.spec
    spec = json.loads(text)
    try:
        # each kind imports only its own module: the workflow's code inputs follow suit
        if args.kind == "pretrain":
            from lscrepro.jobs.pretrain import pretrain

            pretrain(spec, args.weights, args.report, threads=args.threads, log=log)
        else:
            from lscrepro.jobs.train import train_run

            train_run(spec, args.metrics, args.history, weights=args.weights, threads=args.threads, log=log)
    except (ValueError, RuntimeError, OSError) as error:
        sys.exit(f"job {args.kind}: {error}")


if __name__ == "__main__":
    main()
