"""Supervised training of a classifier with early stopping, per-epoch checkpoints
that a rerun resumes from, and divergence detection."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .io import atomic_path
from .optim import adabelief_lookahead


@dataclass(frozen=True)
class TrainSettings:
    lr: float
    epochs: int = 50
    batch_size: int = 512
    weight_decay: float = 1e-4
    patience: int = 10
    sync_period: int = 6
    slow_step: float = 0.5


@dataclass
class TrainResult:
    status: str  # "completed", "early_stopped" or "diverged"
    test_accuracy: float
    test_loss: float
    best_epoch: int  # 1-based; 0 when no epoch finished with a finite validation loss
    epochs_run: int
    best_val_loss: float
    seconds: float
    resumed_from_epoch: int = 0
    history: list[dict] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole split."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum").item()
        correct += (logits.argmax(dim=1) == target).sum().item()
    return total_loss / len(x), correct / len(x)


def _save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train_classifier(model: nn.Module, data, settings: TrainSettings, seed: int,
                     checkpoint: Path | None = None, log=print) -> TrainResult:
    """Train on data.x_train, early-stop on data.x_val, report on data.x_test.

    ``data`` has x_/y_ train, val and test tensors. With ``checkpoint``, the full state
    (weights, optimiser, best weights, history, RNG) is written after every epoch and
    a rerun continues from it, giving the same result as an uninterrupted run.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay,
                                    settings.sync_period, settings.slow_step)
    history: list[dict] = []
    best = {"val_loss": math.inf, "epoch": 0, "state": None}
    first_epoch, status = 0, "completed"

    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, best, first_epoch = state["history"], state["best"], state["epoch"]
        log(f"resumed from checkpoint after epoch {first_epoch}")

    n = len(data.x_train)
    for epoch in range(first_epoch, settings.epochs):
        if epoch - best["epoch"] >= settings.patience and best["epoch"] > 0:
            status = "early_stopped"
            break
        model.train()
        order = torch.randperm(n, generator=generator)
        sum_loss, sum_correct, diverged = 0.0, 0, False
        for begin in range(0, n, settings.batch_size):
            idx = order[begin:begin + settings.batch_size]
            logits = model(data.x_train[idx])
            loss = F.cross_entropy(logits, data.y_train[idx])
            if not torch.isfinite(loss):
                diverged = True
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sum_loss += loss.item() * len(idx)
            sum_correct += (logits.argmax(dim=1) == data.y_train[idx]).sum().item()
        if diverged:
            status = "diverged"
            log(f"epoch {epoch + 1}: loss is not finite; stopping (status diverged)")
            break
        val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
        row = {"epoch": epoch + 1, "loss": sum_loss / n, "accuracy": sum_correct / n,
               "val_loss": val_loss, "val_accuracy": val_acc}
        history.append(row)
        if not math.isfinite(val_loss):
            status = "diverged"
            log(f"epoch {epoch + 1}: validation loss is not finite; stopping (status diverged)")
            break
        if val_loss < best["val_loss"]:
            best = {"val_loss": val_loss, "epoch": epoch + 1,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        log(f"epoch {epoch + 1}: loss {row['loss']:.4f} acc {row['accuracy']:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f}")
        if checkpoint is not None:
            _save_checkpoint(checkpoint, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "history": history, "best": best, "epoch": epoch + 1})

    # Like Keras' EarlyStopping(restore_best_weights=True), report the best epoch's
    # weights; we restore them whether or not the patience ran out (Keras only when it did).
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
    return TrainResult(status=status, test_accuracy=test_acc, test_loss=test_loss,
                       best_epoch=best["epoch"], epochs_run=len(history),
                       best_val_loss=best["val_loss"], seconds=time.perf_counter() - start,
                       resumed_from_epoch=first_epoch, history=history)


def result_dict(result: TrainResult) -> dict:
    out = asdict(result)
    out.pop("history")
    return out
