"""The two jobs of Figure 2, as functions of plain settings: LSC pre-training of a
dense stack, and its supervised training. Workflow scripts only parse arguments."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import pandas as pd
import torch

from .data import Splits, load_dataset
from .io import atomic_path, write_csv, write_json
from .lsc import LSCSettings, pretrain_lsc
from .models import DenseStack
from .training import TrainSettings, result_dict, train_classifier


def load_tensors(dataset: str, data_dir: str, offline: bool = True) -> Splits:
    """The dataset's splits, with their arrays as torch tensors."""
    splits = load_dataset(dataset, data_dir, offline=offline)
    return dataclasses.replace(splits, **{
        k: torch.from_numpy(getattr(splits, k))
        for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")})


def build_model(data: Splits, model_cfg: dict, activation: str, initialization: str,
                seed: int) -> DenseStack:
    return DenseStack(data.x_train.shape[1], model_cfg["width"], model_cfg["depth"],
                      data.num_classes, activation, initialization, seed=seed)


def run_pretrain(*, dataset: str, activation: str, seed: int, data_dir: str, model_cfg: dict,
                 variant_name: str, variant: dict, lsc_cfg: dict, weights_out: Path, report_out: Path,
                 offline: bool = True, threads: int = 1, log=print) -> dict:
    """LSC pre-training from the variant's initialisation; saves weights and a report."""
    torch.set_num_threads(threads)
    data = load_tensors(dataset, data_dir, offline)
    model = build_model(data, model_cfg, activation, variant.get("init", "glorot_normal"), seed)
    settings = LSCSettings(target=float(variant.get("target", 1.0)), **lsc_cfg)
    result = pretrain_lsc(model, data.x_train, settings, seed=seed, log=log)
    report = {"dataset": dataset, "activation": activation, "variant": variant_name,
              "seed": seed, **model_cfg,
              **dataclasses.asdict(result)}
    with atomic_path(weights_out) as tmp:
        torch.save(model.state_dict(), tmp)
    write_json(report_out, report)
    return report


def run_train(*, dataset: str, activation: str, variant_name: str, variant: dict, lr: float,
              seed: int, data_dir: str, model_cfg: dict, train_cfg: dict,
              metrics_out: Path, history_out: Path, checkpoint: Path,
              pretrained_weights: Path | None = None, offline: bool = True, threads: int = 1,
              log=print) -> dict:
    """Train one grid point; writes metrics.json and history.csv, then drops the
    checkpoint (it only exists so that an interrupted job resumes)."""
    torch.set_num_threads(threads)
    data = load_tensors(dataset, data_dir, offline)
    model = build_model(data, model_cfg, activation, variant.get("init", "glorot_normal"), seed)
    if variant.get("lsc", False):
        if pretrained_weights is None:
            raise ValueError(f"variant {variant_name!r} needs pre-trained weights")
        model.load_state_dict(torch.load(pretrained_weights, weights_only=True))
    settings = TrainSettings(lr=lr, **train_cfg)
    result = train_classifier(model, data, settings, seed=seed, checkpoint=checkpoint, log=log)
    metrics = {"dataset": dataset, "activation": activation, "variant": variant_name,
               "lr": lr, "seed": seed, **model_cfg, **train_cfg, **result_dict(result),
               "torch": torch.__version__, "host": platform.node()}
    write_csv(history_out, pd.DataFrame(result.history, columns=[
        "epoch", "loss", "accuracy", "val_loss", "val_accuracy"]))
    write_json(metrics_out, metrics)
    checkpoint.unlink(missing_ok=True)
    return metrics
