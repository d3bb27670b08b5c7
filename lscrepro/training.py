"""One supervised training loop for every family: any registered task and model, on the
configured device, with optional gradient clipping, validation and test metrics every
epoch, early stopping on the task's validation metric, and per-epoch checkpoints that a
rerun of the same run resumes from."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_checkpoint, save_checkpoint
from .device import rng_state, set_rng_state
from .optim import LR_SCHEDULES, adabelief_lookahead, learning_rate_schedule, set_learning_rate
from .progress import Progress
from .tasks.base import Task, add_totals, detach_state, evaluate, host_totals


@dataclass(frozen=True)
class TrainSettings:
    lr: float
    epochs: int = 50
    batch_size: int = 512
    weight_decay: float = 1e-4
    patience: int = 10
    sync_period: int = 6
    slow_step: float = 0.5
    clip_norm: float | None = None  # max gradient norm; None or 0: no clipping
    # "per_tensor": each parameter's gradient norm clipped on its own (Keras' clipnorm,
    # which the reference asked for); "global": one norm over all of them
    # (torch.nn.utils.clip_grad_norm_); "ignored": recorded, not applied, as the
    # reference's AdaBelief did with clipnorm (docs/deviations.md)
    clip_mode: str = "per_tensor"
    steps_per_epoch: int | None = None  # at most this many batches per epoch; None: all
    # wall-clock cap (the reference stops training after 6 h): wall time in total, across
    # resumes (earlier attempts count up to their last checkpoint); None: none
    max_seconds: float | None = None
    # the learning rate per optimiser step (lscrepro.optim.learning_rate_schedule): "constant",
    # or "cosine_no_restarts" (Table 1's grid: a cosine over epochs x steps per epoch / 6.5
    # steps, from lr down to 0.1 lr, then 0.1 lr)
    lr_schedule: str = "constant"
    # when max_seconds stops training, checked after each epoch: "next_epoch" (the reference's
    # TimeStopping: stop if one more epoch, at this job's mean epoch time, would end at or past
    # the cap) or "passed" (stop once the cap has passed; this port's earlier rule)
    time_cap_rule: str = "next_epoch"

    def __post_init__(self):
        if self.clip_mode not in CLIP_MODES:
            raise ValueError(f"train.clip_mode must be one of {CLIP_MODES}, got {self.clip_mode!r}")
        if self.clip_norm is not None and self.clip_norm < 0:
            raise ValueError(f"train.clip_norm must be >= 0 (0: no clipping), got {self.clip_norm}")
        if self.time_cap_rule not in TIME_CAP_RULES:
            raise ValueError(f"train.time_cap_rule must be one of {TIME_CAP_RULES}, got {self.time_cap_rule!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")


CLIP_MODES = ("per_tensor", "global", "ignored")
TIME_CAP_RULES = ("next_epoch", "passed")


def past_time_cap(settings: TrainSettings, elapsed: float, epochs_run: int) -> bool:
    """Whether to stop after an epoch, ``elapsed`` seconds and ``epochs_run`` epochs into the
    run (both counted across resumes). "next_epoch" is py-aromatics' TimeStopping.on_epoch_end:
    stop when now + elapsed / epochs >= start + cap, so no epoch is begun that would, at the
    mean pace, end past it."""
    if settings.max_seconds is None:
        return False
    if settings.time_cap_rule == "passed":
        return elapsed > settings.max_seconds
    return elapsed + elapsed / max(epochs_run, 1) >= settings.max_seconds


def clip_gradients(parameters, settings: TrainSettings) -> None:
    """Clip the gradients in place as ``settings`` says (nothing without a clip_norm)."""
    if not settings.clip_norm or settings.clip_mode == "ignored":
        return
    parameters = [p for p in parameters if p.grad is not None]
    if settings.clip_mode == "global":
        nn.utils.clip_grad_norm_(parameters, settings.clip_norm)
        return
    for p in parameters:
        nn.utils.clip_grad_norm_([p], settings.clip_norm)


class WallClock:
    """A run's wall time in total, across resumes, as the LSC driver counts it: this attempt's
    seconds plus ``earlier``, the seconds of the attempts before it up to their last checkpoint
    (the run's "seconds"; the epoch an interruption cut short is lost with its work)."""

    def __init__(self):
        self.start, self.earlier = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return self.earlier + time.perf_counter() - self.start


@dataclass
class TrainResult:
    status: str  # "completed", "early_stopped", "time_limit" or "diverged"
    best_epoch: int  # 1-based; 0 when no epoch finished with a finite validation metric
    epochs_run: int
    seconds: float  # wall time in total, across resumes (WallClock)
    val: dict[str, float] = field(default_factory=dict)  # the best epoch's validation metrics
    test: dict[str, float] = field(default_factory=dict)  # and its test metrics
    resumed_from_epoch: int = 0
    history: list[dict] = field(default_factory=list)


def _better(task: Task, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if task.metrics[task.selection] == "min" else value > best


def loss_is_finite(loss: torch.Tensor) -> bool:
    """Whether the step's loss is finite: the one host sync of a training step (a
    non-finite loss stops the run before it reaches the weights; lscrepro.device_audit)."""
    return bool(torch.isfinite(loss))


def _train_epoch(model: nn.Module, task: Task, optimizer, settings: TrainSettings,
                 generator: torch.Generator, progress: Progress, run: dict,
                 schedule: Callable[[int], float]) -> dict[str, float] | None:
    """One pass over the training batches; None if the loss became non-finite. Its
    metrics come from the task's totals/summarize, as evaluate's (wordptb's reference
    perplexity: the mean over this epoch's batches, as Keras logged it in training).
    Each step's learning rate is ``schedule`` at ``run["steps"]``, the optimiser steps
    taken before it (Keras: the optimiser's iterations)."""
    model.train()
    totals: dict[str, float] = {}
    state = None
    batches = task.train_batches(settings.batch_size, generator)
    for x, y in itertools.islice(batches, settings.steps_per_epoch):
        loss, batch_totals, state = task.batch_step(model, x, y, state)
        if not loss_is_finite(loss):
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model.parameters(), settings)
        set_learning_rate(optimizer, schedule(run["steps"]))
        optimizer.step()
        run["steps"] += 1
        if state is not None:  # carried across batches, without gradient
            state = detach_state(state)
        add_totals(totals, batch_totals)
        progress.step(loss=loss.detach())  # read only when a progress line is written
    return task.summarize(host_totals(totals))


def _epoch(model: nn.Module, task: Task, optimizer, settings: TrainSettings, generator: torch.Generator,
           progress: Progress, run: dict, epoch: int, log, schedule: Callable[[int], float]) -> str | None:
    """Train one epoch, evaluate, record it in ``run``; "diverged" if a loss is not finite."""
    task.set_epoch(epoch)
    train_metrics = _train_epoch(model, task, optimizer, settings, generator, progress, run, schedule)
    if train_metrics is None:
        log(f"epoch {epoch + 1}: loss is not finite; stopping (status diverged)")
        return "diverged"
    row = {"epoch": epoch + 1, **train_metrics,
           **{f"val_{k}": v for k, v in evaluate(model, task, "val").items()},
           **{f"test_{k}": v for k, v in evaluate(model, task, "test").items()}}
    run["history"].append(row)
    value = row[f"val_{task.selection}"]
    if not math.isfinite(value):
        log(f"epoch {epoch + 1}: validation {task.selection} is not finite; stopping (status diverged)")
        return "diverged"
    if _better(task, value, run["best"]["value"]):
        run["best"] = {"epoch": epoch + 1, "value": value,
                       "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    run["epoch"] = epoch + 1
    log(f"epoch {epoch + 1}: " + " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))
    return None


def _resume(model: nn.Module, optimizer, generator: torch.Generator, device: torch.device,
            checkpoint: Path | None, fingerprint: str, log) -> dict:
    """The run's record (history, best epoch, steps, seconds): a fresh one, or the checkpoint's,
    whose model, optimiser and random states are then loaded too."""
    fresh = {"history": [], "best": {"epoch": 0, "value": None, "state": None}, "epoch": 0, "steps": 0,
             "seconds": 0.0, "timed_from_epoch": 0}
    saved = load_checkpoint(checkpoint, fingerprint, log) if checkpoint else None
    if saved is None:
        return fresh
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    set_rng_state(saved["rng"], device)
    run = saved["run"]
    log(f"resumed from checkpoint after epoch {run['epoch']}")
    # a checkpoint from before the time record: max_seconds counts from this resume, and the
    # mean epoch time is taken over the epochs run since
    run.setdefault("seconds", 0.0)
    run.setdefault("timed_from_epoch", run["epoch"])
    return run


def train(model: nn.Module, task: Task, settings: TrainSettings, seed: int, device: torch.device,
          checkpoint: Path | None = None, fingerprint: str = "", log=print) -> TrainResult:
    """Train ``model`` on ``task``; it ends holding the best epoch's weights.

    With ``checkpoint``, the whole state is saved after every epoch; a rerun whose
    ``fingerprint`` (settings and initial weights) matches continues from it and ends
    where an uninterrupted run would. Any other checkpoint is ignored, with a log line.
    """
    clock = WallClock()
    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay,
                                    settings.sync_period, settings.slow_step)
    run = _resume(model, optimizer, generator, device, checkpoint, fingerprint, log)
    first_epoch, status = run["epoch"], "completed"
    clock.earlier = run["seconds"]  # max_seconds counts the earlier attempts too
    per_epoch = task.batches_per_epoch(settings.batch_size)
    if per_epoch and settings.steps_per_epoch:
        per_epoch = min(per_epoch, settings.steps_per_epoch)
    progress = Progress(log, "training", per_epoch and per_epoch * settings.epochs,
                        done=(per_epoch or 0) * first_epoch)
    run.setdefault("steps", (per_epoch or 0) * first_epoch)  # a checkpoint from before the counter
    # total_steps as the reference's full_model.py: epochs x steps per epoch
    schedule = learning_rate_schedule(settings.lr_schedule, settings.lr, per_epoch and per_epoch * settings.epochs)

    for epoch in range(first_epoch, settings.epochs):
        best = run["best"]
        if best["epoch"] > 0 and epoch - best["epoch"] >= settings.patience:
            status = "early_stopped"
            break
        stop = _epoch(model, task, optimizer, settings, generator, progress, run, epoch, log, schedule)
        if stop is None and checkpoint is not None:
            run["seconds"] = clock.seconds()
            save_checkpoint(checkpoint, fingerprint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "rng": rng_state(device), "run": run})
        # as the reference's TimeStopping: checked at the end of an epoch, its mean epoch time
        # over every attempt's (a resumed run stops at the uninterrupted run's total)
        epochs_timed = epoch + 1 - run["timed_from_epoch"]
        if stop is None and past_time_cap(settings, clock.seconds(), epochs_timed):
            stop = "time_limit"
            log(f"stopping after epoch {epoch + 1}: max_seconds {settings.max_seconds:g} "
                f"({settings.time_cap_rule}; status time_limit)")
        if stop is not None:
            status = stop
            break
    return _finish(model, task, run, status, first_epoch, clock)


def _finish(model: nn.Module, task: Task, run: dict, status: str, first_epoch: int,
            clock: WallClock) -> TrainResult:
    """Like Keras' EarlyStopping(restore_best_weights=True), report the best epoch; we
    restore its weights whether or not the patience ran out (Keras only when it did)."""
    best = run["best"]
    if best["state"] is not None:
        model.load_state_dict(best["state"])
        row = run["history"][best["epoch"] - 1]
        val = {k[4:]: v for k, v in row.items() if k.startswith("val_")}
        test = {k[5:]: v for k, v in row.items() if k.startswith("test_")}
    else:  # no epoch finished: the weights as they are
        val, test = evaluate(model, task, "val"), evaluate(model, task, "test")
    return TrainResult(status=status, best_epoch=best["epoch"], epochs_run=len(run["history"]),
                       seconds=clock.seconds(), val=val, test=test,
                       resumed_from_epoch=first_epoch, history=run["history"])
