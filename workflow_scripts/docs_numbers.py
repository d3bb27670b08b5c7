"""Write the numbers that README.md and docs/*.md show from a run (the demo's Table 1, RNN
table, claims and status output) from that run's outputs, each block stamped with the run's
date and commit; or, with --check, fail where the docs disagree with the run.

    python workflow_scripts/docs_numbers.py --results results/demo           # rewrite the blocks
    python workflow_scripts/docs_numbers.py --results results/demo --check   # compare only

The blocks are marked `<!-- generated: NAME -->` ... `<!-- end generated -->` in the docs
(lscrepro/docs_numbers.py: the blocks, the stamp, how numbers are compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lscrepro.docs_numbers import DocsNumbersError, Run, check_blocks, write_blocks
from lscrepro.workflow.spec import output_roots
from lscrepro.workflow.status import load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", required=True, help="the run's results folder, e.g. results/demo")
    parser.add_argument("--configfile", default="config/smoke.yaml",
                        help="the config that made the run, for the status block (default: config/smoke.yaml)")
    parser.add_argument("--directory", "-d", default=".", help="the workflow folder (default: .)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming each block that disagrees with the run")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    results = args.results.rstrip("/")
    try:
        made_by = output_roots(load_config([root / args.configfile], base=root / "config/config.yaml"))[0]
    except OSError as error:
        print(f"error: cannot read --configfile {args.configfile}: {error}", file=sys.stderr)
        return 2
    if made_by != results:
        print(f"error: --configfile {args.configfile} writes to {made_by}, not --results {results}: "
              "give the config that made this run", file=sys.stderr)
        return 2
    run = Run(root, results, args.configfile)
    try:
        if args.check:
            return report_check(check_blocks(run), results)
        changed = write_blocks(run)
    except DocsNumbersError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"rewrote {', '.join(changed)}" if changed else f"every generated block already matches {results}")
    return 0


def report_check(problems: list[str], results: str) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"every generated block agrees with {results}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
