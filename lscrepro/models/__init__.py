"""Networks, each built from a config mapping and the task's sizes (``dims``).

The registry maps a name to its builder as ``"module:function"``: a job imports only
the model it builds, and the workflow reruns a family's jobs only when its own model's
code changes (see lscrepro.workflow.entrypoints)."""

from __future__ import annotations

from typing import Any

from ..workflow.entrypoints import entry_file, load

MODELS: dict[str, Any] = {
    "dense": "lscrepro.models.dense:build",  # Figure 2's dense stack
    "rnn": "lscrepro.models.rnn:build",  # Figure 3's deep RNNs
    "lru": "lscrepro.models.lru:build",  # the residual LRU stack (reslruffn)
}


def register_model(name: str, builder: Any) -> None:
    """Add a builder ``(config, dims, seed) -> nn.Module`` (or its ``"module:function"``)."""
    MODELS[name] = builder


def build_model(config: dict, dims: dict, seed: int):
    """The model named by ``config["name"]``."""
    if config["name"] not in MODELS:
        raise ValueError(f"unknown model {config['name']!r}; registered models: {', '.join(sorted(MODELS))}")
    return load(MODELS[config["name"]])(config, dims, seed)


def model_files(names) -> list[str]:
    """Repo-relative files of the registered models ``names`` (code inputs of their jobs)."""
    return [path for name in names if name in MODELS for path in entry_file(MODELS[name])]
