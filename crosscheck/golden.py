"""Golden files: arrays in ``tests/golden/<name>.npz``, provenance in ``tests/golden/<name>.json``.

numpy only, so the project's tests read goldens without TensorFlow. A generator (run in the
reference's virtual environment) calls :func:`save`; a test calls :func:`load`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path(os.environ.get("LSCREPRO_GOLDEN_DIR", Path(__file__).resolve().parents[1] / "tests" / "golden"))


@dataclass(frozen=True)
class Golden:
    arrays: dict[str, np.ndarray]
    meta: dict

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise KeyError(f"golden {self.meta.get('name')!r} has no array {key!r}; it has {sorted(self.arrays)}")
        return self.arrays[key]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(name: str, arrays: dict[str, np.ndarray], *, reference: dict, inputs: str, notes: str = "") -> Path:
    """Write one golden. ``reference``: {"repo", "commit", "file", "function"} that computed it;
    ``inputs``: how the inputs and weights were made (seeds, shapes)."""
    missing = {"repo", "commit", "file", "function"} - set(reference)
    if missing:
        raise ValueError(f"golden {name!r}: reference lacks {sorted(missing)}")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": name,
        "reference": reference,
        "era": json.loads(os.environ.get("LSCREPRO_CROSSCHECK_ERA_COMMITS", "{}")),
        "inputs": inputs,
        "notes": notes,
        "tensorflow": _version("tensorflow-cpu") or _version("tensorflow"),
        "tensorflow_addons": _version("tensorflow-addons"),
        "tensorflow_probability": _version("tensorflow-probability"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "command": f"python crosscheck/run.py --only {os.environ.get('LSCREPRO_CROSSCHECK_MODULE', '?')}",
        "created": datetime.date.today().isoformat(),
        "arrays": {k: [list(np.shape(v)), str(np.asarray(v).dtype)] for k, v in sorted(arrays.items())},
    }
    data = {k: np.asarray(v) for k, v in arrays.items()}
    _atomic_write(GOLDEN_DIR / f"{name}.npz", lambda tmp: np.savez_compressed(open(tmp, "wb"), **data))
    _atomic_write(GOLDEN_DIR / f"{name}.json",
                  lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n"))
    return GOLDEN_DIR / f"{name}.npz"


def load(name: str) -> Golden:
    npz, meta = GOLDEN_DIR / f"{name}.npz", GOLDEN_DIR / f"{name}.json"
    if not npz.exists() or not meta.exists():
        raise FileNotFoundError(f"golden {name!r} missing under {GOLDEN_DIR}; regenerate it with "
                                f"`python crosscheck/run.py` (see crosscheck/README.md)")
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return Golden(arrays, json.loads(meta.read_text()))


def names() -> list[str]:
    return sorted(p.stem for p in GOLDEN_DIR.glob("*.json"))
