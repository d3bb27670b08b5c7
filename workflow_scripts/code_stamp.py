"""Write the SHA-256 of each code file a job kind runs (rule code_stamp).

Jobs depend on this one stamp instead of on their 25 code files each: the DAG of the
paper grid stays small, and a code edit still reaches every job that runs the file."""

from __future__ import annotations

import argparse

from lscrepro.data.registry import sha256_file
from lscrepro.io import write_json


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="stamp JSON: {file: sha256}")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    write_json(args.out, {path: sha256_file(path) for path in sorted(args.files)})


if __name__ == "__main__":
    main()
