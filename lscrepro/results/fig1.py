"""Figure 1's tables: descent-path counts (panel b, paths.csv) and the toy RNNs' input
gradients (panel c, pascal.csv), computed by lscrepro.analytic."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

from lscrepro.analytic import gradient_table, path_count_curves
from lscrepro.io import write_csv
from lscrepro.settings import settings_from

log = logging.getLogger("fig1_numbers")


@dataclass(frozen=True)
class Fig1Settings:
    """The config's fig1 section (every key required by the schema)."""
    depth: int  # layers L of the PascalRNN and HeRNN
    steps: int  # time steps T of panel c
    batch: int
    rhos: list[float]
    hernn_width: int
    seed: int
    max_time: int  # panel b: the largest T
    depth_gap: int  # panel b: dl of the T sweep and T of the dl sweep


def write_fig1_numbers(out: str | os.PathLike, pascal_out: str | os.PathLike, settings: Fig1Settings) -> None:
    """paths.csv (``out``) from ``max_time`` and ``depth_gap``; pascal.csv from the rest
    (the keywords of lscrepro.analytic.gradient_table)."""
    gradients = asdict(settings)
    paths = path_count_curves(max_time=gradients.pop("max_time"), depth_gap=gradients.pop("depth_gap"))
    write_csv(out, paths)
    log.info("wrote %d path counts to %s (largest: 1e%.0f)", len(paths), out, paths["log10_paths"].max())
    table = gradient_table(**gradients)
    write_csv(pascal_out, table)
    log.info("wrote %d gradient rows to %s", len(table), pascal_out)


def write_fig1_tables(paths: str | os.PathLike, pascal: str | os.PathLike, **settings) -> None:
    """Figure 1's reducer (lscrepro/workflow/outputs.py): paths.csv and pascal.csv from the
    config's fig1 section."""
    write_fig1_numbers(paths, pascal, settings_from(Fig1Settings, settings, "fig1"))
