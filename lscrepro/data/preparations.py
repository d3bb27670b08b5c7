"""What a prepared cache is made from: its dataset's files and the function that turns
them into arrays. A task reads one preparation (sl_mnist: latencies from the mnist
files; images: the standardised pixels of mnist, cifar10 or cifar100).

Plain strings only: the Snakefile reads this at parse time, before torch or the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preparation:
    dataset: str  # whose verified files it reads (lscrepro.data.registry.DATASETS)
    # "module:function", called as function(files, **options) -> (arrays, info)
    function: str
    options: dict = field(default_factory=dict)
    # the sizes the real dataset's preparation records in its info (with in_features for
    # images): what describe.py builds a model with where no cache has been prepared yet
    canonical_info: dict = field(default_factory=dict)
    # the real dataset's split sizes, in `unit`: what the dry run checks batch sizes against
    # where no cache has been prepared yet (lscrepro/workflow/sizecheck.py)
    canonical_sizes: dict = field(default_factory=dict)
    unit: str = "samples"  # "tokens": a split is one token stream (PTB)


_IMAGE_SIZES = {"mnist": (784, 10), "cifar10": (3072, 10), "cifar100": (3072, 100)}
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
                         {"in_features": features, "num_classes": classes}, _sizes(name))
       for name, (features, classes) in _IMAGE_SIZES.items()},
    "ptb": Preparation("ptb", "lscrepro.data.ptb:prepare_arrays", canonical_info={"vocab_size": 10000},
                       canonical_sizes=_sizes("ptb"), unit="tokens"),
    "shd": Preparation("shd", "lscrepro.data.shd:prepare_arrays",
                       canonical_info={"channels": 700, "num_classes": 20, "steps": 250},
                       canonical_sizes=_sizes("shd")),
    "sl_mnist": Preparation("mnist", "lscrepro.data.latency:prepare_arrays",
                            canonical_info={"channels": 784, "num_classes": 10, "steps": 100},
                            canonical_sizes=_sizes("sl_mnist")),
}


def preparation(name: str) -> Preparation:
    if name not in PREPARATIONS:
        raise ValueError(f"unknown prepared dataset {name!r}; known: {', '.join(sorted(PREPARATIONS))}")
    return PREPARATIONS[name]


def preparation_files() -> list[str]:
    """Repo-relative modules of the preparation functions (imported by name, which an
    import graph cannot see): code inputs of the prepare rule."""
    return sorted({entry.function.partition(":")[0].replace(".", "/") + ".py"
                   for entry in PREPARATIONS.values()})
