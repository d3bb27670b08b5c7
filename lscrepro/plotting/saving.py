"""Saving figures so that the same tables give the same bytes: atomically (temp file,
then rename), format from the suffix, no creation date in the metadata."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from lscrepro.io import atomic_path


def save_deterministic(fig: Figure, *paths: str | os.PathLike) -> None:
    for path in paths:
        fmt = Path(path).suffix.lstrip(".")
        metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}.get(fmt)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", dpi=200, metadata=metadata)
