"""Networks, each built from a config mapping and the task's sizes (``dims``).

The entries (lscrepro.catalog.models) name each builder as ``"module:function"``: a job
imports only the model it builds, and the workflow reruns a family's jobs only when its own
model's code changes (see lscrepro.catalog.entrypoints)."""

from __future__ import annotations

from ..catalog.entrypoints import entry_file, load
from ..catalog.models import MODELS, model_entry, register_model

__all__ = ["MODELS", "build_model", "model_files", "register_model"]


def build_model(config: dict, dims: dict, seed: int):
    """The model named by ``config["name"]``."""
    return load(model_entry(config["name"]).builder)(config, dims, seed)


def model_files(names) -> list[str]:
    """Repo-relative files of the registered models ``names`` (code inputs of their jobs)."""
    return [path for name in names if name in MODELS for path in entry_file(MODELS[name].builder)]
