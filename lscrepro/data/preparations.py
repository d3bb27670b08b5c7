"""What a prepared cache is made from: the entries of lscrepro.catalog.datasets (its
dataset's files and the function that turns them into arrays), and the modules of those
functions. Plain strings only: the Snakefile reads this at parse time."""

from __future__ import annotations

from ..catalog.datasets import PREPARATIONS, Preparation, prepared_entries, preparation
from ..catalog.entrypoints import entry_file

__all__ = ["PREPARATIONS", "Preparation", "prepared_entries", "preparation", "preparation_files"]


def preparation_files() -> list[str]:
    """Repo-relative modules of the preparation functions (imported by name, which an
    import graph cannot see): code inputs of the prepare rule."""
    return sorted({path for entry in prepared_entries().values() for path in entry_file(entry.function)})
