"""What the sequence tasks of Figure 3 share: inputs and targets at every step, each
step repeated ``timerepeat`` times, and the cross-entropy over all steps (the reference's
loss: averaged over batch and time, every step counted)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.prepared import Prepared, expected_sources_from_stamp, load_prepared


def load_task_data(data: dict) -> Prepared:
    """The prepared cache a job's ``data`` names, checked against its dataset stamp."""
    expected = expected_sources_from_stamp(data["stamp"]) if data.get("stamp") else None
    return load_prepared(data["cache"], expected_sources=expected)


def on_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    # np.array copies the memory-mapped cache into memory (torch refuses read-only arrays)
    return torch.from_numpy(np.array(array)).to(device)


def repeat_steps(x: torch.Tensor, timerepeat: int) -> torch.Tensor:
    """x1 x1 x2 x2 ... along the time axis (dim 1), as the reference's np.repeat."""
    return x if timerepeat == 1 else x.repeat_interleave(timerepeat, dim=1)


def step_loss(output: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of (B, T, C) logits against (B, T) labels over every step."""
    return F.cross_entropy(output.flatten(0, 1), target.flatten(), reduction=reduction)


def step_totals(output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor | int]:
    """Summed cross-entropy and correct predictions over every step of a batch, on the
    output's device (tasks.base.Task.totals)."""
    return {"loss": step_loss(output, target, "sum").double(),
            "correct": (output.argmax(dim=-1) == target).sum(), "steps": target.numel()}
