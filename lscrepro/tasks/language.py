"""Word-level Penn Treebank (``wordptb``): next-token prediction on contiguous streams.

As the reference: the corpus is cut into ``batch_size`` contiguous rows, read in
non-overlapping windows of ``maxlen`` tokens with the next token as target; each step
is repeated ``timerepeat`` times. ``carry_state`` (default true: the reference's
stateful Keras RNNs) passes the network's state from one window to the next (without
gradient); false starts every window from a zero state, as the reference's
non-recurrent ``reslruffn`` (Figure 4, Table 1) did, in training and evaluation.

``evaluation`` says which windows an epoch reads and what the perplexity is:

- ``"reference"`` (default): what the reference's generator and Keras computed. Every
  split (train too) reads its first N // B // maxlen - 2 windows (py-aromatics
  ``PTBGenerator.steps_per_epoch``; N the split's tokens, B its batch size: the
  training batch size for train and ``eval_batch_size`` for val/test, which the
  reference set to the training batch size), and the perplexity is the mean over
  batches of exp(batch mean cross-entropy) (its ``perplexity`` metric, averaged over
  batches by Keras' ``add_metric``).
- ``"full"``: every whole window of a split, (N // B - 1) // maxlen, and the perplexity
  exp of the mean cross-entropy over all its steps and tokens.

The loss and accuracy are token means in both (the batches have equal sizes, so the
reference's batch means agree).

``mlm_probability`` (the reference's ``mlminputs``, Table 1): during the first
``mlm_epochs`` epochs each training input token is replaced, with this probability, by a
uniform random token (targets unchanged). The reference's ``mlmeps:3`` covers 2 epochs,
and its val/test generators corrupted their inputs too; ``mlm_eval: true`` does that.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch

from ..models.readout import readout_cross_entropy
from .base import Batch, Task
from .sequences import load_task_data, on_device, repeat_steps, step_loss, step_totals


EVALUATIONS = ("reference", "full")
MAX_EXPONENT = 700.0  # exp() of a larger mean cross-entropy overflows a float


class WordPTB(Task):
    metrics = {"loss": "min", "perplexity": "min", "accuracy": "max"}
    selection = "loss"  # the reference's checkpoint and early stopping watch val_loss

    def __init__(self, ids: dict[str, torch.Tensor], vocab_size: int, maxlen: int = 100,
                 timerepeat: int = 2, eval_batch_size: int = 32, mlm_probability: float = 0.0,
                 mlm_epochs: int = 2, mlm_eval: bool = False, carry_state: bool = True,
                 evaluation: str = "reference"):
        self.ids, self.maxlen, self.timerepeat = ids, maxlen, timerepeat
        self.eval_batch_size = eval_batch_size
        if not 0.0 <= mlm_probability < 1.0 or mlm_epochs < 0:
            raise ValueError(f"wordptb: mlm_probability must be in [0, 1) and mlm_epochs >= 0, got "
                             f"{mlm_probability} and {mlm_epochs}")
        if evaluation not in EVALUATIONS:
            raise ValueError(f"wordptb: evaluation must be one of {EVALUATIONS} (reference: the "
                             f"reference's windows and per-batch perplexity), got {evaluation!r}")
        if not isinstance(carry_state, bool):
            raise ValueError(f"wordptb: carry_state must be true or false, got {carry_state!r}")
        self.mlm_probability, self.mlm_epochs, self.mlm_eval = mlm_probability, mlm_epochs, mlm_eval
        self.vocab_size, self.epoch, self.evaluation = vocab_size, 0, evaluation
        self.carries_state = carry_state  # what the training loop and evaluate read
        self.dims = self.dims_of({"maxlen": maxlen, "timerepeat": timerepeat}, {"vocab_size": vocab_size})

    @classmethod
    def dims_of(cls, config: dict, info: dict) -> dict[str, int]:
        """The sizes a model is built with, from the prepared data's info."""
        steps = config.get("maxlen", 100) * config.get("timerepeat", 2)
        return {"vocab_size": info["vocab_size"], "num_classes": info["vocab_size"], "steps": steps}

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "WordPTB":
        prepared = load_task_data(data)
        ids = {split: on_device(prepared[f"{split}_ids"], device).long() for split in ("train", "val", "test")}
        keys = ("maxlen", "timerepeat", "eval_batch_size", "mlm_probability", "mlm_epochs", "mlm_eval",
                "carry_state", "evaluation")
        options = {k: config[k] for k in keys if k in config}
        return cls(ids, prepared.info["vocab_size"], **options)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _corruption(self, generator: torch.Generator | None) -> torch.Generator | None:
        """The generator to corrupt inputs with in this epoch, or None (clean inputs)."""
        corrupting = self.mlm_probability > 0 and self.epoch < self.mlm_epochs
        return generator if corrupting else None

    def corrupt(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Each token replaced with probability mlm_probability by a uniform random one."""
        replace = torch.rand(x.shape, generator=generator, device=x.device) < self.mlm_probability
        random = torch.randint(0, self.vocab_size, x.shape, generator=generator, device=x.device)
        return torch.where(replace, random, x)

    def windows(self, split: str, rows: int) -> int:
        """How many windows an epoch of ``split`` reads in ``rows`` streams (module docstring)."""
        length = len(self.ids[split]) // rows
        if self.evaluation == "reference":
            return length // self.maxlen - 2  # py-aromatics PTBGenerator.steps_per_epoch
        return (length - 1) // self.maxlen  # every window that has its next-token targets

    def streams(self, split: str, rows: int, corrupt_with: torch.Generator | None = None) -> Iterator[Batch]:
        """The epoch's windows of ``rows`` contiguous streams, in order, so state can carry
        over; inputs corrupted (``corrupt``) where a generator is given."""
        ids, count = self.ids[split], self.windows(split, rows)
        length = len(ids) // rows
        if count < 1:
            raise ValueError(f"wordptb {split}: {len(ids)} tokens make streams of {length} for batch "
                             f"size {rows}, which give {count} windows of maxlen {self.maxlen} "
                             f"(evaluation {self.evaluation!r}); lower batch_size or maxlen")
        grid = ids[:rows * length].view(rows, length)
        for begin in range(0, count * self.maxlen, self.maxlen):
            x = grid[:, begin:begin + self.maxlen]
            if corrupt_with is not None:
                x = self.corrupt(x, corrupt_with)
            y = grid[:, begin + 1:begin + self.maxlen + 1]
            yield repeat_steps(x, self.timerepeat), repeat_steps(y, self.timerepeat)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        # no shuffling: the streams are stateful
        return self.streams("train", batch_size, self._corruption(generator))

    def eval_batches(self, split: str) -> Iterator[Batch]:
        generator = None
        if self.mlm_eval:  # the same corruption at every evaluation of an epoch
            first = self.ids[split]
            generator = torch.Generator(device=first.device).manual_seed(self.epoch)
        return self.streams(split, self.eval_batch_size, self._corruption(generator))

    def lsc_inputs(self, batch_size: int, generator: torch.Generator,
                   split: str = "train") -> Iterator[torch.Tensor]:
        return (x for x, _ in self.streams(split, batch_size))

    def batches_per_epoch(self, batch_size: int, split: str = "train") -> int:
        return max(self.windows(split, batch_size), 0)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return step_loss(output, target)

    def totals(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor | int]:
        """Summed cross-entropy, correct steps and steps, and for the reference's perplexity
        exp(this batch's mean cross-entropy) and one batch (on the device, in float64)."""
        return with_batch_perplexity(step_totals(output, target))

    def batch_step(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state,
                   with_loss: bool = True) -> tuple[torch.Tensor, dict, object]:
        """As ``Task.batch_step``, but for a model with ``features`` and ``readout_weights``
        (lscrepro.models.stack.SequenceStack) the readout and the cross-entropy run fused,
        in row chunks (lscrepro.models.readout): the same loss, gradients and totals
        without a (steps x vocabulary) logits tensor."""
        if not hasattr(model, "readout_weights"):
            return super().batch_step(model, x, y, state, with_loss)
        h, state = model.features(x, state) if self.carries_state else model.features(x)
        weight, bias = model.readout_weights()
        loss, loss_sum, correct = readout_cross_entropy(h, weight, bias, y)
        totals = with_batch_perplexity({"loss": loss_sum, "correct": correct, "steps": y.numel()})
        return loss, totals, (state if self.carries_state else None)

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        loss = totals["loss"] / totals["steps"]
        if self.evaluation == "reference":  # Keras' mean over batches of the batch perplexities
            perplexity = totals["batch_perplexity"] / totals["batches"]
        else:
            perplexity = math.exp(min(loss, MAX_EXPONENT))
        return {"loss": loss, "perplexity": perplexity, "accuracy": totals["correct"] / totals["steps"]}


def with_batch_perplexity(totals: dict) -> dict:
    """A batch's totals (summed cross-entropy in float64, correct steps, steps) with
    exp(its mean cross-entropy) and one batch, for the reference's perplexity."""
    batch_loss = totals["loss"] / totals["steps"]
    return {**totals, "batch_perplexity": batch_loss.clamp(max=MAX_EXPONENT).exp(), "batches": 1}
