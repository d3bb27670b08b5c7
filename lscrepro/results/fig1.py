"""Figure 1's tables: descent-path counts (panel b, paths.csv) and the toy RNNs' input
gradients (panel c, pascal.csv), computed by lscrepro.analytic."""

from __future__ import annotations

import logging
import os

from lscrepro.analytic import gradient_table, path_count_curves
from lscrepro.io import write_csv

log = logging.getLogger("fig1_numbers")


def write_fig1_numbers(out: str | os.PathLike, pascal_out: str | os.PathLike, *, max_time: int,
                       depth_gap: int, **gradients) -> None:
    """paths.csv (``out``) from ``max_time`` and ``depth_gap``; pascal.csv from ``gradients``
    (the keywords of lscrepro.analytic.gradient_table)."""
    paths = path_count_curves(max_time=max_time, depth_gap=depth_gap)
    write_csv(out, paths)
    log.info("wrote %d path counts to %s (largest: 1e%.0f)", len(paths), out, paths["log10_paths"].max())
    table = gradient_table(**gradients)
    write_csv(pascal_out, table)
    log.info("wrote %d gradient rows to %s", len(table), pascal_out)
