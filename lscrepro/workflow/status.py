"""Where the grid stands: one row per job, read from the files the jobs leave behind
(outputs, logs, checkpoints). Starts no job and imports no torch or Snakemake, so that it
takes seconds on the full grid.

States:
    done           training finished (metrics.json: completed, early_stopped or time_limit)
    converged      pre-training finished, reported converged and its radii within tolerance of
                   their targets (lscrepro.verdicts.judge_pretraining, which the summaries and
                   the claims use too); one that handed back its initial weights says so in its
                   detail, and the counts have a column kept_initial for them
    not_converged  pre-training finished otherwise (the detail says which test failed)
    diverged       the job's report says diverged
    failed         a log and no output (and no checkpoint)
    incomplete     a checkpoint.pt and no output (running or interrupted), or partial outputs
    not_run        nothing yet
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from ..catalog.families import JOB_KINDS
from ..verdicts import RunVerdict, judge_pretraining
from .outputs import final_outputs
from .spec import FAMILIES, output_roots, pretrain_runs, train_runs

STATES = ["done", "converged", "not_converged", "diverged", "failed", "incomplete", "not_run"]

# Per job kind (lscrepro.catalog.families): the family's folder pattern, its outputs (the
# report first) and its log, as rules/jobs.smk writes them.
KINDS = {kind: (job.folder, tuple(job.outputs.values()), job.log) for kind, job in JOB_KINDS.items()}



def merge(base: dict, update: dict) -> dict:
    """Snakemake's config merge: mappings merged recursively, anything else replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(configfiles: list[str], base: str | os.PathLike = "config/config.yaml") -> dict:
    """The config a `snakemake --configfile F ...` run sees: ``base`` (the Snakefile's
    configfile), then each file in order."""
    config: dict = {}
    for path in [base, *configfiles]:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a config file must hold a mapping, not {type(loaded).__name__}")
        config = merge(config, loaded)
    return config


def run_status(config: dict, root: str | os.PathLike = ".") -> pd.DataFrame:
    """One row per job of every family in ``config``, then one per figure: family, kind
    (pretrain, train or figure), the run keys (path tags), path, state, detail."""
    root = Path(root)
    rows, keys = [], []
    for name in [n for n in FAMILIES if n in config]:
        family = FAMILIES[name]
        roots = output_roots(config)
        pretrain = _job_rows(root, roots, name, "pretrain", pretrain_runs(name, config[name]))
        train = _job_rows(root, roots, name, "train", train_runs(name, config[name]))
        _note_waiting(train, pretrain, family.pretrain_keys)
        rows += pretrain + train
        keys += [k for k in family.run_keys if k not in keys]
    rows += _figure_rows(root, config)
    columns = ["family", "kind", *keys, "path", "state", "detail", "kept_initial"]
    return pd.DataFrame(rows, columns=columns)


def _job_rows(root: Path, roots: tuple[str, str], name: str, kind: str, runs: pd.DataFrame) -> list[dict]:
    pattern_attr, outputs, log_name = KINDS[kind]
    pattern = getattr(FAMILIES[name], pattern_attr)
    rows = []
    for record in runs.to_dict("records"):
        pretrained = record.pop("pretrained", False)
        tags = {key: str(value) for key, value in record.items()}
        folder = pattern.format(**tags)
        out_dir = f"{roots[0]}/{name}/{folder}"
        verdict = _job_state(root, kind, out_dir, outputs, f"{roots[1]}/{name}/{folder}/{log_name}")
        rows.append({"family": name, "kind": kind, **tags, "path": f"{out_dir}/{outputs[0]}",
                     "state": verdict.state, "detail": verdict.detail, "kept_initial": verdict.kept_initial,
                     "_pretrained": pretrained})
    return rows


def _job_state(root: Path, kind: str, out_dir: str, outputs: tuple, log: str) -> RunVerdict:
    present = [os.path.exists(root / out_dir / name) for name in outputs]
    if all(present):
        try:
            report = json.loads((root / out_dir / outputs[0]).read_text())
            return judge_pretraining(report) if kind == "pretrain" else _train_state(report["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            return _state("failed", f"unreadable {outputs[0]}: {error}")
    if os.path.exists(root / out_dir / "checkpoint.pt"):
        return _state("incomplete", "checkpoint.pt and no output: running or interrupted")
    if os.path.exists(root / log):
        return _state("failed", f"{log}: {_last_line(root / log)}")
    if any(present):
        missing = [name for name, here in zip(outputs, present) if not here]
        return _state("incomplete", f"missing {', '.join(missing)}")
    return _state("not_run", "")


def _state(state: str, detail: str) -> RunVerdict:
    return RunVerdict(state, detail, kept_initial=False)


def _train_state(result: dict) -> RunVerdict:
    status = result.get("status", "?")
    test = ", ".join(f"{key} {value:.4g}" for key, value in sorted(result.get("test", {}).items())
                     if isinstance(value, (int, float)))
    detail = f"{status}, best epoch {result.get('best_epoch')}" + (f", test {test}" if test else "")
    return _state("diverged" if status == "diverged" else "done", detail)


def _last_line(path: Path, size: int = 4096) -> str:
    """The log's last non-empty line (its error, usually), read from the end only."""
    with open(path, "rb") as file:
        file.seek(max(0, os.fstat(file.fileno()).st_size - size))
        lines = [line.strip() for line in file.read().decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else "(empty log)"


def _note_waiting(train: list[dict], pretrain: list[dict], keys: list[str]) -> None:
    """A training run not yet run that loads weights says whether they are there yet."""
    states = {tuple(row[k] for k in keys): row["state"] for row in pretrain}
    for row in train:
        if row.pop("_pretrained") and row["state"] == "not_run":
            waiting = states.get(tuple(row[k] for k in keys))
            if waiting in ("not_run", "failed", "incomplete"):
                row["detail"] = f"waits for its pre-training ({waiting})"
    for row in pretrain:
        row.pop("_pretrained", None)


def _figure_rows(root: Path, config: dict) -> list[dict]:
    rows = []
    for figure, outputs in final_outputs(config).items():
        missing = [path for path in outputs if not os.path.exists(root / path)]
        state = "done" if not missing else ("not_run" if len(missing) == len(outputs) else "incomplete")
        detail = f"missing {', '.join(missing)}" if missing and state == "incomplete" else ""
        rows.append({"family": figure, "kind": "figure", "path": outputs[0], "state": state, "detail": detail})
    return rows


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Counts of each state per family x kind (figures last, one row each), and a total."""
    table = pd.crosstab([df["family"], df["kind"]], df["state"])
    table = table.reindex(columns=STATES, fill_value=0)
    kept = df["kept_initial"].eq(True) if "kept_initial" in df else pd.Series(False, index=df.index)
    table["kept_initial"] = kept.groupby([df["family"], df["kind"]]).sum().reindex(table.index, fill_value=0)
    # jobs first, in the order run_status gives them, then figures
    order = list(dict.fromkeys(zip(df["family"], df["kind"])))
    order = [k for k in order if k[1] != "figure"] + [k for k in order if k[1] == "figure"]
    table = table.reindex(order, fill_value=0)
    table["total"] = table[STATES].sum(axis=1)
    table.columns.name = None
    return table
