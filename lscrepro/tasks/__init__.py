"""Tasks: what a network learns from. A task gives its batches per split, its loss, its
metrics with their direction, and whether state carries across batches (see base.Task).

The registry maps a name to ``"module:Class"`` so that reading it (in the Snakefile,
where every millisecond of start-up counts) does not import torch.
"""

from __future__ import annotations

from typing import Any

from ..data.preparations import preparation
from ..workflow.entrypoints import entry_file, load

TASKS: dict[str, Any] = {
    "images": "lscrepro.tasks.images:ImageTask",
    "wordptb": "lscrepro.tasks.language:WordPTB",
    "heidelberg": "lscrepro.tasks.spikes:Heidelberg",
    "sl_mnist": "lscrepro.tasks.spikes:SpikeLatencyMNIST",
}


# The prepared data (lscrepro.data.preparations) a task reads, where the task name alone
# says it; images (mnist, cifar10, cifar100) name theirs in their config as `dataset`.
TASK_DATA: dict[str, str] = {"wordptb": "ptb", "heidelberg": "shd", "sl_mnist": "sl_mnist"}


def prepared_of(config: dict) -> str:
    """The prepared data a task config reads: its own `dataset`, else the task's in TASK_DATA."""
    if "dataset" in config:
        return config["dataset"]
    if config["name"] not in TASK_DATA:
        raise ValueError(f"task {config['name']!r} names no dataset: give it `dataset:` in the config "
                         "or an entry in lscrepro.tasks.TASK_DATA")
    return TASK_DATA[config["name"]]


def dataset_of(config: dict) -> str:
    """The dataset whose files a task config reads (sl_mnist: mnist)."""
    return preparation(prepared_of(config)).dataset


def task_files(names) -> list[str]:
    """Repo-relative files of the registered tasks ``names``: jobs import them by name,
    which an import graph cannot see, so the workflow adds them to the jobs' code."""
    return [path for name in names if name in TASKS for path in entry_file(TASKS[name])]


def register_task(name: str, task_class: Any) -> None:
    """Add a task class (or its ``"module:Class"`` path) under ``name``."""
    TASKS[name] = task_class


def task_class(name: str):
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    return load(TASKS[name])


def build_task(config: dict, data: dict, device):
    """The task named by ``config["name"]``, reading its data as ``data`` describes."""
    return task_class(config["name"]).from_config(config, data, device)
