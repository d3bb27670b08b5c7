"""Dataset files and splits: pinned registry, canonical readers/writers, demo data, loaders.

The names below are imported on first use (PEP 562), not with the package: a job that
reads one dataset then imports (and, in the workflow, depends on) that dataset's code only.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "write_demo_data": "demo",
    "FormatError": "formats", "read_cifar": "formats", "read_idx": "formats",
    "write_cifar": "formats", "write_idx": "formats",
    "DATASETS": "registry", "DatasetError": "registry", "FileSpec": "registry",
    "ensure_files": "registry", "file_specs": "registry", "sha256_file": "registry",
    "NUM_CLASSES": "splits", "Splits": "splits", "load_dataset": "splits", "load_raw": "splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
