"""Expand the config's grids into run tables: one row per job, readable path keys."""

from __future__ import annotations

import itertools

import pandas as pd


def lr_tag(lr: float) -> str:
    """How a learning rate appears in paths: 0.01, 0.00316, 3.16e-05, ..."""
    return f"{lr:g}"


def variants_by_name(ffn: dict) -> dict[str, dict]:
    """The config lists variants (so a --configfile replaces them wholesale); jobs
    look them up by name. Duplicate names would make two jobs write one path."""
    names = [v["name"] for v in ffn["variants"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"ffn.variants: duplicate variant names {duplicates}; names must be unique")
    return {v["name"]: v for v in ffn["variants"]}


def ffn_train_runs(ffn: dict) -> pd.DataFrame:
    """One row per train_ffn job: dataset x activation x variant x lr x seed."""
    rows = []
    for dataset, activation, (variant, spec), lr, seed in itertools.product(
            ffn["datasets"], ffn["activations"], variants_by_name(ffn).items(),
            ffn["learning_rates"], ffn["seeds"]):
        rows.append({"dataset": dataset, "activation": activation, "variant": variant,
                     "lr": float(lr), "lr_tag": lr_tag(lr), "seed": int(seed),
                     "pretrained": bool(spec.get("lsc", False))})
    return pd.DataFrame(rows)


def ffn_pretrain_runs(ffn: dict) -> pd.DataFrame:
    """One row per pretrain_ffn job. Pre-training does not depend on the learning rate,
    so every learning rate of a (dataset, activation, variant, seed) shares one job."""
    runs = ffn_train_runs(ffn)
    keys = ["dataset", "activation", "variant", "seed"]
    return runs[runs["pretrained"]][keys].drop_duplicates().reset_index(drop=True)
