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


PREPARATIONS: dict[str, Preparation] = {
    **{name: Preparation(name, "lscrepro.data.splits:image_arrays", {"dataset": name})
       for name in ("mnist", "cifar10", "cifar100")},
    "ptb": Preparation("ptb", "lscrepro.data.ptb:prepare_arrays"),
    "shd": Preparation("shd", "lscrepro.data.shd:prepare_arrays"),
    "sl_mnist": Preparation("mnist", "lscrepro.data.latency:prepare_arrays"),
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
