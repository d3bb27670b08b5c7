"""Networks: one entry per model, each built from a config mapping and the task's sizes.

An entry names its builder as ``"module:function"``: a job imports only the model it builds,
and the workflow reruns a family's jobs only when its own model's code changes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: object  # "module:function" (or the function): builder(config, dims, seed) -> nn.Module
    families: tuple[str, ...] = ()  # the families whose configs may name it


MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in (
    ModelEntry("dense", "lscrepro.models.dense:build", ("ffn",)),  # Figure 2's dense stack
    ModelEntry("rnn", "lscrepro.models.rnn:build", ("rnn",)),  # Figure 3's deep RNNs
    ModelEntry("lru", "lscrepro.models.lru:build", ("lru",)),  # the residual LRU stack (reslruffn)
)}


def register_model(name: str, builder, families: tuple[str, ...] = ()) -> None:
    """Add a builder ``(config, dims, seed) -> nn.Module`` (or its ``"module:function"``)."""
    MODELS[name] = ModelEntry(name, builder, tuple(families))


def model_entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(MODELS))}")
    return MODELS[name]
