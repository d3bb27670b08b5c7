"""The reference's code at the commits behind the figures, unpacked into a scratch folder.

Each *era* is one set of checkouts that imports as the reference imported itself:
stable_drnn as ``alif_sg``, stable_spike as ``sg_design_lif``, py-aromatics as ``pyaromatics``.
Nothing here is copied into this repository: the folders live under the scratch directory.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SCRATCH = Path(os.environ.get("LSCREPRO_CROSSCHECK_DIR", "~/.cache/lscrepro-crosscheck"))
# {repo} is the GitHub name; a local mirror works too, e.g. /mirrors/LuCeHe+{repo}/repo
DEFAULT_GIT_SOURCE = os.environ.get("LSCREPRO_CROSSCHECK_GIT", "https://github.com/LuCeHe/{repo}.git")


@dataclass(frozen=True)
class Checkout:
    package: str  # the import name the reference used for the repository
    repo: str
    commit: str


ERAS: dict[str, tuple[Checkout, ...]] = {
    # Figures 2 and 3 (and the FFN LSC): stable_drnn@4b667ae (13 Aug 2023) with the
    # stable_spike and py-aromatics commits current on that day
    "fig3": (
        Checkout("alif_sg", "stable_drnn", "4b667ae723d4a1a8755bac1e920096421f9d93fc"),
        Checkout("sg_design_lif", "stable_spike", "67f1ce7796a0ee16b29c478cf7d193e25e9ef9f2"),
        Checkout("pyaromatics", "py-aromatics", "347b2c862fccc32096c84053bece1505a459d784"),
    ),
    # Figure 4 and Table 1 (ResLRU): lruLSC@c128682 (29 Oct 2023), full_model.py@d253a69, and
    # py-aromatics@61c9b10, committed two seconds before c128682 (its LRU layers and optimisers)
    "lru": (
        Checkout("alif_sg", "stable_drnn", "c128682179816d5e2f6b9ee8f825bf3301ccce13"),
        Checkout("sg_design_lif", "stable_spike", "d253a694eada211376e53265b38e10bfd42a0416"),
        Checkout("pyaromatics", "py-aromatics", "61c9b10edb00333f0eb1f2d4360352bb8c5c5841"),
    ),
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def bare_clone(repo: str, scratch: Path, git_source: str) -> Path:
    """A bare clone of ``repo`` under ``scratch/git`` (made once, reused)."""
    target = scratch / "git" / f"{repo}.git"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "--bare", "--quiet", git_source.format(repo=repo), str(target))
    return target


def materialise(era: str, scratch: Path = DEFAULT_SCRATCH, git_source: str = DEFAULT_GIT_SOURCE) -> Path:
    """Unpack ``era``'s checkouts under ``scratch/src/<era>``; return that folder (a sys.path root)."""
    scratch = scratch.expanduser()
    root = scratch / "src" / era
    for checkout in ERAS[era]:
        target = root / checkout.package
        stamp = target / ".commit"
        if stamp.exists() and stamp.read_text().strip() == checkout.commit:
            continue
        git_dir = bare_clone(checkout.repo, scratch, git_source)
        partial = root / f".{checkout.package}.partial"
        subprocess.run(["rm", "-rf", str(partial)], check=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", checkout.commit],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        (partial / "__init__.py").touch(exist_ok=True)  # stable_spike has none at its root
        (partial / ".commit").write_text(checkout.commit + "\n")
        subprocess.run(["rm", "-rf", str(target)], check=True)
        partial.rename(target)
    return root


def era_commits(era: str) -> dict[str, str]:
    """``{"stable_drnn": commit, ...}`` for a golden's provenance."""
    return {checkout.repo: checkout.commit for checkout in ERAS[era]}
