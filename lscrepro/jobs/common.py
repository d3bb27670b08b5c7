"""What both jobs share: device, task and model from a spec, settings, environment."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import torch

from ..device import make_deterministic, resolve_device
from ..host_memory import keep_freed_memory
from ..models import build_model
from ..provenance import provenance
from ..tasks import build_task


def setup(spec: dict, threads: int):
    """Device, task and freshly initialised model of a spec."""
    device = resolve_device(spec.get("device", "auto"))
    make_deterministic(device)
    keep_freed_memory()  # no page faults for each step's large tensors (host_memory.py)
    torch.set_num_threads(threads)
    task = build_task(spec["task"], spec["data"], device)
    model = build_model(spec["model"], task.dims, spec["seed"]).to(device)
    return device, task, model


def parameter_count(model: torch.nn.Module) -> int:
    """Every parameter the model trains (PyTorch's LSTM/GRU keep two biases where Keras has one)."""
    return sum(p.numel() for p in model.parameters())


def environment(device: torch.device, start: float) -> dict:
    return provenance(str(device), time.perf_counter() - start)


def load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    """Pre-trained weights into ``model``; an unreadable or mismatched file is a clear error
    naming the file and the fix, in one line (not torch's advice on ``weights_only``)."""
    fix = ("Delete the file and rerun the workflow: Snakemake then reruns the pre-training job "
           "that writes it, and this job.")
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise ValueError(f"cannot load pre-trained weights: {path} is not a PyTorch weights file "
                         f"(truncated, overwritten or not written by torch.save). {fix}")
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        model.load_state_dict(state)
    except Exception as error:  # missing, a damaged archive, or another model's weights
        detail = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        detail = detail if len(detail) <= 300 else detail[:300] + "..."
        raise ValueError(f"cannot load pre-trained weights from {path} ({type(error).__name__}: "
                         f"{detail}). {fix}") from error
