"""Word-level Penn Treebank (``wordptb``): next-token prediction on contiguous streams.

As the reference: the corpus is cut into ``batch_size`` contiguous rows, read in
non-overlapping windows of ``maxlen`` tokens with the next token as target; each step
is repeated ``timerepeat`` times; the network's state carries from one window to the
next (without gradient). The metric is the perplexity, exp of the mean cross-entropy
over all steps and tokens of a split.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from .base import Batch, Task
from .sequences import load_task_data, on_device, repeat_steps, step_loss, step_totals


class WordPTB(Task):
    metrics = {"loss": "min", "perplexity": "min", "accuracy": "max"}
    selection = "loss"  # the reference's checkpoint and early stopping watch val_loss
    carries_state = True

    def __init__(self, ids: dict[str, torch.Tensor], vocab_size: int, maxlen: int = 100,
                 timerepeat: int = 2, eval_batch_size: int = 32):
        self.ids, self.maxlen, self.timerepeat = ids, maxlen, timerepeat
        self.eval_batch_size = eval_batch_size
        self.dims = {"vocab_size": vocab_size, "num_classes": vocab_size, "steps": maxlen * timerepeat}

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "WordPTB":
        prepared = load_task_data(data)
        ids = {split: on_device(prepared[f"{split}_ids"], device).long() for split in ("train", "val", "test")}
        options = {k: config[k] for k in ("maxlen", "timerepeat", "eval_batch_size") if k in config}
        return cls(ids, prepared.info["vocab_size"], **options)

    def streams(self, split: str, rows: int) -> Iterator[Batch]:
        """Windows of ``rows`` contiguous streams, in order, so state can carry over."""
        ids = self.ids[split]
        length = len(ids) // rows
        if length < self.maxlen + 1:
            raise ValueError(f"wordptb {split}: {len(ids)} tokens make streams of {length} for batch "
                             f"size {rows}, shorter than maxlen + 1 = {self.maxlen + 1}; lower "
                             "batch_size or maxlen")
        grid = ids[:rows * length].view(rows, length)
        for begin in range(0, (length - 1) // self.maxlen * self.maxlen, self.maxlen):
            x = grid[:, begin:begin + self.maxlen]
            y = grid[:, begin + 1:begin + self.maxlen + 1]
            yield repeat_steps(x, self.timerepeat), repeat_steps(y, self.timerepeat)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        return self.streams("train", batch_size)  # no shuffling: the streams are stateful

    def eval_batches(self, split: str) -> Iterator[Batch]:
        return self.streams(split, self.eval_batch_size)

    def lsc_inputs(self, batch_size: int, generator: torch.Generator,
                   split: str = "train") -> Iterator[torch.Tensor]:
        return (x for x, _ in self.streams(split, batch_size))

    def batches_per_epoch(self, batch_size: int, split: str = "train") -> int:
        return (len(self.ids[split]) // batch_size - 1) // self.maxlen

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return step_loss(output, target)

    def totals(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        return step_totals(output, target)

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        loss = totals["loss"] / totals["steps"]
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)),
                "accuracy": totals["correct"] / totals["steps"]}
