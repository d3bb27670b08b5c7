"""Which device a job runs on, and PyTorch's determinism switches for it."""

from __future__ import annotations

import os

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` is CUDA where there is one, else the CPU; ``cuda`` without one is an error."""
    if name not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for, but torch sees no CUDA device; "
                           "set device: cpu (or auto) in the config")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def make_deterministic(device: torch.device) -> None:
    """As deterministic as PyTorch allows. CPU kernels are deterministic already; cuBLAS
    needs a fixed workspace (set before its first use) and cuDNN must not autotune."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        # TF32 would make the fused cuDNN LSTM/GRU of training and the per-step cells the
        # LSC differentiates disagree beyond float32 rounding
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        # warn_only: a few ops (e.g. some scatter backwards) have no deterministic kernel;
        # they warn in the log instead of failing the run
        torch.use_deterministic_algorithms(True, warn_only=True)


def rng_state(device: torch.device) -> dict:
    """Global RNG states a checkpoint saves so that a resumed run continues identically."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
