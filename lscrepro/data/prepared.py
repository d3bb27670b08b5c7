"""A prepared cache of a dataset: one ``.npy`` per array plus ``meta.json``.

Decoding and hashing the dataset files once per preparation (``prepare``; see
:mod:`lscrepro.data.preparations`) instead of once per training job; training jobs
memory-map the result (``load_prepared``).
``meta.json`` records the sha256 of the source files, so a cache built from other
files than the current ones is refused rather than silently used, and the sha256 of each
array file, which ``lscrepro.workflow.verify`` (status.py --verify) checks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lscrepro.catalog.entrypoints import load
from lscrepro.data.preparations import preparation
from lscrepro.data.registry import DatasetError, ensure_files, pinned_sources, sha256_file

FORMAT_VERSION = 2  # bump when the layout or a preparation's computation changes
META_NAME = "meta.json"


@dataclass
class Prepared:
    """The arrays of a prepared cache (memory-mapped or in memory) and its ``info``
    (sizes the task needs: num_classes, vocab_size, steps, ...)."""

    name: str  # the preparation (e.g. sl_mnist)
    dataset: str  # whose files it was made from (e.g. mnist)
    arrays: dict[str, np.ndarray]
    info: dict

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


class CacheError(DatasetError):
    """A prepared cache is missing or corrupt."""


class StaleCacheError(CacheError):
    """A prepared cache was built from other source files (or another format version)."""


def prepare(name: str, data_dir: str | os.PathLike, out_dir: str | os.PathLike, offline: bool = True) -> Path:
    """Write the preparation ``name`` of its dataset's verified files into ``out_dir``.

    Built in a temporary sibling directory and renamed into place, so ``out_dir``
    never holds a half-written cache.
    """
    out, recipe = Path(out_dir), preparation(name)
    files = ensure_files(recipe.dataset, data_dir, offline=offline)  # verifies every pinned hash
    arrays, info = load(recipe.function)(files, **recipe.options)
    # ensure_files checked the files against exactly these hashes.
    sources = pinned_sources(recipe.dataset, data_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        meta = {"format_version": FORMAT_VERSION, "name": name, "dataset": recipe.dataset,
                "info": info, "sources": sources, "arrays": {}}
        for array_name, array in arrays.items():
            array = np.ascontiguousarray(array)
            np.save(tmp / f"{array_name}.npy", array, allow_pickle=False)
            # the file's hash pins the cache's content (status.py --verify); loading skips it
            meta["arrays"][array_name] = {"shape": list(array.shape), "dtype": array.dtype.str,
                                          "sha256": sha256_file(tmp / f"{array_name}.npy")}
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes 0700; caches are shared on clusters
        _swap_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def _swap_into_place(new: Path, out: Path) -> None:
    """Rename ``new`` onto ``out``; an existing ``out`` is moved aside, then deleted."""
    if not os.path.lexists(out):
        os.rename(new, out)
        return
    aside = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(out, aside)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(aside, out)  # put the old cache back rather than leave nothing
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside)
    else:
        aside.unlink()


def load_prepared(cache_dir: str | os.PathLike, expected_sources: dict[str, str] | None = None,
                  mmap: bool = True) -> Prepared:
    """The arrays stored in ``cache_dir``, memory-mapped read-only unless ``mmap`` is False.

    Raises :class:`StaleCacheError` if ``expected_sources`` ({filename: sha256}) differs
    from the files the cache was built from, :class:`CacheError` if it is missing or corrupt.
    """
    cache = Path(cache_dir)
    meta = _read_meta(cache)
    if expected_sources is not None and dict(meta["sources"]) != dict(expected_sources):
        raise StaleCacheError(
            f"prepared cache {cache} was built from other source files than expected: "
            f"{_source_diff(meta['sources'], expected_sources)}. {_fix(cache, meta['name'])}")
    arrays = {name: _load_array(cache, name, meta, mmap) for name in meta["arrays"]}
    return Prepared(name=meta["name"], dataset=meta["dataset"], arrays=arrays, info=meta["info"])


def _read_meta(cache: Path) -> dict:
    path = cache / META_NAME
    if not cache.is_dir():
        raise CacheError(f"prepared cache {cache} does not exist. {_fix(cache)}")
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict):
            raise ValueError("expected a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # JSONDecodeError is a ValueError
        raise CacheError(f"prepared cache {cache}: cannot read {path}: {err}. {_fix(cache)}") from err
    # Version first: another version may lay out meta.json differently.
    if meta.get("format_version") != FORMAT_VERSION:
        raise StaleCacheError(
            f"prepared cache {cache} has format version {meta.get('format_version')}, this code reads "
            f"version {FORMAT_VERSION}. {_fix(cache, meta.get('name'))}")
    keys = ("name", "dataset", "info", "sources", "arrays")
    objects = ("info", "sources", "arrays")
    if any(key not in meta for key in keys) or not all(isinstance(meta[k], dict) for k in objects):
        raise CacheError(f"prepared cache {cache}: {path} lacks one of {', '.join(keys)} "
                         f"({', '.join(objects)} must be objects). {_fix(cache)}")
    return meta


def _load_array(cache: Path, name: str, meta: dict, mmap: bool) -> np.ndarray:
    path = cache / f"{name}.npy"
    expected = meta["arrays"].get(name)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:  # missing, truncated or not .npy
        raise CacheError(f"prepared cache {cache}: cannot load {path}: {err}. "
                         f"{_fix(cache, meta['name'])}") from err
    actual = {"shape": list(array.shape), "dtype": array.dtype.str}
    if expected is None or actual != {key: expected.get(key) for key in actual}:
        raise CacheError(f"prepared cache {cache}: {path} holds {actual}, {META_NAME} says {expected}. "
                         f"{_fix(cache, meta['name'])}")
    return array


def _source_diff(actual: dict[str, str], expected: dict[str, str]) -> str:
    parts = []
    for filename in sorted(set(actual) | set(expected)):
        have, want = actual.get(filename), expected.get(filename)
        if have is None:
            parts.append(f"{filename} (sha256 {want}) is not among the cache's sources")
        elif want is None:
            parts.append(f"{filename} is a source of the cache but not expected")
        elif have != want:
            parts.append(f"{filename} has sha256 {want}, the cache was built from sha256 {have}")
    return "; ".join(parts)


def _fix(cache: Path, name: str | None = None) -> str:
    command = (f"python workflow_scripts/prepare_dataset.py --prepared {name or '<name>'} "
               f"--data-dir <data dir> --out {cache}")
    return (f"Rebuild it with the snakemake rule prepare_dataset (or `{command}`), "
            f"or delete the directory {cache}.")


def expected_sources_from_stamp(stamp_path: str | os.PathLike) -> dict[str, str]:
    """{filename: sha256} from a stamp JSON written by ``workflow_scripts/fetch_dataset.py --stamp``."""
    path = Path(stamp_path)
    try:
        stamp = json.loads(path.read_text())
        return {filename: str(entry["sha256"]) for filename, entry in stamp["files"].items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise DatasetError(
            f"cannot read the dataset stamp {path} ({type(err).__name__}: {err}); rerun the snakemake "
            f"rule fetch_dataset, or `python workflow_scripts/fetch_dataset.py --stamp {path} ...`."
        ) from err
