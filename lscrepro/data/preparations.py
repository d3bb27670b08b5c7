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


_IMAGE_SIZES = {"mnist": (784, 10), "cifar10": (3072, 10), "cifar100": (3072, 100)}
PREPARATIONS: dict[str, Preparation] = {
    **{name: Preparation(name, "lscrepro.data.splits:image_arrays", {"dataset": name},
                         {"in_features": features, "num_classes": classes})
       for name, (features, classes) in _IMAGE_SIZES.items()},
    "ptb": Preparation("ptb", "lscrepro.data.ptb:prepare_arrays", canonical_info={"vocab_size": 10000}),
    "shd": Preparation("shd", "lscrepro.data.shd:prepare_arrays",
                       canonical_info={"channels": 700, "num_classes": 20, "steps": 250}),
    "sl_mnist": Preparation("mnist", "lscrepro.data.latency:prepare_arrays",
                            canonical_info={"channels": 784, "num_classes": 10, "steps": 100}),
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
