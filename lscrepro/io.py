"""Atomic writes: a reader never sees a half-written file at a final path."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


class WriteError(OSError):
    """A file could not be written (full disk, no permission, ...); its final path was left as it was."""


def _write_error(final: Path, error: BaseException) -> WriteError:
    if isinstance(error, OSError) and error.strerror:
        reason = f"[Errno {error.errno}] {error.strerror}" if error.errno else error.strerror
        culprit = None if error.filename is None else Path(error.filename)
        if culprit is not None and culprit != final and not culprit.name.startswith(f".{final.name}."):
            reason += f": {culprit}"  # e.g. a parent that is a file; not our own temporary file
    else:  # e.g. torch.save's writer: "[enforce fail at inline_container.cc] unexpected pos ..."
        reason = f"{type(error).__name__}: {str(error).strip() or 'write failed'}"
    return WriteError(
        f"cannot write {final} ({reason}); nothing half-written was left behind. Check that "
        f"{final.parent} is a writable directory whose disk has free space (and that no quota "
        "or file size limit is hit), then rerun the job.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    A failure to create, write or rename the file (a full disk, a folder that is not
    writable) is raised as :class:`WriteError` naming ``path``; the temporary file is
    removed, so nothing half-written stays behind, at the final path or next to it.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as error:
        raise _write_error(final, error) from error
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; results are shared on clusters, so use 0644.
        tmp_path.chmod(0o644)
        os.replace(tmp_path, final)
    except WriteError:
        raise
    except (OSError, RuntimeError) as error:  # RuntimeError: torch.save's failed writes
        raise _write_error(final, error) from error
    finally:
        with contextlib.suppress(OSError):
            tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame atomically, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_rows(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write dict rows (keys of the first row as header) as CSV, atomically; without
    pandas, whose import costs every training job half a second."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
