"""Pre-trained weights are checked before use: the pre-training job records the SHA-256 of
its weights.pt in the pretrain.json beside it; the training job that loads them and
``status.py --verify`` compare the file with that record. torch.load reads a file with a
flipped byte without complaint, and Snakemake sees nothing either (the file is not newer).
No torch here: status.py imports this.
"""

from __future__ import annotations

import json
from pathlib import Path

from .data.registry import file_digest

REPORT = "pretrain.json"  # written by the same job, in the same folder
DIGEST_KEY = "weights_sha256"  # the report's top-level key


def recorded_digest(weights: Path) -> tuple[Path, str | None, dict]:
    """The report beside ``weights``, the SHA-256 it records (None if none) and its run."""
    report = Path(weights).with_name(REPORT)
    try:
        record = json.loads(report.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{weights}: its pre-training report {report} is missing or unreadable "
                         f"({type(error).__name__}); {_fix(weights, report)}") from error
    digest = record.get(DIGEST_KEY) if isinstance(record, dict) else None
    return report, digest, record.get("run", {}) if isinstance(record, dict) else {}


def weights_problem(weights: Path) -> str | None:
    """What is wrong with a pre-trained weights file against its report, or None."""
    weights = Path(weights)
    report, expected, run = recorded_digest(weights)
    if not weights.is_file():
        return f"missing; {_fix(weights, report)}"
    if expected is None:
        return f"{report} records no {DIGEST_KEY} (written before weights were hashed); {_fix(weights, report)}"
    actual = file_digest(weights)
    if actual != expected:
        return (f"SHA-256 {actual} differs from {expected}, which the pre-training job {_job(run)} "
                f"recorded in {report}: the file changed after that job wrote it; {_fix(weights, report)}")
    return None


def check_weights(weights: Path) -> None:
    """Raise ValueError naming the file and the job that made it if they do not match."""
    problem = weights_problem(weights)
    if problem:
        raise ValueError(f"pre-trained weights {weights}: {problem}")


def _job(run: dict) -> str:
    return "(" + ", ".join(f"{key} {value}" for key, value in run.items()) + ")" if run else "(unknown run)"


def _fix(weights: Path, report: Path) -> str:
    return (f"delete {weights} and {report} and rerun snakemake: it reruns that pre-training, "
            "then the training runs that load it")
