"""Where the grid stands, per family and figure: done, diverged, failed, pre-training
converged or not, incomplete, not yet run. Reads the results and logs only: it starts no
job and does not call Snakemake.

    python workflow_scripts/status.py                                  # the paper's grid
    python workflow_scripts/status.py --configfile config/smoke.yaml   # the demo grid

Prints the counts and writes one row per job to results/status.csv.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lscrepro.io import write_csv
from lscrepro.spec import output_roots
from lscrepro.status import load_config, run_status, summary_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE",
                        help="merged over config/config.yaml in order, as snakemake --configfile does")
    parser.add_argument("--config-json", help="the merged config as JSON (the workflow's status rule)")
    parser.add_argument("--directory", "-d", default=".",
                        help="the workflow directory: config/config.yaml, results/ and logs/ (default: .)")
    parser.add_argument("--out", help="per-job CSV (default: <directory>/<results>/status.csv)")
    parser.add_argument("--failed", action="store_true", help="also list the failed and diverged jobs")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    config = json.loads(args.config_json) if args.config_json else \
        load_config(args.configfile, base=root / "config/config.yaml")
    jobs = run_status(config, root)
    out = args.out or root / output_roots(config)[0] / "status.csv"
    write_csv(out, jobs)
    print(summary_table(jobs).to_string())
    if args.failed:
        bad = jobs[jobs["state"].isin(["failed", "diverged"])]
        if len(bad):
            print()
            print(bad[["path", "state", "detail"]].to_string(index=False))
    print(f"\n{len(jobs)} rows written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
