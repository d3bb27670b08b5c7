"""Figure 2 tables and plot: fake run files -> summary.csv -> figure table -> PDF/PNG."""

from __future__ import annotations

import importlib.util
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lscrepro.results.fig2 import fig2_table
from lscrepro.results.summary import summary as build_summary
from lscrepro.io import read_json, write_json
from lscrepro.plotting.fig2 import VARIANT_COLOURS, variant_styles
from product_utils import run_step

ROOT = Path(__file__).resolve().parents[1]

# (dataset, activation, variant, lr, seed, test_accuracy, status, test_loss)
RUNS = [
    ("mnist", "relu", "glorot", 1e-3, 0, 0.8, "completed", 0.6),
    ("mnist", "relu", "glorot", 1e-3, 1, 0.9, "early_stopped", 0.4),
    ("mnist", "relu", "glorot", 1e-3, 2, 0.7, "completed", 0.8),
    ("mnist", "relu", "he", 1e-3, 0, 0.1, "diverged", math.nan),
    ("mnist", "relu", "he", 1e-3, 1, 0.5, "completed", 1.2),
    ("mnist", "relu", "lsc", 1e-3, 0, 0.95, "completed", 0.2),
    ("mnist", "relu", "lsc", 1e-4, 0, 0.9, "completed", 0.3),
    ("mnist", "relu", "lsc", 1e-4, 1, 0.92, "completed", 0.3),
    ("cifar10", "cos", "glorot", 1e-4, 0, 0.3, "diverged", math.inf),
]
# (dataset, activation, seed) -> (radius before, radius after); lsc pre-trainings only
PRETRAININGS = {
    ("mnist", "relu", 0): (1.7, 1.01),
    ("mnist", "relu", 1): (1.6, 0.99),
    ("mnist", "relu", 7): (1.5, 1.0),  # no training run uses it
    ("cifar10", "cos", 0): (0.4, 1.0),  # only a glorot run there: must not join
}


KEYS = ["dataset", "activation", "variant", "seed"]  # what a pre-training depends on
RUN_KEYS = ["dataset", "activation", "variant", "lr", "seed"]
SETTINGS = {"model": {"depth": 30, "width": 128}, "train": {"epochs": 50, "batch_size": 32}}


def _metrics(dataset, activation, variant, lr, seed, accuracy, status, loss) -> dict:
    return {"run": {"dataset": dataset, "activation": activation, "variant": variant, "lr": lr,
                    "seed": seed},
            "settings": SETTINGS,
            "result": {"status": status, "best_epoch": 4, "epochs_run": 14, "seconds": 10.0 + seed,
                       "resumed_from_epoch": 0, "val": {"loss": 0.5, "accuracy": 0.7},
                       "test": {"accuracy": accuracy, "loss": loss},
                       "environment": {"torch": "2.13.0", "host": "node1"}}}


def _pretrain(dataset, activation, seed, before, after) -> dict:
    return {"run": {"dataset": dataset, "activation": activation, "variant": "lsc", "seed": seed},
            "settings": {"lsc": {"target": 1.0, "lr": 1e-3}}, "resolved": {"lsc": {"target": 1.0, "tolerance": 0.02}},
            "result": {"status": "converged", "radius_before_mean": before, "radius_before_std": 0.1,
                       "radius_after_mean": after, "radius_after_std": 0.01,
                       "radius_before_per_site": {"block1": before}, "loss_curve": [1.0, 0.1],
                       "radius_curve": [before, after], "steps": 100 + seed, "selected_step": 90 + seed,
                       "seconds": 60.0 + seed}}


def ffn_summary(metrics, pretrain):
    return build_summary(metrics, pretrain, RUN_KEYS, KEYS)


@pytest.fixture
def run_files(tmp_path):
    """The fake runs in the workflow's layout, listed in reverse so that sorting is exercised."""
    ffn = tmp_path / "results" / "ffn"
    metrics = []
    for run in reversed(RUNS):
        dataset, activation, variant, lr, seed = run[:5]
        path = ffn / dataset / activation / variant / f"lr{lr:g}" / f"seed{seed}" / "metrics.json"
        write_json(path, _metrics(*run))  # allow_nan: NaN and Infinity literals, as the jobs write
        metrics.append(path)
    pretrain = []
    for (dataset, activation, seed), radii in PRETRAININGS.items():
        path = ffn / "pretrained" / dataset / activation / "lsc" / f"seed{seed}" / "pretrain.json"
        write_json(path, _pretrain(dataset, activation, seed, *radii))
        pretrain.append(path)
    return metrics, pretrain


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_has_one_row_per_run_in_order(run_files):
    summary = ffn_summary(*run_files)
    assert {"status", "test_accuracy", "test_loss", "val_loss", "best_epoch", "lsc_radius_after",
            "lsc_status"} <= set(summary.columns)
    assert not any(column.startswith("settings") for column in summary.columns)
    assert set(summary["environment_torch"]) == {"2.13.0"}
    assert len(summary) == len(RUNS)
    keys = ["dataset", "activation", "variant", "lr", "seed"]
    assert list(summary[keys].itertuples(index=False, name=None)) == sorted(run[:5] for run in RUNS)
    diverged = summary[(summary["variant"] == "he") & (summary["seed"] == 0)].iloc[0]
    assert diverged["status"] == "diverged" and math.isnan(diverged["test_loss"])
    assert diverged["test_accuracy"] == pytest.approx(0.1)
    assert summary.loc[summary["dataset"] == "cifar10", "test_loss"].iloc[0] == math.inf


def test_pretraining_joins_onto_lsc_rows_only(run_files):
    summary = ffn_summary(*run_files)
    lsc = summary[summary["variant"] == "lsc"]
    lsc_columns = ["lsc_radius_before", "lsc_radius_after", "lsc_target", "lsc_steps", "pretrain_seconds"]
    assert lsc[lsc_columns].notna().all().all()
    for _, row in lsc.iterrows():
        before, after = PRETRAININGS[(row["dataset"], row["activation"], row["seed"])]
        assert (row["lsc_radius_before"], row["lsc_radius_after"]) == (before, after)
        assert row["lsc_target"] == 1.0
        assert row["lsc_steps"] == 100 + row["seed"] and row["pretrain_seconds"] == 60.0 + row["seed"]
    # glorot and he runs, including the cifar10 glorot run next to an unused lsc pre-training
    assert summary.loc[summary["variant"] != "lsc", lsc_columns].isna().all().all()


def test_figure_table_mean_std_n_by_hand(run_files):
    table = fig2_table(ffn_summary(*run_files)).set_index(["dataset", "activation", "variant", "lr"])
    assert list(table.columns) == ["test_accuracy_mean", "test_accuracy_std", "n"]
    assert len(table) == 5

    def stats(variant, lr, dataset="mnist", activation="relu"):
        row = table.loc[(dataset, activation, variant, lr)]
        return row["test_accuracy_mean"], row["test_accuracy_std"], row["n"]

    np.testing.assert_allclose(stats("glorot", 1e-3), (0.8, 0.1, 3))  # sqrt((.01 + 0 + .01) / 2)
    np.testing.assert_allclose(stats("he", 1e-3), (0.3, 0.2 * math.sqrt(2), 2))  # diverged run counts
    np.testing.assert_allclose(stats("lsc", 1e-4), (0.91, 0.01 * math.sqrt(2), 2))
    mean, std, n = stats("lsc", 1e-3)
    assert (mean, n) == (pytest.approx(0.95), 1) and math.isnan(std)


@pytest.mark.parametrize("section, key", [("result", "status"), ("result", "test"), ("run", "lr")])
def test_missing_metrics_key_names_the_file(run_files, section, key):
    metrics, pretrain = run_files
    broken = metrics[3]
    record = read_json(broken)
    del record[section][key]
    write_json(broken, record)
    with pytest.raises(ValueError, match=re.escape(str(broken)) + f".*{section}.{key}"):
        ffn_summary(metrics, pretrain)


def test_missing_pretrain_target_names_the_file(run_files):
    metrics, pretrain = run_files
    record = read_json(pretrain[0])
    del record["settings"]["lsc"]["target"]
    write_json(pretrain[0], record)
    with pytest.raises(ValueError, match=re.escape(str(pretrain[0])) + ".*settings.lsc.target"):
        ffn_summary(metrics, pretrain)


def test_duplicate_runs_are_refused(run_files, tmp_path):
    metrics, pretrain = run_files
    copy = tmp_path / "copy" / "metrics.json"
    copy.parent.mkdir()
    shutil.copy(metrics[0], copy)
    with pytest.raises(ValueError, match=re.escape(str(copy))):
        ffn_summary([*metrics, copy], pretrain)


def test_pretrain_variant_is_read_from_the_report(run_files, tmp_path):
    metrics, pretrain = run_files
    record = read_json(pretrain[0])
    del record["run"]["variant"]
    write_json(pretrain[0], record)
    with pytest.raises(ValueError, match=re.escape(str(pretrain[0])) + ".*run.variant"):
        ffn_summary(metrics, pretrain)


def test_unknown_variants_get_their_name_and_a_new_colour():
    styles = variant_styles(["glorot", "lsc", "orthogonal"])
    assert [label for label, _ in styles.values()] == ["Glorot", r"LSC ($\rho_t=1$)", "orthogonal"]
    assert styles["orthogonal"][1] not in VARIANT_COLOURS.values()


def test_the_steps_write_tables_and_figure_from_the_csv_alone(run_files, tmp_path):
    metrics, pretrain = run_files
    summary_csv, table_csv = tmp_path / "out" / "summary.csv", tmp_path / "out" / "fig2_data.csv"
    _load_script("summarize").main(
        ["--family", "ffn", "--metrics", *map(str, metrics), "--pretrain", *map(str, pretrain),
         "--out", str(summary_csv)])
    run_step("fig2_data", tmp_path / "requests", summary_csv=summary_csv, out=table_csv)
    assert len(pd.read_csv(summary_csv)) == len(RUNS)
    assert pd.read_csv(table_csv)["n"].sum() == len(RUNS)

    shutil.rmtree(tmp_path / "results")  # the plot must need nothing but fig2_data.csv
    pdf, png = tmp_path / "fig" / "fig2.pdf", tmp_path / "fig" / "fig2.png"
    # mnist/cos and cifar10/relu have no runs: those panels must stay blank, not fail
    run_step("plot_fig2", tmp_path / "requests", data=table_csv, pdf=pdf, png=png)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000


def test_panel_titles_use_proper_names(run_files, tmp_path):
    import matplotlib.pyplot as plt

    from lscrepro.plotting.fig2 import make_figure

    figure = make_figure(fig2_table(ffn_summary(*run_files)))
    texts = {t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text"))}
    assert {"MNIST", "CIFAR-10", "ReLU", "Cos"} <= texts
    assert not {"mnist", "cifar10", "relu", "cos"} & texts
    plt.close("all")
