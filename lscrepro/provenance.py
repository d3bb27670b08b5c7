"""Where and with what a result was made: git commit, package versions, host, device."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

# the packages whose versions can change a result
PACKAGES = ("torch", "numpy", "pytorch-optimizer", "pandas", "scikit-learn", "snakemake")


@functools.lru_cache(maxsize=1)
def git_commit(where: str | Path = ".") -> str:
    """The checkout's commit, with "-dirty" if tracked files differ from it; "unknown"
    outside a git checkout (e.g. an installed copy) or without git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "absent"
    return found


def provenance(device: str, seconds: float) -> dict:
    """What a job records next to its result."""
    return {"git_commit": git_commit(), "host": platform.node(), "device": device,
            "wall_seconds": seconds, **versions()}
