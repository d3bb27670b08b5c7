"""Per-epoch checkpoints that only the same run resumes from.

A checkpoint carries a fingerprint of the run (its settings and initial weights). A
rerun after an interruption resumes only from a checkpoint with its own fingerprint; a
config edit or a new pre-training in between makes it start fresh instead of silently
continuing another run's state. An unreadable checkpoint also means a fresh start.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import zipfile
from pathlib import Path

import torch

from .io import atomic_path


def fingerprint(settings: dict, initial_state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for name in sorted(initial_state):
        digest.update(name.encode())
        digest.update(initial_state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(path: Path, fingerprint: str, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint, **state}, tmp)


def load_checkpoint(path: Path, fingerprint: str, log=print) -> dict | None:
    """The saved state if ``path`` holds a readable checkpoint of this run, else None.

    Temporary files of a checkpoint write that was killed midway are removed first: only
    this job writes its checkpoint, so they are debris of an earlier, interrupted run."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
            log(f"removed {stale}, left by an interrupted checkpoint write")
    if not path.exists():
        return None
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        log(f"checkpoint {path} is unreadable (not a PyTorch file: truncated or overwritten); "
            "starting fresh")
        return None
    try:
        # our own file: it holds optimiser state and RNG states, not only tensors
        state = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as error:  # any unpickling failure: truncated, garbage, foreign file
        log(f"checkpoint {path} is unreadable ({type(error).__name__}: {error}); starting fresh")
        return None
    if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
        log(f"checkpoint {path} belongs to another run (different settings or initial "
            "weights); starting fresh")
        return None
    return state
