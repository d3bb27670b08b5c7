"""Tidy tables of any family's runs.

``summary`` reads every training run's metrics.json (nested run / settings / result)
and joins the pretrain.json of the pre-training it started from: one row per run
(summary.csv). Each figure keeps its own reducer of that table (``fig2_table``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import pandas as pd

from lscrepro.io import read_json

PathLike = str | os.PathLike

# pretrain.json field -> summary column; every family's LSC reports these
PRETRAIN_COLUMNS = {
    "result.radius_before_mean": "lsc_radius_before",
    "result.radius_after_mean": "lsc_radius_after",
    "settings.lsc.target": "lsc_target",
    "result.steps": "lsc_steps",
    "result.status": "lsc_status",
    "result.seconds": "pretrain_seconds",
    "result.environment.git_commit": "pretrain_git_commit",
}
OPTIONAL = {"result.environment.git_commit"}  # provenance of older reports may lack it
FIGURE2_KEYS = ["dataset", "activation", "variant", "lr"]


def _record(path: PathLike, required: Iterable[str]) -> dict:
    try:
        record = read_json(path)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in required if not isinstance(record.get(key), dict)]
    if missing:
        raise ValueError(f"{path} lacks the sections {missing} (a run / settings / result JSON)")
    return record


REQUIRED_RESULT = ["status", "test"]


def _run_row(path: PathLike, run_keys: list[str]) -> dict:
    """run keys, then the result's scalars, its val/test metrics as val_*/test_* and its
    provenance as environment_*."""
    record = _record(path, ["run", "result"])
    missing = [f"run.{k}" for k in run_keys if k not in record["run"]]
    missing += [f"result.{k}" for k in REQUIRED_RESULT if k not in record["result"]]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    result = record["result"]
    clash = sorted(set(record["run"]) & set(result))
    if clash:
        raise ValueError(f"{path}: keys {clash} are in both run and result")
    flat = pd.json_normalize({**record["run"], **result}, sep="_").iloc[0].to_dict()
    return {k: v for k, v in flat.items() if not isinstance(v, (list, dict))}


def _pretrain_row(path: PathLike, keys: list[str]) -> dict:
    record = _record(path, ["run", "settings", "result"])
    flat = pd.json_normalize(record).iloc[0].to_dict()
    missing = [f"run.{k}" for k in keys if f"run.{k}" not in flat]
    missing += [field for field in PRETRAIN_COLUMNS if field not in flat and field not in OPTIONAL]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return {**{k: flat[f"run.{k}"] for k in keys},
            **{column: flat.get(field) for field, column in PRETRAIN_COLUMNS.items()}}


def _refuse_duplicates(frame: pd.DataFrame, paths: list[PathLike], keys: list[str], what: str) -> None:
    """Two files for the same keys would double-count."""
    if frame.empty:
        return
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        clashing = [str(path) for path, dup in zip(paths, duplicated) if dup]
        raise ValueError(f"{what} files share {keys}: {clashing}")


def summary(metrics_paths: Iterable[PathLike], pretrain_paths: Iterable[PathLike],
            run_keys: list[str], pretrain_keys: list[str]) -> pd.DataFrame:
    """One row per training run, sorted by ``run_keys``, with its pre-training (if any)
    joined on ``pretrain_keys`` (the run keys a pre-training depends on).

    Raises ValueError naming the file when one lacks a required key, and when two
    files describe the same run or the same pre-training."""
    metrics_paths, pretrain_paths = list(metrics_paths), list(pretrain_paths)
    runs = pd.DataFrame([_run_row(p, run_keys) for p in metrics_paths])
    _refuse_duplicates(runs, metrics_paths, run_keys, "metrics")
    pretrain = pd.DataFrame([_pretrain_row(p, pretrain_keys) for p in pretrain_paths],
                            columns=[*pretrain_keys, *PRETRAIN_COLUMNS.values()])
    _refuse_duplicates(pretrain, pretrain_paths, pretrain_keys, "pretrain")
    if runs.empty:
        return pd.DataFrame(columns=[*run_keys, *PRETRAIN_COLUMNS.values()])
    pretrain = pretrain.astype({k: runs[k].dtype for k in pretrain_keys})
    table = runs.merge(pretrain, on=pretrain_keys, how="left", validate="many_to_one")
    columns = [*run_keys, *(c for c in table.columns if c not in run_keys)]
    return table[columns].sort_values(run_keys, ignore_index=True)


def fig2_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of test_accuracy over seeds per (dataset, activation,
    variant, lr): what Figure 2 draws.

    Every run counts, diverged ones included, as in the reference; n counts the runs with a
    recorded accuracy (a NaN accuracy is skipped by mean and std alike). One run gives std NaN.
    """
    missing = set(FIGURE2_KEYS + ["test_accuracy"]) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    accuracy = summary.groupby(FIGURE2_KEYS, sort=True)["test_accuracy"]
    table = accuracy.agg(test_accuracy_mean="mean", test_accuracy_std="std", n="count")
    return table.reset_index()
