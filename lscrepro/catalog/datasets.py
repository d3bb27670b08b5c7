"""Prepared data: one entry per prepared cache, in the order of Figure 2. An entry names
the dataset whose verified files it reads (their pins: lscrepro.data.registry.DATASETS),
the function that turns them into arrays, the sizes the real data has, its title, and the
maker of the dataset's demo files (on the entry named as the dataset: sl_mnist reads
mnist's). A task reads one preparation (sl_mnist: latencies from the mnist files; images:
the standardised pixels of mnist, cifar10 or cifar100).

Plain strings only: the Snakefile reads this at parse time, before torch or the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .tasks import TASKS


@dataclass(frozen=True)
class Preparation:
    dataset: str  # whose verified files it reads (lscrepro.data.registry.DATASETS)
    # "module:function" (or the function), called as function(files, **options) -> (arrays, info)
    function: str
    options: dict = field(default_factory=dict)
    # the sizes the real dataset's preparation records in its info (with in_features for
    # images): what describe.py builds a model with where no cache has been prepared yet
    canonical_info: dict = field(default_factory=dict)
    # the real dataset's split sizes, in `unit`: what the dry run checks batch sizes against
    # where no cache has been prepared yet (lscrepro/workflow/sizecheck.py)
    canonical_sizes: dict = field(default_factory=dict)
    unit: str = "samples"  # "tokens": a split is one token stream (PTB)
    title: str = ""  # in figures (default: the name)
    # "module:function" (or the function) writing the dataset's files under their canonical
    # names from a seed, function(data_dir) (lscrepro.data.demo); "" where another entry makes them
    demo: str = ""


_IMAGE_SIZES = {"mnist": (784, 10), "cifar10": (3072, 10), "cifar100": (3072, 100)}
_IMAGE_TITLES = {"mnist": "MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
# Split sizes of the real files: images hold out 10% of the official training set
# (splits.split_images: 60,000 -> 54,000 + 6,000; 50,000 -> 45,000 + 5,000); PTB's token
# counts, the newline token included (ptb.read_ptb); SHD's first 95% of shd_train's 8,156
# samples (shd.reference_splits) and all 2,264 of shd_test; sl-MNIST the first 80% of
# MNIST's training set (latency.TRAIN_SPLIT).
_SPLITS = {"mnist": (54000, 6000, 10000), "cifar10": (45000, 5000, 10000), "cifar100": (45000, 5000, 10000),
           "ptb": (929589, 73760, 82430), "shd": (7748, 408, 2264), "sl_mnist": (48000, 12000, 10000)}


def _sizes(name: str) -> dict[str, int]:
    return dict(zip(("train", "val", "test"), _SPLITS[name]))


PREPARATIONS: dict[str, Preparation] = {
    **{name: Preparation(name, "lscrepro.data.splits:image_arrays", {"dataset": name},
                         {"in_features": features, "num_classes": classes}, _sizes(name),
                         title=_IMAGE_TITLES[name], demo=f"lscrepro.data.demo:write_{name}")
       for name, (features, classes) in _IMAGE_SIZES.items()},
    "ptb": Preparation("ptb", "lscrepro.data.ptb:prepare_arrays", canonical_info={"vocab_size": 10000},
                       canonical_sizes=_sizes("ptb"), unit="tokens", title="PTB",
                       demo="lscrepro.data.ptb:write_demo"),
    "shd": Preparation("shd", "lscrepro.data.shd:prepare_arrays",
                       canonical_info={"channels": 700, "num_classes": 20, "steps": 250},
                       canonical_sizes=_sizes("shd"), title="SHD", demo="lscrepro.data.shd:write_demo"),
    "sl_mnist": Preparation("mnist", "lscrepro.data.latency:prepare_arrays",
                            canonical_info={"channels": 784, "num_classes": 10, "steps": 100},
                            canonical_sizes=_sizes("sl_mnist"), title="sl-MNIST"),
}


def prepared_entries() -> dict[str, Preparation]:
    """Every prepared data: this module's entries, then those declared with their task
    (TaskEntry.data), in catalog order."""
    return {**PREPARATIONS, **{name: entry for task in TASKS.values() for name, entry in task.data.items()}}


def register_preparation(name: str, preparation: Preparation) -> None:
    """Add prepared data under ``name`` (its dataset's file pins go in
    lscrepro.data.registry.DATASETS)."""
    PREPARATIONS[name] = preparation


def preparation(name: str) -> Preparation:
    entries = prepared_entries()
    if name not in entries:
        raise ValueError(f"unknown prepared dataset {name!r}; known: {', '.join(sorted(entries))}")
    return entries[name]


def demo_makers() -> dict[str, str]:
    """{dataset: its demo-data maker}, one per dataset whose files some entry reads."""
    return {entry.dataset: entry.demo for entry in prepared_entries().values() if entry.demo}
