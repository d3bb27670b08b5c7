"""Small offline stand-ins for MNIST, CIFAR-10, CIFAR-100, PTB and SHD.

The image sets are built from scikit-learn's bundled 8x8 digits (1797 images, no
download); PTB and SHD are generated from a seed (:func:`lscrepro.data.ptb.write_demo`,
:func:`lscrepro.data.shd.write_demo`). All are written under the canonical file names
and formats, so the whole pipeline (registry, readers, splits, training) runs
unchanged on them. A ``registry.txt`` with the files' sha256
marks the directory as demo data for :func:`lscrepro.data.registry.ensure_files`.
Output is byte-deterministic.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from lscrepro.catalog.datasets import demo_makers
from lscrepro.catalog.entrypoints import load
from lscrepro.data.formats import write_cifar, write_idx
from lscrepro.data.registry import DATASETS, REGISTRY_FILENAME, sha256_file
from lscrepro.io import atomic_path

N_TRAIN = 1500  # of 1797 digits; the remaining 297 are the test split
CIFAR_CHANNEL_SCALE = (1.0, 0.85, 0.7)  # distinct channels, so RGB is not three copies


@functools.lru_cache(maxsize=1)
def demo_arrays() -> dict[str, np.ndarray]:
    """The digits as MNIST-like and CIFAR-like uint8 images plus 10- and 100-class labels."""
    # imported here: the Snakefile imports this package, and sklearn takes a second to load
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images  # float, 0..16
    labels = digits.target.astype(np.int64)

    mnist = np.pad(np.kron(_to_uint8(images * 255 / 16), np.ones((3, 3), np.uint8)), ((0, 0), (2, 2), (2, 2)))
    big = np.kron(images * 255 / 16, np.ones((4, 4)))
    cifar = np.stack([_to_uint8(big * scale) for scale in CIFAR_CHANNEL_SCALE], axis=-1)

    # 100 classes = digit x decile of ink amount; decile edges from all images, so each
    # digit's images spread over several ink classes and every label lies in 0..99.
    ink = images.reshape(len(images), -1).sum(axis=1)
    ink_decile = np.digitize(ink, np.quantile(ink, np.linspace(0, 1, 11)[1:-1]))
    return {"mnist": mnist, "cifar": cifar, "labels10": labels, "labels100": labels * 10 + ink_decile}


def write_demo_data(data_dir: str | os.PathLike) -> dict[str, Path]:
    """Write every dataset's canonical files (each by its maker in lscrepro.catalog.datasets)
    and ``registry.txt`` into ``data_dir``. Returns {filename: path} of everything written."""
    data_dir = Path(data_dir)
    makers = demo_makers()
    for maker in makers.values():
        load(maker)(data_dir)
    written = {spec.filename: data_dir / spec.filename for dataset in makers for spec in DATASETS[dataset]}
    lines = ["# demo data from lscrepro.data.demo (sklearn digits; synthetic PTB and SHD), not the real datasets"]
    lines += [f"{name} {sha256_file(path)}" for name, path in sorted(written.items())]
    with atomic_path(data_dir / REGISTRY_FILENAME) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    written[REGISTRY_FILENAME] = data_dir / REGISTRY_FILENAME
    return written


def write_mnist(data_dir: str | os.PathLike) -> None:
    """MNIST's four IDX files from the digits: the first N_TRAIN for training."""
    arrays, names = demo_arrays(), {spec.name: spec.filename for spec in DATASETS["mnist"]}
    for split, part in (("train", slice(0, N_TRAIN)), ("test", slice(N_TRAIN, None))):
        write_idx(Path(data_dir) / names[f"{split}_images"], arrays["mnist"][part])
        write_idx(Path(data_dir) / names[f"{split}_labels"], arrays["labels10"][part].astype(np.uint8))


def write_cifar10(data_dir: str | os.PathLike) -> None:
    _write_cifar(data_dir, "cifar10", "labels10")


def write_cifar100(data_dir: str | os.PathLike) -> None:
    _write_cifar(data_dir, "cifar100", "labels100")


def _write_cifar(data_dir: str | os.PathLike, kind: str, labels: str) -> None:
    """The CIFAR archive ``kind`` from the digits (10 or 100 classes: ``labels``)."""
    arrays, tr, te = demo_arrays(), slice(0, N_TRAIN), slice(N_TRAIN, None)
    (archive,) = DATASETS[kind]
    write_cifar(Path(data_dir) / archive.filename, kind, arrays["cifar"][tr], arrays[labels][tr],
                arrays["cifar"][te], arrays[labels][te])


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
