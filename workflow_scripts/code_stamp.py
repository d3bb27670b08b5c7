"""Write the digest of each code file a job kind runs (rule code_stamp).

Jobs depend on this one stamp instead of on their 25 code files each: the DAG of the
paper grid stays small, and a code edit still reaches every job that runs the file. The
digests are those of lscrepro.workflow.codedeps (a module's syntax tree without docstrings), the
same the rule's params compare, so the stamp records what a rerun was decided on."""

from __future__ import annotations

import argparse

from lscrepro.workflow.codedeps import file_digests
from lscrepro.io import write_json


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="stamp JSON: {file: digest}")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    write_json(args.out, file_digests(sorted(args.files), for_jobs=True))


if __name__ == "__main__":
    main()
