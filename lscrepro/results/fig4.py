"""fig4_curves.csv: the per-epoch validation perplexity of every lru run of one setup (one
line per seed in Figure 4), from the history.csv beside each run's metrics.json."""

from __future__ import annotations

import logging
import os

import pandas as pd

from lscrepro.io import write_csv
from lscrepro.results.lru import LRU_KEYS, run_key
from lscrepro.results.summary import read_histories

log = logging.getLogger("fig4_data")
CURVE_COLUMNS = [*LRU_KEYS, "epoch", "val_perplexity"]


def fig4_curves(histories: dict[tuple, pd.DataFrame], setup: str | None = "fig4") -> pd.DataFrame:
    """Tidy per-epoch validation perplexity of the runs of ``setup`` (None: all): columns
    setup, depth, variant, clip, seed, epoch, val_perplexity, sorted by run and epoch.

    An empty history (a run that diverged in its first epoch) adds no rows. A history lacking
    epoch or val_perplexity is a ValueError naming its run."""
    frames = []
    for raw_key, history in histories.items():
        key = run_key(raw_key)
        if (setup is not None and key[0] != setup) or history.empty:
            continue
        missing = sorted({"epoch", "val_perplexity"} - set(history.columns))
        if missing:
            raise ValueError(f"history of run {key} lacks columns {missing}")
        frame = history[["epoch", "val_perplexity"]].copy()
        frame["val_perplexity"] = pd.to_numeric(frame["val_perplexity"], errors="coerce")
        frames.append(frame.assign(**dict(zip(LRU_KEYS, key))))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            CURVE_COLUMNS, [str, int, str, float, int, int, float])})
    curves = pd.concat(frames, ignore_index=True)[CURVE_COLUMNS]
    curves["epoch"] = curves["epoch"].astype(int)
    return curves.sort_values([*LRU_KEYS, "epoch"], ignore_index=True)


def histories_of(metrics: list[str | os.PathLike], setup: str | None) -> dict[tuple, pd.DataFrame]:
    """The history of each run of ``setup`` (None: all) among ``metrics``, by its canonical key;
    the other setups' runs are not read further."""
    return read_histories(metrics, LRU_KEYS, run_key, keep=lambda key: setup is None or key[0] == setup)


def read_curves(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"setup": str, "variant": str})


def write_fig4_data(metrics: list[str | os.PathLike], setup: str | None, out: str | os.PathLike) -> None:
    """fig4_curves.csv of the runs of ``setup`` (None: all) among ``metrics``."""
    histories = histories_of(metrics, setup)
    curves = fig4_curves(histories, setup)
    empty = sum(history.empty for history in histories.values())
    if empty:  # no epoch finished: no line to draw
        log.warning("%d of %d runs have an empty history", empty, len(histories))
    write_csv(out, curves)
    log.info("wrote %s: %d runs, %d rows", out, len(histories) - empty, len(curves))
