"""The training job of every family: training from a spec, from pre-trained weights
where the spec says so."""

from __future__ import annotations

from dataclasses import asdict
import time
from pathlib import Path

from ..checkpoint import fingerprint
from ..io import write_json, write_rows
from ..training import TrainSettings, train
from ..settings import settings_from
from ..weights import check_weights
from .common import environment, load_weights, parameter_count, setup


def train_run(spec: dict, metrics_out: Path, history_out: Path, weights: Path | None = None,
              threads: int = 1, log=print) -> dict:
    """Train one grid point; writes metrics.json and history.csv, then drops the
    checkpoint (it only exists so that an interrupted job resumes)."""
    start = time.perf_counter()
    device, task, model = setup(spec, threads)
    if spec.get("pretrained"):
        if weights is None:
            raise ValueError(f"run {spec['run']} needs pre-trained weights (--weights)")
        check_weights(weights)  # against the SHA-256 its pre-training recorded
        load_weights(model, weights, device)
    settings = settings_from(TrainSettings, spec["train"], "train")
    checkpoint = metrics_out.with_name("checkpoint.pt")
    result = train(model, task, settings, seed=spec["seed"], device=device, checkpoint=checkpoint,
                   fingerprint=fingerprint(spec, model.state_dict()), log=log)
    outcome = {k: v for k, v in asdict(result).items() if k != "history"}
    metrics = {"run": spec["run"], "settings": spec, "resolved": {"train": asdict(settings)},
               "parameters": parameter_count(model),
               "evaluation": task.evaluation,
               "result": {**outcome, "environment": environment(device, start)}}
    write_rows(history_out, result.history)
    write_json(metrics_out, metrics)
    checkpoint.unlink(missing_ok=True)
    return metrics
