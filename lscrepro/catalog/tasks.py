"""Tasks: one entry per task class, in the order of Figure 3 and the deep-RNN table.

An entry names the class (``"module:Class"``, so reading it imports no torch), the families
whose config may name it, the prepared data it reads (lscrepro.catalog.datasets), its title,
and its headline metric: the one Figure 3 and the tables report, with its direction (the
task class's, which tests/test_catalog.py checks) and its title in tables."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskEntry:
    name: str
    task_class: object  # "module:Class" (or the class): Class.from_config(config, data, device)
    families: tuple[str, ...] = ()  # the families whose configs may name it
    # the prepared data it reads: one, or several of which its config picks one as `dataset`
    datasets: tuple[str, ...] = ()
    # prepared data only this task reads, declared with it ({name: Preparation}, as the
    # entries of lscrepro.catalog.datasets): a new task with a new dataset is one entry.
    # Their names join ``datasets``.
    data: dict = field(default_factory=dict)
    title: str = ""  # in tables and figures (default: the name)
    metric: str = ""  # the headline metric (empty: none)
    higher_is_better: bool = True  # the metric's direction
    metric_title: str = ""  # in Markdown tables (default: the metric's name), without its arrow
    metric_title_latex: str = ""  # in LaTeX tables (default: the Markdown one, escaped)

    def __post_init__(self):
        extra = tuple(name for name in self.data if name not in self.datasets)
        object.__setattr__(self, "datasets", self.datasets + extra)


TASKS: dict[str, TaskEntry] = {entry.name: entry for entry in (
    TaskEntry("images", "lscrepro.tasks.images:ImageTask", families=("ffn",),
              datasets=("mnist", "cifar10", "cifar100"), metric="accuracy"),
    TaskEntry("heidelberg", "lscrepro.tasks.spikes:Heidelberg", families=("rnn",), datasets=("shd",),
              title="SHD", metric="mode_accuracy", metric_title="accuracy (%)"),
    TaskEntry("sl_mnist", "lscrepro.tasks.spikes:SpikeLatencyMNIST", families=("rnn",), datasets=("sl_mnist",),
              title="sl-MNIST", metric="mode_accuracy", metric_title="accuracy (%)"),
    TaskEntry("wordptb", "lscrepro.tasks.language:WordPTB", families=("rnn", "lru"), datasets=("ptb",),
              title="PTB", metric="perplexity", higher_is_better=False, metric_title="perplexity"),
)}


def register_task(name: str, task_class, **fields) -> None:
    """Add a task (its class, or its ``"module:Class"``) under ``name``; ``fields`` as
    TaskEntry's (families, datasets, title, metric ...)."""
    TASKS[name] = TaskEntry(name, task_class, **fields)


def task_entry(name: str) -> TaskEntry:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]
