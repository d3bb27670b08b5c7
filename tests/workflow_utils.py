"""Helpers for tests that run the Snakemake workflow in a scratch copy of the repo."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(path: str):
    """A repo script (``workflow_scripts/job.py``, ``benchmarks/gpu_check.py``) as a module,
    to call its functions in-process."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def copy_workflow(dest: Path) -> Path:
    """Copy the files git tracks or would track (no results, no .snakemake)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True).stdout.split("\n")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def snakemake(cwd: Path, *args: str, check: bool = True, timeout: int = 1200) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(cwd: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run ({} when there is nothing to do)."""
    out = snakemake(cwd, "--dry-run", *args)
    text = out.stdout + out.stderr
    table = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal", text, re.S)
    if table is None:
        return {}
    return {rule: int(n) for rule, n in (line.split() for line in table.group(1).splitlines())}
