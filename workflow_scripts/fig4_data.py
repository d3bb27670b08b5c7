"""Collect Figure 4's learning curves: the per-epoch validation perplexity of every lru run
of one setup, from the history.csv next to each metrics.json, as one tidy CSV."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from lscrepro.aggregate_lru import LRU_KEYS, fig4_curves, run_key
from lscrepro.io import read_json, write_csv

log = logging.getLogger("fig4_data")


def _read_history(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # diverged before its first epoch ended: zero bytes
        return pd.DataFrame()


def read_histories(metrics_paths: list[Path], setup: str | None = None) -> dict[tuple, pd.DataFrame]:
    """(setup, depth, variant, clip, seed) of each metrics.json of ``setup`` (None: all) ->
    its sibling history.csv. A missing history.csv or a second file for one run is a
    ValueError naming the path; runs of other setups are not read further."""
    histories, sources = {}, {}
    for path in map(Path, metrics_paths):
        run = read_json(path).get("run", {})
        missing = [k for k in LRU_KEYS if k not in run]
        if missing:
            raise ValueError(f"{path} lacks run keys {missing}")
        key = run_key(tuple(run[k] for k in LRU_KEYS))
        if setup is not None and key[0] != setup:
            continue
        if key in histories:
            raise ValueError(f"{path}: a second metrics.json for the run {key} (first: {sources[key]})")
        history = path.parent / "history.csv"
        if not history.exists():
            raise ValueError(f"{path} has no history.csv next to it ({history})")
        histories[key], sources[key] = _read_history(history), path
    return histories


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", nargs="*", default=[], type=Path,
                        help="the runs' metrics.json; each needs a history.csv beside it")
    parser.add_argument("--setup", default="fig4", help="keep only the runs of this setup")
    parser.add_argument("--out", required=True, help="fig4_curves.csv: one row per run and epoch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    histories = read_histories(args.metrics, args.setup)
    curves = fig4_curves(histories, args.setup)
    empty = sum(history.empty for history in histories.values())
    if empty:  # no epoch finished: no line to draw
        log.warning("%d of %d runs have an empty history", empty, len(histories))
    write_csv(args.out, curves)
    log.info("wrote %s: %d runs, %d rows", args.out, len(histories) - empty, len(curves))


if __name__ == "__main__":
    main()
