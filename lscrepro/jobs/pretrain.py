"""The pre-training job of every family: LSC pre-training from a spec."""

from __future__ import annotations

from dataclasses import asdict
import time
from pathlib import Path

import torch

from ..checkpoint import fingerprint
from ..io import atomic_path, write_json
from ..lsc.loop import LSCSettings, pretrain_lsc
from .common import environment, settings_from, setup


def pretrain(spec: dict, weights_out: Path, report_out: Path, threads: int = 1, log=print) -> dict:
    """LSC pre-training from the spec's initialisation; saves weights and pretrain.json."""
    start = time.perf_counter()
    device, task, model = setup(spec, threads)
    settings = settings_from(LSCSettings, spec["lsc"], "lsc")
    checkpoint = report_out.with_name("checkpoint.pt")
    result = pretrain_lsc(model, task, settings, seed=spec["seed"], device=device, checkpoint=checkpoint,
                          fingerprint=fingerprint(spec, model.state_dict()), log=log)
    report = {"run": spec["run"], "settings": spec,
              "result": {**asdict(result), "environment": environment(device, start)}}
    with atomic_path(weights_out) as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(report_out, report)
    checkpoint.unlink(missing_ok=True)
    return report

