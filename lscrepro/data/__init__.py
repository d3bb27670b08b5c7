"""Dataset files and splits: pinned registry, canonical readers/writers, demo data, loaders."""

from lscrepro.data.demo import write_demo_data
from lscrepro.data.formats import FormatError, read_cifar, read_idx, write_cifar, write_idx
from lscrepro.data.registry import DATASETS, DatasetError, FileSpec, ensure_files, file_specs, sha256_file
from lscrepro.data.splits import NUM_CLASSES, Splits, load_dataset, load_raw

__all__ = [
    "DATASETS",
    "DatasetError",
    "FileSpec",
    "FormatError",
    "NUM_CLASSES",
    "Splits",
    "ensure_files",
    "file_specs",
    "load_dataset",
    "load_raw",
    "read_cifar",
    "read_idx",
    "sha256_file",
    "write_cifar",
    "write_demo_data",
    "write_idx",
]
