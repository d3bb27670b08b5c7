"""Registry entries written as ``"module:attribute"`` strings: reading a registry (in the
Snakefile, at parse time) imports nothing, and the workflow can name the file each entry
lives in, so that a family's jobs depend on exactly the code they run."""

from __future__ import annotations

import importlib
from typing import Any


def load(entry: Any) -> Any:
    """The object an entry names; anything that is not a string is the object itself."""
    if not isinstance(entry, str):
        return entry
    module, _, attribute = entry.partition(":")
    return getattr(importlib.import_module(module), attribute)


def entry_file(entry: Any) -> list[str]:
    """The repo-relative file of a string entry ([] for an object registered at run time)."""
    if not isinstance(entry, str):
        return []
    return [entry.partition(":")[0].replace(".", "/") + ".py"]
