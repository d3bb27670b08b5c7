"""Tasks: what a network learns from. A task gives its batches per split, its loss, its
metrics with their direction, and whether state carries across batches (see base.Task).

The entries (lscrepro.catalog.tasks) name each class as ``"module:Class"`` so that reading
them (in the Snakefile, where every millisecond of start-up counts) does not import torch.
"""

from __future__ import annotations

from ..catalog.datasets import preparation
from ..catalog.entrypoints import entry_file, load
from ..catalog.tasks import TASKS, register_task, task_entry

__all__ = ["TASKS", "build_task", "dataset_of", "prepared_of", "register_task", "task_class", "task_files"]


def prepared_of(config: dict) -> str:
    """The prepared data a task config reads: its own `dataset`, else the task's one dataset."""
    if "dataset" in config:
        return config["dataset"]
    datasets = task_entry(config["name"]).datasets
    if len(datasets) != 1:
        choices = f"one of {', '.join(datasets)}" if datasets else "a prepared dataset"
        raise ValueError(f"task {config['name']!r} names no dataset: give it `dataset:` ({choices}) in the "
                         "config, or one dataset in its entry in lscrepro.catalog.tasks")
    return datasets[0]


def dataset_of(config: dict) -> str:
    """The dataset whose files a task config reads (sl_mnist: mnist)."""
    return preparation(prepared_of(config)).dataset


def task_files(names) -> list[str]:
    """Repo-relative files of the registered tasks ``names``: jobs import them by name,
    which an import graph cannot see, so the workflow adds them to the jobs' code."""
    return [path for name in names if name in TASKS for path in entry_file(TASKS[name].task_class)]


def task_class(name: str):
    return load(task_entry(name).task_class)


def build_task(config: dict, data: dict, device):
    """The task named by ``config["name"]``, reading its data as ``data`` describes."""
    return task_class(config["name"]).from_config(config, data, device)
