"""Decode a dataset's verified files once into a prepared cache that training jobs memory-map."""

from __future__ import annotations

import argparse
import sys

from lscrepro.data.preparations import prepared_entries
from lscrepro.data.prepared import prepare
from lscrepro.data.registry import DatasetError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared", required=True, choices=sorted(prepared_entries()),
                        help="what to prepare (lscrepro.data.preparations)")
    parser.add_argument("--data-dir", required=True, help="directory holding the dataset's files")
    parser.add_argument("--out", required=True, help="cache directory to write (replaced if it exists)")
    parser.add_argument("--offline", action="store_true", help="never download; fail if a file is missing")
    args = parser.parse_args(argv)

    try:
        out = prepare(args.prepared, args.data_dir, args.out, offline=args.offline)
    except DatasetError as err:
        sys.exit(f"prepare_dataset: {err}")
    except OSError as err:  # a full disk or a folder that is not writable
        sys.exit(f"prepare_dataset: cannot write the prepared cache {args.out} ({err}); nothing "
                 f"half-written was left at that path. Check that its folder is writable and its disk "
                 "has free space, then rerun.")
    print(f"prepared {args.prepared} -> {out}")


if __name__ == "__main__":
    main()
