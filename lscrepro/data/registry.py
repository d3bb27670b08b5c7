"""Which files each dataset needs, where they come from, and their pinned SHA-256.

``ensure_files`` is the only way the rest of the project gets at dataset files: it
returns a path only once the file's bytes match the pinned hash, and it never
leaves a partly downloaded or unverified file at a final path.

A data directory may hold a ``registry.txt`` (lines ``<filename> <sha256>``),
written by :mod:`lscrepro.data.demo`. Files listed there are demo files: their
hashes replace the canonical pins and they are never downloaded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pooch

REGISTRY_FILENAME = "registry.txt"


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupt or could not be fetched."""


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: logical name, on-disk name, source URL, expected SHA-256."""

    name: str
    filename: str
    url: str
    sha256: str
    demo: bool = False  # True when the hash comes from the data dir's registry.txt


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"

# Hashes confirmed against independent public pins:
#   MNIST: pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py (_CHECKSUMS),
#     all four files; also in several independent download scripts.
#   CIFAR-10/100: pytorch/vision torchvision/prototype/datasets/_builtin/cifar.py
#     (HttpResource sha256), and tf.keras datasets/cifar10.py, cifar100.py (file_hash).
DATASETS: dict[str, tuple[FileSpec, ...]] = {
    "mnist": (
        FileSpec("train_images", "train-images-idx3-ubyte.gz", _MNIST_URL + "train-images-idx3-ubyte.gz",
                 "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        FileSpec("train_labels", "train-labels-idx1-ubyte.gz", _MNIST_URL + "train-labels-idx1-ubyte.gz",
                 "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        FileSpec("test_images", "t10k-images-idx3-ubyte.gz", _MNIST_URL + "t10k-images-idx3-ubyte.gz",
                 "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        FileSpec("test_labels", "t10k-labels-idx1-ubyte.gz", _MNIST_URL + "t10k-labels-idx1-ubyte.gz",
                 "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ),
    "cifar10": (
        FileSpec("archive", "cifar-10-python.tar.gz", _CIFAR_URL + "cifar-10-python.tar.gz",
                 "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    ),
    "cifar100": (
        FileSpec("archive", "cifar-100-python.tar.gz", _CIFAR_URL + "cifar-100-python.tar.gz",
                 "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
    ),
}


def check_dataset_name(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid names: {', '.join(sorted(DATASETS))}")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_local_registry(data_dir: str | os.PathLike) -> dict[str, str]:
    """Parse ``data_dir/registry.txt`` into {filename: sha256}; empty if there is none."""
    path = Path(data_dir) / REGISTRY_FILENAME
    if not path.exists():
        return {}
    hashes = {}
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[1]) != 64:
            raise DatasetError(f"{path}:{lineno}: expected '<filename> <sha256>', got {line!r}")
        hashes[parts[0]] = parts[1].lower()
    return hashes


def file_specs(dataset: str, data_dir: str | os.PathLike) -> tuple[FileSpec, ...]:
    """The dataset's files, with hashes from ``data_dir/registry.txt`` where it lists them."""
    check_dataset_name(dataset)
    local = read_local_registry(data_dir)
    return tuple(
        replace(spec, sha256=local[spec.filename], demo=True) if spec.filename in local else spec
        for spec in DATASETS[dataset]
    )


def ensure_files(dataset: str, data_dir: str | os.PathLike, offline: bool = False) -> dict[str, Path]:
    """Make sure every file of ``dataset`` is in ``data_dir`` with its pinned hash.

    Returns {logical name: path}. Raises :class:`DatasetError` for a file with a wrong
    hash (left untouched), a missing file when offline or when it is a demo file, and a
    failed download (nothing is left at the final path).
    """
    data_dir = Path(data_dir)
    return {spec.name: _ensure_one(spec, data_dir, offline) for spec in file_specs(dataset, data_dir)}


def _ensure_one(spec: FileSpec, data_dir: Path, offline: bool) -> Path:
    path = data_dir / spec.filename
    if path.exists():
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise DatasetError(_wrong_hash_message(spec, path, actual))
        return path
    if spec.demo:
        raise DatasetError(
            f"demo file {spec.filename} is listed in {data_dir / REGISTRY_FILENAME} but missing from "
            f"{data_dir}; rerun `python workflow_scripts/make_demo_data.py --data-dir {data_dir}`."
        )
    if offline:
        raise DatasetError(f"{spec.filename} is missing (offline, no download). {_placement_hint(spec, data_dir)}")
    return _download(spec, data_dir)


def _download(spec: FileSpec, data_dir: Path) -> Path:
    import requests  # pooch's transport; imported here as only downloads need it

    try:
        # pooch streams into a temp file in data_dir and moves it onto the final
        # name only after the hash matched, so a failure leaves nothing behind.
        fetched = pooch.retrieve(
            spec.url, known_hash=f"sha256:{spec.sha256}", fname=spec.filename, path=data_dir, progressbar=False
        )
    except (ValueError, OSError, requests.exceptions.RequestException) as err:
        raise DatasetError(
            f"could not download {spec.filename} from {spec.url}: {err}\n{_placement_hint(spec, data_dir)}"
        ) from err
    return Path(fetched)


def _placement_hint(spec: FileSpec, data_dir: Path) -> str:
    return (
        f"Place the file {spec.filename} in the directory {data_dir} "
        f"(download it from {spec.url}; its sha256 must be {spec.sha256})."
    )


def _wrong_hash_message(spec: FileSpec, path: Path, actual: str) -> str:
    if spec.demo:
        fix = (
            f"It is listed as demo data in {path.parent / REGISTRY_FILENAME}: rerun "
            f"`python workflow_scripts/make_demo_data.py --data-dir {path.parent}`."
        )
    else:
        fix = (
            "Delete it (it is downloaded again unless offline) or replace it with "
            f"the canonical file from {spec.url}."
        )
    return (
        f"{path} has the wrong sha256: expected {spec.sha256}, got {actual}. "
        f"The file was left in place, unused. {fix}"
    )
