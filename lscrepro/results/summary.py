"""summary.csv, one family's runs in one table: every training run's metrics.json (nested run /
settings / result, and the top-level scalars of TOP_LEVEL_FIELDS) joined with the pretrain.json
of the pre-training it started from (and its verdict, lsc_verdict, from lscrepro.verdicts), one
row per run; and ``read_histories``, the history.csv
beside each run's metrics.json, for the outputs that need every epoch (Figures 3 and 4).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from lscrepro.io import read_json, write_csv
from lscrepro.verdicts import judge_pretraining
from lscrepro.workflow.spec import FAMILIES

log = logging.getLogger("summarize")

PathLike = str | os.PathLike

# pretrain.json field -> summary column; every family's LSC reports these
PRETRAIN_COLUMNS = {
    "result.radius_before_mean": "lsc_radius_before",
    "result.radius_after_mean": "lsc_radius_after",
    "settings.lsc.target": "lsc_target",
    "result.steps": "lsc_steps",
    "result.selected_step": "lsc_selected_step",  # 0: the pre-training kept its initial weights
    "result.status": "lsc_status",
    "resolved.lsc.tolerance": "lsc_tolerance",
    "result.seconds": "pretrain_seconds",
    "result.environment.git_commit": "pretrain_git_commit",
}
OPTIONAL = {"result.environment.git_commit"}  # provenance of older reports may lack it


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
# optional top-level scalars of a metrics.json that become summary columns of the same name
# (parameters: the trained model's parameter count); a file without one leaves it NaN
TOP_LEVEL_FIELDS = ["parameters", "evaluation"]


def _run_row(path: PathLike, run_keys: list[str]) -> dict:
    """run keys, then the result's scalars, its val/test metrics as val_*/test_* and its
    provenance as environment_*, then the TOP_LEVEL_FIELDS the file has."""
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
    row = {k: v for k, v in flat.items() if not isinstance(v, (list, dict))}
    top = {k: record[k] for k in TOP_LEVEL_FIELDS if k in record}
    nested = sorted(k for k, v in top.items() if isinstance(v, (list, dict)))
    if nested:
        raise ValueError(f"{path}: top-level {nested} should be scalars")
    clash = sorted(set(top) & set(row))
    if clash:
        raise ValueError(f"{path}: keys {clash} are both top-level and in run or result")
    return {**row, **top}


def _pretrain_row(path: PathLike, keys: list[str]) -> dict:
    record = _record(path, ["run", "settings", "result"])
    flat = pd.json_normalize(record).iloc[0].to_dict()
    missing = [f"run.{k}" for k in keys if f"run.{k}" not in flat]
    missing += [field for field in PRETRAIN_COLUMNS if field not in flat and field not in OPTIONAL]
    if missing:
        raise ValueError(f"{path} lacks required keys {missing}")
    return {**{k: flat[f"run.{k}"] for k in keys},
            **{column: flat.get(field) for field, column in PRETRAIN_COLUMNS.items()},
            "lsc_verdict": judge_pretraining(record).state}  # as the status table and the claims


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
                            columns=[*pretrain_keys, *PRETRAIN_COLUMNS.values(), "lsc_verdict"])
    _refuse_duplicates(pretrain, pretrain_paths, pretrain_keys, "pretrain")
    if runs.empty:
        return pd.DataFrame(columns=[*run_keys, *PRETRAIN_COLUMNS.values(), "lsc_verdict"])
    pretrain = pretrain.astype({k: runs[k].dtype for k in pretrain_keys})
    table = runs.merge(pretrain, on=pretrain_keys, how="left", validate="many_to_one")
    columns = [*run_keys, *(c for c in table.columns if c not in run_keys)]
    return table[columns].sort_values(run_keys, ignore_index=True)


def write_summary(family: str, metrics: list[PathLike], pretrain: list[PathLike], out: PathLike) -> None:
    """summary.csv of ``family`` (a name of lscrepro.workflow.spec.FAMILIES) from its runs' files."""
    spec = FAMILIES[family]
    table = summary(metrics, pretrain, spec.run_keys, spec.pretrain_keys)
    write_csv(out, table)
    log.info("wrote %s: %d runs, %d from a pre-training", out, len(table),
             table["lsc_radius_after"].notna().sum())


def read_history(path: Path) -> pd.DataFrame:
    """A history.csv; empty for a run that diverged before its first epoch ended (zero bytes)."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def read_histories(metrics_paths: Iterable[PathLike], keys: list[str], canonical: Callable = tuple,
                   keep: Callable[[tuple], bool] = lambda key: True) -> dict[tuple, pd.DataFrame]:
    """``canonical``(the run's ``keys`` from each metrics.json) -> its sibling history.csv, for
    the runs whose key ``keep`` accepts (the others are not read further). A missing run key,
    a missing history.csv or a second file for one run is a ValueError naming the path."""
    histories, sources = {}, {}
    for path in map(Path, metrics_paths):
        run = read_json(path).get("run", {})
        missing = [k for k in keys if k not in run]
        if missing:
            raise ValueError(f"{path} lacks run keys {missing}")
        key = canonical(tuple(run[k] for k in keys))
        if not keep(key):
            continue
        if key in histories:
            raise ValueError(f"{path}: a second metrics.json for the run {key} (first: {sources[key]})")
        history = path.parent / "history.csv"
        if not history.exists():
            raise ValueError(f"{path} has no history.csv next to it ({history})")
        histories[key], sources[key] = read_history(history), path
    return histories
