"""fig2_data.csv: the FFN summary reduced to what Figure 2 draws, test accuracy over seeds per
(dataset, activation, variant, learning rate)."""

from __future__ import annotations

import os

import pandas as pd

from lscrepro.io import write_csv

FFN_TASK = "images"  # the task of every ffn run: the direction of accuracy is its class's
FIGURE2_KEYS = ["dataset", "activation", "variant", "lr"]
TEXT = {"dataset": str, "activation": str, "variant": str}  # a dataset called "10" stays a name


def fig2_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof = 1) and count of test_accuracy over seeds per (dataset, activation,
    variant, lr): what Figure 2 draws.

    Every run counts, diverged ones included, as in the reference; n counts the runs with a
    recorded accuracy (a NaN accuracy is skipped by mean and std alike). One run gives std NaN.
    """
    missing = set(FIGURE2_KEYS + ["test_accuracy"]) - set(summary.columns)
    if missing:
        raise ValueError(f"summary lacks columns {sorted(missing)}")
    accuracy = summary.groupby(FIGURE2_KEYS, sort=True)["test_accuracy"]
    table = accuracy.agg(test_accuracy_mean="mean", test_accuracy_std="std", n="count")
    return table.reset_index()


def write_fig2_data(summary_csv: str | os.PathLike, out: str | os.PathLike) -> None:
    write_csv(out, fig2_table(pd.read_csv(summary_csv, dtype=TEXT)))


def read_fig2_data(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path, dtype=TEXT)
