"""Progress lines for long jobs: one line at most every ``every`` seconds, with the
position, the latest values and an ETA, so that ``tail -f`` on a job's log shows it
is alive. Plain lines rather than a progress bar, because logs are files."""

from __future__ import annotations

import datetime
import time


class Progress:
    def __init__(self, log, what: str, total: int | None, every: float = 30.0, done: int = 0):
        self.log, self.what, self.total, self.every = log, what, total, every
        self.start_done, self.done = done, done
        self.start = self.last = time.perf_counter()

    def step(self, **values) -> None:
        """Count one step; log a line if ``every`` seconds passed since the last one."""
        self.done += 1
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        # a value may be a 0-dim tensor on a device: read here, not at every step
        values = {k: v.item() if hasattr(v, "item") else v for k, v in values.items()}
        shown = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items())
        self.log(f"{self.what} step {self.done}{self._of()} {shown}{self._eta(now)}")

    def _of(self) -> str:
        return f"/{self.total}" if self.total else ""

    def _eta(self, now: float) -> str:
        steps = self.done - self.start_done
        if not self.total or steps <= 0:
            return ""
        seconds = (now - self.start) / steps * max(self.total - self.done, 0)
        return f" (ETA {datetime.timedelta(seconds=round(seconds))})"
