"""Is the data the finished jobs read still the data they read? (status.py --verify)

Snakemake reruns nothing when a dataset file or a prepared cache changes behind its back
(a truncated copy, an edited array): its stamps are older than the jobs. This rehashes:
- every file of every dataset the config's jobs read (once fetched or read), against its
  pin (the registry's, or the demo data's registry.txt) and against the stamp
  fetch_dataset wrote when it verified it (results/data/<dataset>.json);
- every prepared cache those jobs read: its meta.json's sources against the same pins,
  and each array file against the shape, dtype and SHA-256 meta.json recorded (a cache
  prepared before the SHA-256 was recorded is checked for shape and dtype only).
- every finished pre-training's weights.pt against the SHA-256 its pretrain.json recorded
  (lscrepro.weights), listed with the finished training runs that loaded it.
Each mismatch is listed with the finished jobs that read that data; ``outputs_to_delete``
gives every output file of those jobs. Starts no job and imports no torch; the real
datasets take a few seconds to hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.preparations import preparation
from ..data.registry import DatasetError, file_digest, file_specs, pinned_sources
from ..weights import weights_problem
from .spec import FAMILIES, resolve_spec, train_runs
from .status import KINDS, run_status

FINISHED = ("done", "converged", "not_converged", "diverged")  # a job whose outputs exist
COLUMNS = ["path", "problem", "jobs", "used_by"]


def verify_data(config: dict, root: str | os.PathLike = ".", status: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per mismatch: the file or cache, what is wrong, how many finished jobs read
    it, and their output paths (';'-separated). ``status``: run_status's table, if the
    caller has it already."""
    root = Path(root)
    users = data_users(config, root, status)
    data_dir = root / config["data"]["dir"]
    rows = []
    for dataset, stamp in sorted({(key[1], key[2]) for key in users if key[0] == "dataset"}):
        jobs = users["dataset", dataset, stamp]
        if not jobs and not (root / stamp).is_file():
            continue  # neither fetched nor read yet: nothing to compare
        rows += [_row(path, problem, jobs) for path, problem in dataset_problems(dataset, data_dir, root / stamp)]
    for prepared, cache in sorted({(key[1], key[2]) for key in users if key[0] == "cache"}):
        jobs = users["cache", prepared, cache]
        rows += [_row(path, problem, jobs) for path, problem in cache_problems(prepared, root / cache, data_dir)]
    return pd.DataFrame(rows, columns=COLUMNS)


def verify_weights(config: dict, root: str | os.PathLike = ".", status: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per finished pre-training whose weights.pt differs from the SHA-256 in its
    pretrain.json; its users are that pre-training and the finished runs that loaded it."""
    root, rows = Path(root), []
    status = run_status(config, root) if status is None else status
    for name in [n for n in FAMILIES if n in config]:
        keys = FAMILIES[name].pretrain_keys
        jobs = status[status["family"] == name]
        loaders = _weight_loaders(name, config[name], jobs[jobs["kind"] == "train"], keys)
        for record in jobs[(jobs["kind"] == "pretrain") & jobs["state"].isin(FINISHED)].to_dict("records"):
            weights = Path(record["path"]).with_name("weights.pt")
            problem = weights_problem(root / weights)
            if problem:
                users = [record["path"], *loaders.get(tuple(record[k] for k in keys), [])]
                rows.append(_row(weights, problem.replace(str(root / weights), str(weights)), users))
    return pd.DataFrame(rows, columns=COLUMNS)


def _weight_loaders(name: str, section: dict, train: pd.DataFrame, keys: list[str]) -> dict[tuple, list[str]]:
    """{pretrain key: the finished training runs' report paths that loaded its weights}; the
    status rows of a family's training runs come in train_runs' order."""
    loaders: dict[tuple, list[str]] = {}
    for record, loads in zip(train.to_dict("records"), train_runs(name, section)["pretrained"]):
        if loads and record["state"] in FINISHED:
            loaders.setdefault(tuple(record[k] for k in keys), []).append(record["path"])
    return loaders


def outputs_to_delete(mismatches: pd.DataFrame) -> list[str]:
    """Every output file of every job in ``used_by`` (a job's report path stands for it):
    what to delete so that Snakemake reruns them."""
    outputs = {report: names for _, (report, *names), _ in KINDS.values()}
    paths = []
    for used_by in mismatches["used_by"]:
        for report in filter(None, used_by.split(";")):
            folder, _, name = report.rpartition("/")
            paths += [f"{folder}/{n}" for n in (name, *outputs.get(name, ()))]
    return list(dict.fromkeys(paths))


def _row(path: Path, problem: str, jobs: list[str]) -> dict:
    return {"path": str(path), "problem": problem, "jobs": len(jobs), "used_by": ";".join(jobs)}


def data_users(config: dict, root: Path, status: pd.DataFrame | None = None) -> dict[tuple, list[str]]:
    """{("dataset", name, stamp) or ("cache", name, folder): the finished jobs' report
    paths}, for every dataset and cache a job of the config reads (finished or not)."""
    users: dict[tuple, list[str]] = {}
    status = run_status(config, root) if status is None else status
    for name in [n for n in FAMILIES if n in config]:
        for kind in KINDS:
            rows = status[(status["family"] == name) & (status["kind"] == kind)]
            for record in rows.to_dict("records"):
                wildcards = {key: record[key] for key in _keys(name, kind)}
                data = resolve_spec(config, name, kind, wildcards)["data"]
                for key in (("dataset", data["dataset"], data["stamp"]),
                            ("cache", data["cache"].rpartition("/")[2], data["cache"])):
                    users.setdefault(key, [])
                    if record["state"] in FINISHED:
                        users[key].append(record["path"])
    return users


def _keys(name: str, kind: str) -> list[str]:
    family = FAMILIES[name]
    return family.pretrain_keys if kind == "pretrain" else family.run_keys


def dataset_problems(dataset: str, data_dir: Path, stamp: Path) -> list[tuple[Path, str]]:
    """(file, what is wrong) of each dataset file that differs from its pin or its stamp."""
    try:
        specs = file_specs(dataset, data_dir)
    except DatasetError as error:  # an unreadable registry.txt
        return [(data_dir, str(error))]
    recorded = _stamped(stamp)
    problems = []
    for spec in specs:
        path = data_dir / spec.filename
        if not path.is_file():
            problems.append((path, "missing"))
            continue
        actual = file_digest(path, spec.algorithm)
        if actual != spec.digest:
            origin = f"the demo pin in {data_dir / 'registry.txt'}" if spec.demo else f"pinned from {spec.source}"
            problems.append((path, f"{path.stat().st_size:,} bytes whose {spec.algorithm} {actual} differs "
                                   f"from its pin {spec.digest} ({origin})"))
        elif spec.filename in recorded and recorded[spec.filename] != spec.pinned:
            problems.append((path, f"matches its pin, but {stamp} recorded {recorded[spec.filename]} "
                                   "when fetch_dataset verified it: the pin changed since"))
    return problems


def _stamped(stamp: Path) -> dict[str, str]:
    try:
        return {name: str(entry["sha256"]) for name, entry in json.loads(stamp.read_text())["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no stamp yet: the pins alone


def cache_problems(prepared: str, cache: Path, data_dir: Path) -> list[tuple[Path, str]]:
    """(file, what is wrong) of a prepared cache whose sources or arrays changed."""
    meta_path = cache / "meta.json"
    if not meta_path.is_file():
        return []  # not prepared yet: nothing was read from it
    try:
        meta = json.loads(meta_path.read_text())
        arrays, sources = dict(meta["arrays"]), dict(meta["sources"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [(meta_path, f"unreadable ({type(error).__name__}: {error})")]
    problems = []
    expected = pinned_sources(preparation(prepared).dataset, data_dir)
    if sources != expected:
        problems.append((meta_path, f"made from {sources}, but the pins are now {expected}"))
    for name, entry in sorted(arrays.items()):
        problem = array_problem(cache / f"{name}.npy", entry)
        if problem:
            problems.append((cache / f"{name}.npy", problem))
    return problems


def array_problem(path: Path, entry: dict) -> str | None:
    """What differs between an array file and its meta.json entry, or None."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # reads the header only
    except (OSError, ValueError, EOFError) as error:
        return f"unreadable ({error})"
    actual = {"shape": list(array.shape), "dtype": array.dtype.str}
    if actual != {key: entry.get(key) for key in actual}:
        return f"holds {actual}, meta.json says {entry}"
    if "sha256" in entry and file_digest(path) != entry["sha256"]:
        return f"sha256 {file_digest(path)} differs from {entry['sha256']} recorded in meta.json"
    return None
