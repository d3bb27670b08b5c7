"""Image classification (mnist, cifar10, cifar100) on flattened, standardised pixels:
the task of Figure 2. Data come from the prepared cache of the dataset."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..data.prepared import expected_sources_from_stamp, load_prepared
from .base import Batch, Task

EVAL_BATCH = 4096


class ImageTask(Task):
    metrics = {"loss": "min", "accuracy": "max"}
    selection = "loss"  # the reference early-stops on val_loss
    carries_state = False

    def __init__(self, prepared, device: torch.device):
        self.device = device
        self.x = {s: _tensor(prepared[f"x_{s}"], device) for s in ("train", "val", "test")}
        self.y = {s: _tensor(prepared[f"y_{s}"], device) for s in ("train", "val", "test")}
        self.dims = self.dims_of({}, {**prepared.info, "in_features": self.x["train"].shape[1]})

    @classmethod
    def dims_of(cls, config: dict, info: dict) -> dict[str, int]:
        """The sizes a model is built with, from the prepared data's info (with in_features)."""
        return {"in_features": info["in_features"], "num_classes": info["num_classes"]}

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "ImageTask":
        expected = expected_sources_from_stamp(data["stamp"]) if data.get("stamp") else None
        return cls(load_prepared(data["cache"], expected_sources=expected), device)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        x, y = self.x["train"], self.y["train"]
        order = torch.randperm(len(x), generator=generator, device=self.device)
        for begin in range(0, len(x), batch_size):
            idx = order[begin:begin + batch_size]
            yield x[idx], y[idx]

    def lsc_inputs(self, batch_size: int, generator: torch.Generator,
                   split: str = "train") -> Iterator[torch.Tensor]:
        """Full batches of a random permutation (one short batch if the split is smaller):
        every LSC step sees the same number of samples."""
        x = self.x[split]
        order = torch.randperm(len(x), generator=generator, device=self.device)
        for begin in range(0, max(len(x) - batch_size, 0) + 1, batch_size):
            yield x[order[begin:begin + batch_size]]

    def batches_per_epoch(self, batch_size: int, split: str = "train") -> int:
        return -(-len(self.x[split]) // batch_size)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        x, y = self.x[split], self.y[split]
        for begin in range(0, len(x), EVAL_BATCH):
            yield x[begin:begin + EVAL_BATCH], y[begin:begin + EVAL_BATCH]

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output, target)

    def totals(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor | int]:
        return {"loss": F.cross_entropy(output, target, reduction="sum").double(),
                "correct": (output.argmax(dim=1) == target).sum(), "count": len(target)}

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        return {"loss": totals["loss"] / totals["count"], "accuracy": totals["correct"] / totals["count"]}


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # np.array copies the memory-mapped cache into memory (torch refuses read-only arrays)
    return torch.from_numpy(np.array(array)).to(device)
