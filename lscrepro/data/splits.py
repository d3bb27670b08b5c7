"""The train / validation / test splits every experiment trains on.

As in the reference code: images are flattened (CIFAR in HWC order), 10% of the
official training set is held out with ``train_test_split(..., random_state=42)``,
and all splits are standardised with one scalar mean and std of the remaining
training part.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from lscrepro.data.formats import read_cifar, read_idx
from lscrepro.data.registry import check_dataset_name, ensure_files

NUM_CLASSES = {"mnist": 10, "cifar10": 10, "cifar100": 100}


@dataclass
class Splits:
    """Standardised float32 features (N, D) and int64 labels for each split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str


def load_raw(name: str, data_dir: str | os.PathLike, offline: bool = False):
    """Verified files -> (x_train, y_train, x_test, y_test) as uint8 images and int64 labels."""
    check_dataset_name(name)
    return read_raw(name, ensure_files(name, data_dir, offline=offline))


def read_raw(name: str, paths: dict):
    """(x_train, y_train, x_test, y_test) from the verified files ``paths`` of ``name``."""
    if name == "mnist":
        return (
            read_idx(paths["train_images"]),
            read_idx(paths["train_labels"]).astype(np.int64),
            read_idx(paths["test_images"]),
            read_idx(paths["test_labels"]).astype(np.int64),
        )
    return read_cifar(paths["archive"], name)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike,
    offline: bool = False,
    val_fraction: float = 0.1,
    split_seed: int = 42,
) -> Splits:
    """Load ``name`` ("mnist", "cifar10", "cifar100") from ``data_dir`` as standardised splits."""
    check_dataset_name(name)
    return split_images(name, load_raw(name, data_dir, offline=offline), val_fraction, split_seed)


def image_arrays(files: dict, dataset: str) -> tuple[dict[str, np.ndarray], dict]:
    """The prepared-cache arrays of an image dataset from its verified ``files``."""
    splits = split_images(dataset, read_raw(dataset, files))
    arrays = {name: getattr(splits, name) for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
    return arrays, {"num_classes": splits.num_classes}


def split_images(name: str, raw, val_fraction: float = 0.1, split_seed: int = 42) -> Splits:
    """Flatten, hold out the validation part and standardise ``raw`` (see load_raw)."""
    x_train, y_train, x_test, y_test = raw
    x_train = x_train.reshape(len(x_train), -1)
    x_test = x_test.reshape(len(x_test), -1)
    from sklearn.model_selection import train_test_split  # slow to import; see demo.py

    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=val_fraction, random_state=split_seed
    )
    mean, std = _scalar_mean_std(x_train)
    return Splits(
        x_train=_standardise(x_train, mean, std),
        y_train=y_train,
        x_val=_standardise(x_val, mean, std),
        y_val=y_val,
        x_test=_standardise(x_test, mean, std),
        y_test=y_test,
        num_classes=NUM_CLASSES[name],
        name=name,
    )


def _scalar_mean_std(x: np.ndarray) -> tuple[float, float]:
    # Exact, from a 256-bin histogram of the uint8 pixels: no float64 copy of the data.
    counts = np.bincount(x.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64)
    mean = counts @ values / counts.sum()
    std = np.sqrt(counts @ (values - mean) ** 2 / counts.sum())
    return float(mean), float(std)


def _standardise(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    out = x.astype(np.float32)
    out -= np.float32(mean)
    out /= np.float32(std)
    return out
