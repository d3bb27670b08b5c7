"""Regenerate the goldens: ``python crosscheck/run.py`` (all) or ``--only cells lru_lsc``.

Makes (once) the reference's virtual environment and its checkouts under the scratch folder,
then runs each generator module of crosscheck/goldens/ in that environment, with its era's
checkouts and crosscheck/stubs on the path. Runs with any Python 3.11; TensorFlow is never
imported by this process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from crosscheck import sources  # noqa: E402


def generators() -> dict[str, str]:
    """{module name: era}, read from each module's ``ERA = "..."`` line without importing it."""
    found = {}
    for path in sorted((HERE / "goldens").glob("*.py")):
        if path.name.startswith("_"):
            continue
        match = re.search(r'^ERA\s*=\s*"(\w+)"', path.read_text(), re.M)
        if not match or match.group(1) not in sources.ERAS:
            raise SystemExit(f"{path}: needs a line ERA = \"<one of {sorted(sources.ERAS)}>\"")
        found[path.stem] = match.group(1)
    return found


def ensure_venv(scratch: Path) -> Path:
    python = scratch / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(scratch / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")],
                       check=True)
    return python


def run_generator(module: str, era: str, python: Path, scratch: Path, git_source: str) -> float:
    root = sources.materialise(era, scratch, git_source)
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join([str(root), str(HERE / "stubs"), str(REPO)]),
               LSCREPRO_CROSSCHECK_MODULE=module,
               LSCREPRO_CROSSCHECK_ERA_COMMITS=json.dumps(sources.era_commits(era)),
               TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0",
               TF_DETERMINISTIC_OPS="1")
    start = time.perf_counter()
    subprocess.run([str(python), "-m", f"crosscheck.goldens.{module}"], cwd=REPO, env=env, check=True)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", metavar="MODULE", help="generator modules (default: all)")
    parser.add_argument("--scratch", type=Path, default=sources.DEFAULT_SCRATCH,
                        help="folder for the venv and the checkouts (default %(default)s)")
    parser.add_argument("--git-source", default=sources.DEFAULT_GIT_SOURCE,
                        help="clone address, {repo} is the GitHub name (default %(default)s)")
    args = parser.parse_args(argv)
    scratch = args.scratch.expanduser()
    table = generators()
    unknown = sorted(set(args.only or ()) - set(table))
    if unknown:
        raise SystemExit(f"unknown generator(s) {unknown}; known: {sorted(table)}")
    python = ensure_venv(scratch)
    total = 0.0
    for module in args.only or table:
        seconds = run_generator(module, table[module], python, scratch, args.git_source)
        total += seconds
        print(f"{module:24s} {table[module]:5s} {seconds:7.1f} s", flush=True)
    print(f"{'all':24s} {'':5s} {total:7.1f} s")


if __name__ == "__main__":
    main()
