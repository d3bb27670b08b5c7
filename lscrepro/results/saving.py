"""The one figure saver: the same tables give the same bytes. Atomically (temp file, then
rename), format from the suffix, no creation date in the metadata (PNG has none)."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from lscrepro.io import atomic_path

METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def save_figure(fig: Figure, *paths: str | os.PathLike) -> None:
    """Save ``fig`` to each path (format from its suffix) at 200 dpi, tight."""
    for path in paths:
        fmt = Path(path).suffix.lstrip(".")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", dpi=200, metadata=METADATA.get(fmt))
