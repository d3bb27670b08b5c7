"""Spike-train classification: Spiking Heidelberg Digits (``heidelberg``) and
spike-latency MNIST (``sl_mnist``). The label is the target at every step; the metric
of the paper is the mode accuracy, the argmax of the time-mean of the logits.

Spikes stay in the prepared cache's compact form (SHD: sparse events; sl-MNIST: one
latency per pixel) and become dense (B, steps, channels) tensors one batch at a time,
on the device: the dense SHD would take 5.7 GB.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..data.latency import latency_batch
from ..data.shd import dense_batch
from .base import Batch, Task
from .sequences import load_task_data, on_device, repeat_steps, step_loss, step_totals

SPLITS = ("train", "val", "test")
EVAL_BATCH = 256


class SpikeClassification(Task):
    """Subclasses give ``inputs(split, rows)``: the (B, steps, channels) spikes of rows."""

    metrics = {"loss": "min", "accuracy": "max", "mode_accuracy": "max"}
    selection = "loss"  # the reference's checkpoint and early stopping watch val_loss
    carries_state = False
    with_replacement = False  # how an epoch draws its training batches

    def __init__(self, labels: dict[str, torch.Tensor], info: dict, timerepeat: int):
        self.labels, self.timerepeat = labels, timerepeat
        self.dims = self.dims_of({"timerepeat": timerepeat}, info)

    @classmethod
    def dims_of(cls, config: dict, info: dict) -> dict[str, int]:
        """The sizes a model is built with, from the prepared data's info."""
        return {"in_features": info["channels"], "num_classes": info["num_classes"],
                "steps": info["steps"] * config.get("timerepeat", 2)}

    def inputs(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def batch(self, split: str, rows: torch.Tensor) -> Batch:
        x = repeat_steps(self.inputs(split, rows), self.timerepeat)
        y = self.labels[split][rows]
        return x, y[:, None].expand(-1, x.shape[1])

    def _order(self, split: str, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Row indices of an epoch's full batches (the reference drops the last partial one)."""
        n = len(self.labels[split])
        device = self.labels[split].device
        count = max(n // batch_size, 1) * min(batch_size, n)
        if self.with_replacement:
            return torch.randint(n, (count,), generator=generator, device=device)
        return torch.randperm(n, generator=generator, device=device)[:count]

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        order = self._order("train", batch_size, generator)
        for rows in order.split(batch_size):
            yield self.batch("train", rows)

    def lsc_inputs(self, batch_size: int, generator: torch.Generator,
                   split: str = "train") -> Iterator[torch.Tensor]:
        for rows in self._order(split, batch_size, generator).split(batch_size):
            yield self.batch(split, rows)[0]

    def batches_per_epoch(self, batch_size: int, split: str = "train") -> int:
        return max(len(self.labels[split]) // batch_size, 1)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        rows = torch.arange(len(self.labels[split]), device=self.labels[split].device)
        for part in rows.split(EVAL_BATCH):
            yield self.batch(split, part)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return step_loss(output, target)

    def totals(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor | int]:
        mode = output.mean(dim=1).argmax(dim=-1) == target[:, 0]
        return {**step_totals(output, target), "mode_correct": mode.sum(), "samples": len(target)}

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        return {"loss": totals["loss"] / totals["steps"], "accuracy": totals["correct"] / totals["steps"],
                "mode_accuracy": totals["mode_correct"] / totals["samples"]}


class Heidelberg(SpikeClassification):
    """SHD: 250 bins of 4 ms over 700 channels, 20 classes; validation is the last 5% of
    shd_train in file order (see lscrepro.data.shd)."""

    def __init__(self, events: dict[str, dict[str, torch.Tensor]], labels, info, timerepeat: int = 2):
        super().__init__(labels, info, timerepeat)
        self.events, self.steps, self.channels = events, info["steps"], info["channels"]

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "Heidelberg":
        prepared = load_task_data(data)
        events = {s: {part: on_device(prepared[f"{s}_{part}"], device).long()
                      for part in ("indptr", "bins", "channels")} for s in SPLITS}
        labels = {s: on_device(prepared[f"{s}_labels"], device).long() for s in SPLITS}
        return cls(events, labels, prepared.info, config.get("timerepeat", 2))

    def inputs(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        e = self.events[split]
        return dense_batch(e["indptr"], e["bins"], e["channels"], rows, self.steps, self.channels)


EVALUATIONS = ("reference", "full")


class SpikeLatencyMNIST(SpikeClassification):
    """sl-MNIST: each pixel spikes once, at its latency, over 100 steps and 784 channels.
    ``encoding: reshape`` reproduces the reference's scrambling reshape (docs/deviations.md).

    ``evaluation`` (validation and test): ``"reference"`` (default) as py-aromatics'
    ``SlMNISTGenerator`` (mnist_generators.py@347b2c8:96-97, 111): every evaluation draws
    int(N / B) batches of B samples with replacement (B = ``eval_batch_size``, which the
    reference set to the training batch size; at least one batch where N < B); ``"full"``:
    every sample once. The draws come from a generator on the data's device seeded by the
    run's seed (``torch.initial_seed()``: the training loop seeds torch with it), the epoch
    and the split, so a rerun or a resumed run evaluates the same samples."""

    with_replacement = True  # the reference draws training batches with np.random.choice

    def __init__(self, latencies: dict[str, torch.Tensor], labels, info, timerepeat: int = 2,
                 encoding: str = "transpose", eval_batch_size: int = 256, evaluation: str = "reference"):
        super().__init__(labels, info, timerepeat)
        if evaluation not in EVALUATIONS:
            raise ValueError(f"sl_mnist: evaluation must be one of {EVALUATIONS} (reference: int(N/B) "
                             f"batches drawn with replacement; full: every sample), got {evaluation!r}")
        if eval_batch_size < 1:
            raise ValueError(f"sl_mnist: eval_batch_size must be >= 1, got {eval_batch_size}")
        self.latencies, self.steps, self.encoding = latencies, info["steps"], encoding
        self.eval_batch_size, self.evaluation, self.epoch = eval_batch_size, evaluation, 0

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "SpikeLatencyMNIST":
        prepared = load_task_data(data)
        latencies = {s: on_device(prepared[f"{s}_latencies"], device) for s in SPLITS}
        labels = {s: on_device(prepared[f"{s}_labels"], device).long() for s in SPLITS}
        options = {k: config[k] for k in ("timerepeat", "encoding", "eval_batch_size", "evaluation") if k in config}
        return cls(latencies, labels, prepared.info, **options)

    def inputs(self, split: str, rows: torch.Tensor) -> torch.Tensor:
        return latency_batch(self.latencies[split][rows], self.steps, self.encoding)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def eval_batches(self, split: str) -> Iterator[Batch]:
        if self.evaluation == "full":
            yield from super().eval_batches(split)
            return
        n, device = len(self.labels[split]), self.labels[split].device
        seed = np.random.SeedSequence([torch.initial_seed(), self.epoch, SPLITS.index(split)]).generate_state(1)[0]
        generator = torch.Generator(device=device).manual_seed(int(seed))
        count = max(n // self.eval_batch_size, 1)
        rows = torch.randint(n, (count * self.eval_batch_size,), generator=generator, device=device)
        for part in rows.split(self.eval_batch_size):
            yield self.batch(split, part)
