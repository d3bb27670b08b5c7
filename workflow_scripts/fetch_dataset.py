"""Make sure a dataset's files are present in a directory and match their pinned hashes."""

from __future__ import annotations

import argparse
import sys

from lscrepro.data.registry import DATASETS, DatasetError, ensure_files, file_specs
from lscrepro.io import write_json


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--data-dir", required=True, help="directory holding (or receiving) the files")
    parser.add_argument("--offline", action="store_true", help="never download; fail if a file is missing")
    parser.add_argument("--stamp", help="write a json listing the verified files and their pinned hashes here")
    args = parser.parse_args(argv)

    try:
        paths = ensure_files(args.dataset, args.data_dir, offline=args.offline)
    except DatasetError as err:
        sys.exit(f"fetch_dataset: {err}")
    if args.stamp:
        # ensure_files verified every file against these hashes, so they need no rehashing.
        # "sha256" holds the pinned digest string (registry.pinned_sources): bare hex for
        # sha256 pins, "md5:<hex>" for md5 pins; the key keeps older readers working.
        specs = file_specs(args.dataset, args.data_dir)
        try:
            write_json(args.stamp, {
                "dataset": args.dataset,
                "demo": any(spec.demo for spec in specs),
                "files": {spec.filename: {"path": str(paths[spec.name]), "sha256": spec.pinned,
                                          "algorithm": spec.algorithm} for spec in specs},
            })
        except OSError as err:  # lscrepro.io.WriteError: names the stamp and the fix
            sys.exit(f"fetch_dataset: {err}")
    for path in paths.values():
        print(f"ok {path}")


if __name__ == "__main__":
    main()
