"""Tidy tables of the Figure 2 runs.

``ffn_summary`` joins every training run's metrics.json with the report of the LSC
pre-training it started from (one row per run: summary.csv); ``ffn_figure_table`` reduces
that to the per-learning-rate statistics over seeds that Figure 2 draws (fig2_data.csv).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from lscrepro.io import read_json

PathLike = str | os.PathLike

RUN_KEYS = ["dataset", "activation", "variant", "lr", "seed"]
PRETRAIN_KEYS = ["dataset", "activation", "variant", "seed"]
FIGURE_KEYS = ["dataset", "activation", "variant", "lr"]
LSC_COLUMNS = ["lsc_radius_before", "lsc_radius_after", "lsc_target", "lsc_steps", "pretrain_seconds"]
SUMMARY_COLUMNS = [
    "dataset", "activation", "variant", "lr", "seed", "status", "test_accuracy", "test_loss",
    "best_epoch", "epochs_run", "lsc_radius_before", "lsc_radius_after", "lsc_target", "lsc_steps",
    "seconds", "pretrain_seconds",
]
FIGURE_COLUMNS = [*FIGURE_KEYS, "test_accuracy_mean", "test_accuracy_std", "n"]


def _float(value: Any) -> float:
    # null is how a NaN reads back if a writer ever used allow_nan=False
    return math.nan if value is None else float(value)


# metrics.json key -> conversion; the summary keeps these under the same names
METRIC_FIELDS: dict[str, Callable[[Any], Any]] = {
    "dataset": str, "activation": str, "variant": str, "lr": float, "seed": int, "status": str,
    "test_accuracy": _float, "test_loss": _float, "best_epoch": int, "epochs_run": int,
    "seconds": float,
}
# pretrain.json key -> (summary column, conversion); settings.target is read separately
PRETRAIN_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "dataset": ("dataset", str), "activation": ("activation", str), "seed": ("seed", int),
    "radius_before_mean": ("lsc_radius_before", _float),
    "radius_after_mean": ("lsc_radius_after", _float),
    "steps": ("lsc_steps", float),  # float: the column is NaN on rows without pre-training
    "seconds": ("pretrain_seconds", float),
}


DTYPES = {str: "str", int: "int64", float: "float64", _float: "float64"}


def _read_record(path: PathLike, required: Iterable[str]) -> dict:
    try:
        record = read_json(path)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in required if key not in record]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return record


def _convert(path: PathLike, key: str, value: Any, cast: Callable[[Any], Any]) -> Any:
    try:
        return cast(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: key {key!r} has unusable value {value!r}") from error


def _metrics_row(path: PathLike) -> dict:
    record = _read_record(path, METRIC_FIELDS)
    return {key: _convert(path, key, record[key], cast) for key, cast in METRIC_FIELDS.items()}


def _pretrain_row(path: PathLike) -> dict:
    record = _read_record(path, [*PRETRAIN_FIELDS, "settings"])
    row = {column: _convert(path, key, record[key], cast)
           for key, (column, cast) in PRETRAIN_FIELDS.items()}
    settings = record["settings"]
    if not isinstance(settings, dict) or "target" not in settings:
        raise ValueError(f"{path} lacks required key 'settings.target'")
    row["lsc_target"] = _convert(path, "settings.target", settings["target"], _float)
    row["variant"] = _pretrain_variant(path, record, row["seed"])
    return row


def _pretrain_variant(path: PathLike, record: dict, seed: int) -> str:
    """The variant a report belongs to: its own key, else the folder above seed{seed}/.

    The pre-training report does not store its variant; the workflow writes it to
    .../{variant}/seed{seed}/pretrain.json, so only trust the folder name in that layout.
    """
    if "variant" in record:
        return str(record["variant"])
    seed_dir = Path(path).parent
    if seed_dir.name != f"seed{seed}":
        raise ValueError(f"{path}: no 'variant' key and not in a .../{{variant}}/seed{seed}/ folder")
    return seed_dir.parent.name


def _frame(rows: list[dict], paths: list[PathLike], keys: list[str], columns: list[str],
           what: str) -> pd.DataFrame:
    """Rows as a frame; two files for the same keys would double-count, so refuse them."""
    frame = pd.DataFrame(rows, columns=columns)
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        clashing = [str(path) for path, dup in zip(paths, duplicated) if dup]
        raise ValueError(f"{what} files share {keys}: {clashing}")
    return frame


def ffn_summary(metrics_paths: Iterable[PathLike], pretrain_paths: Iterable[PathLike] = ()) -> pd.DataFrame:
    """One row per training run, with its pre-training (if any) joined on
    (dataset, activation, variant, seed); columns SUMMARY_COLUMNS, sorted by RUN_KEYS.

    Raises ValueError naming the file when a metrics or pretrain file lacks a required key,
    and when two files describe the same run or the same pre-training.
    """
    metrics_paths, pretrain_paths = list(metrics_paths), list(pretrain_paths)
    runs = _frame([_metrics_row(p) for p in metrics_paths], metrics_paths, RUN_KEYS,
                  list(METRIC_FIELDS), "metrics")
    pretrain = _frame([_pretrain_row(p) for p in pretrain_paths], pretrain_paths, PRETRAIN_KEYS,
                      PRETRAIN_KEYS + LSC_COLUMNS, "pretrain")
    # fixed dtypes, also for empty inputs (which come out as object columns), so that the
    # merge keys match and the table's types do not depend on how many files there were
    runs = runs.astype({key: DTYPES[cast] for key, cast in METRIC_FIELDS.items()})
    pretrain = pretrain.astype({"variant": "str", "lsc_target": "float64"}
                               | {column: DTYPES[cast] for column, cast in PRETRAIN_FIELDS.values()})
    summary = runs.merge(pretrain, on=PRETRAIN_KEYS, how="left", validate="many_to_one")
    return summary[SUMMARY_COLUMNS].sort_values(RUN_KEYS, ignore_index=True)


def ffn_figure_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of test_accuracy over seeds per (dataset, activation,
    variant, lr): what Figure 2 draws.

    Every run counts, diverged ones included, as in the reference; n counts the runs with a
    recorded accuracy (a NaN accuracy is skipped by mean and std alike). One run gives std NaN.
    """
    missing = set(FIGURE_KEYS + ["test_accuracy"]) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    accuracy = summary.groupby(FIGURE_KEYS, sort=True)["test_accuracy"]
    table = accuracy.agg(test_accuracy_mean="mean", test_accuracy_std="std", n="count")
    return table.reset_index()[FIGURE_COLUMNS]
