"""Where the grid stands, per family and figure: done, diverged, failed, pre-training
converged or not, incomplete, not yet run. Reads the results and logs only: it starts no
job and does not call Snakemake.

    python workflow_scripts/status.py                                  # the paper's grid
    python workflow_scripts/status.py --configfile config/smoke.yaml   # the demo grid
    python workflow_scripts/status.py --verify    # and rehash the data the jobs read

Prints the counts and writes one row per job to results/status.csv. With --verify, it also
rehashes every dataset file and prepared cache the grid's jobs read against its pin and
stamp, and every finished pre-training's weights.pt against the SHA-256 its pretrain.json
recorded (lscrepro.workflow.verify); lists each mismatch, writes every output of the jobs
that read it to <results>/verify_delete.txt, and exits with status 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from lscrepro.io import write_csv, write_text
from lscrepro.workflow.spec import output_roots
from lscrepro.workflow.status import load_config, run_status, summary_table
from lscrepro.verdicts import verdict_counts
from lscrepro.workflow.verify import outputs_to_delete, verify_data, verify_weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", nargs="+", action="extend", default=[], metavar="FILE",
                        help="merged over config/config.yaml in order, as snakemake --configfile does")
    parser.add_argument("--merged-config", type=Path, metavar="FILE",
                        help="the merged config, a JSON file (the workflow's status rule writes it)")
    parser.add_argument("--directory", "-d", default=".",
                        help="the workflow directory: config/config.yaml, results/ and logs/ (default: .)")
    parser.add_argument("--out", help="per-job CSV (default: <directory>/<results>/status.csv)")
    parser.add_argument("--failed", action="store_true", help="also list the failed and diverged jobs")
    parser.add_argument("--verify", action="store_true",
                        help="rehash the datasets and prepared caches against their pins and stamps")
    args = parser.parse_args(argv)
    root = Path(args.directory)
    config = json.loads(args.merged_config.read_text()) if args.merged_config else \
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
    claims = root / output_roots(config)[0] / "claims.csv"
    if claims.is_file():  # once the claims rule has run
        counts = verdict_counts(claims)
        print(f"claims ({claims}): " + ", ".join(f"{verdict} {n}" for verdict, n in counts.items()))
    return report_verification(config, root, jobs) if args.verify else 0


def report_verification(config: dict, root: Path, jobs: pd.DataFrame) -> int:
    """Print the data and weights mismatches and the jobs that read them, and write every
    output of those jobs to a file to delete; 1 if there is a mismatch."""
    data, weights = verify_data(config, root, jobs), verify_weights(config, root, jobs)  # one status read
    if data.empty and weights.empty:
        print("\n--verify: every dataset file and prepared cache the jobs read (those fetched or prepared "
              "so far) matches its pin and stamp, and every pre-trained weights file its SHA-256")
        return 0
    mismatches = pd.concat([data, weights], ignore_index=True)
    print(f"\n--verify: {len(mismatches)} mismatch(es):")
    for row in mismatches.to_dict("records"):
        print(f"{row['path']}: {row['problem']}\n  read by {row['jobs']} finished job(s)")
    delete = root / output_roots(config)[0] / "verify_delete.txt"
    outputs = outputs_to_delete(mismatches)
    write_text(delete, "".join(f"{path}\n" for path in outputs))
    if not data.empty:
        print("Snakemake does not see data changed behind its back. Put the canonical files back (delete a "
              "real dataset file to download it again; demo data: delete its registry.txt and the demo_data "
              "rule writes them again) and delete a changed cache's folder.")
    print(f"The {len(outputs)} outputs of the jobs that read them are listed in {delete}: delete them "
          f"(xargs rm -f < {delete}) and rerun snakemake, which reruns those jobs.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
