"""What every task provides to the training loop, and evaluation over a split."""

from __future__ import annotations

from typing import Iterator

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


class Task:
    """Subclasses set ``metrics`` ({name: "min" | "max"}, "loss" included), ``selection``
    (the validation metric that picks the best epoch), ``carries_state`` (whether the
    network's state passes from one batch to the next, in training and evaluation; a
    class attribute, or per instance where it is a setting, as wordptb's ``carry_state``),
    ``evaluation`` (how a split's metrics are computed, recorded in metrics.json: "full" =
    every sample; wordptb's "reference" = the reference's windows and batch averages) and
    ``dims`` (sizes the model is built with), and implement the methods below."""

    metrics: dict[str, str] = {"loss": "min"}
    selection: str = "loss"
    carries_state: bool = False
    evaluation: str = "full"
    dims: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: dict, data: dict, device: torch.device) -> "Task":
        raise NotImplementedError

    @classmethod
    def dims_of(cls, config: dict, info: dict) -> dict[str, int]:
        """``dims`` from the task config and its prepared data's info, without the data
        (workflow_scripts/describe.py builds a job's model from it)."""
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Called before each training epoch (0-based), for tasks whose batches change with
        it (wordptb's input corruption in the first epochs); resumed runs call it too."""

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        raise NotImplementedError

    def eval_batches(self, split: str) -> Iterator[Batch]:
        raise NotImplementedError

    def batches_per_epoch(self, batch_size: int, split: str = "train") -> int | None:
        """How many training (or LSC) batches an epoch has, for progress ETAs; None if unknown."""
        return None

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch; what the optimiser minimises."""
        raise NotImplementedError

    def totals(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, float | torch.Tensor]:
        """Additive sums over a batch (e.g. summed loss, correct count, sample count; a
        per-batch statistic and a batch count for a metric averaged over batches). Values
        computed from the output stay 0-dim tensors on its device (float64 for float sums,
        as a host sum would be), so that no step waits for the device; ``host_totals``
        reads a split's sums once, at its end."""
        raise NotImplementedError

    def batch_step(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, state,
                   with_loss: bool = True) -> tuple[torch.Tensor | None, dict, object]:
        """(mean loss, or None without ``with_loss``; ``totals``; next state) of one batch:
        ``loss`` and ``totals`` of the model's output. A task may compute them without
        the output (wordptb: the readout fused with the cross-entropy)."""
        output, state = forward(model, x, state, self.carries_state)
        loss = self.loss(output, y) if with_loss else None
        return loss, self.totals(output.detach(), y), state

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        """The metrics of a split from its summed ``totals`` (numbers: see host_totals)."""
        raise NotImplementedError

    def lsc_inputs(self, batch_size: int, generator: torch.Generator,
                   split: str = "train") -> Iterator[torch.Tensor]:
        """Network inputs of a split for LSC pre-training, in batches (labels unused)."""
        raise NotImplementedError


def add_totals(into: dict, more: dict) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0.0) + value


def host_totals(totals: dict) -> dict[str, float]:
    """``totals`` as numbers: the sums kept on the device read in one transfer (one host
    sync per split, not one per batch)."""
    keys = [key for key, value in totals.items() if isinstance(value, torch.Tensor)]
    if not keys:
        return dict(totals)
    values = torch.stack([totals[key].double() for key in keys]).tolist()
    return {**totals, **dict(zip(keys, values))}


def forward(model: torch.nn.Module, x: torch.Tensor, state, carries_state: bool):
    """Output and next state. Sequence models return (output, final state); the state
    is passed on only where the task carries it across batches."""
    result = model(x, state) if carries_state else model(x)
    if isinstance(result, tuple):
        output, state = result
        return output, (state if carries_state else None)
    return result, None


def detach_state(state):
    """The state (nested tuples of tensors) cut from the graph, to carry into the next batch."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


@torch.no_grad()
def evaluate(model: torch.nn.Module, task: Task, split: str) -> dict[str, float]:
    """The task's metrics on a split (the batches its ``eval_batches`` gives), in eval
    mode; the state carries from batch to batch only where the task carries it."""
    model.eval()
    totals: dict[str, float] = {}
    state = None
    for x, y in task.eval_batches(split):
        _, batch_totals, state = task.batch_step(model, x, y, state, with_loss=False)
        add_totals(totals, batch_totals)
    return task.summarize(host_totals(totals))
