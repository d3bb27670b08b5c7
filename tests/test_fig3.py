"""Figure 3 and the deep-RNN table: hand-made runs -> matched-pair percentages, per-run
metric from the history, mean ± std table (Markdown, LaTeX) and the PDF/PNG."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lscrepro.aggregate import (
    matched_wins, metric_at_best_epoch, rnn_runs, rnn_table, table_latex, table_markdown,
)
from lscrepro.io import write_csv, write_json
from lscrepro.plotting.fig3 import plot_fig3

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"default": math.nan, "lsc": 1.0, "lsc_half": 0.5}


def _summary(rows) -> pd.DataFrame:
    """rows of (task, net, depth, variant, seed, test metric[, radius after])."""
    records = []
    for task, net, depth, variant, seed, value, *radius in rows:
        name = "perplexity" if task == "wordptb" else "mode_accuracy"
        other = "mode_accuracy" if name == "perplexity" else "perplexity"
        records.append({"task": task, "net": net, "depth": depth, "variant": variant, "seed": seed,
                        "status": "completed", "best_epoch": 3, f"test_{name}": value,
                        f"test_{other}": math.nan, "test_loss": 1.0, "val_loss": 1.0,
                        "lsc_radius_after": radius[0] if radius else TARGETS[variant],
                        "lsc_target": TARGETS[variant]})
    return pd.DataFrame(records)


# depth 2: a win, a tie, a PTB net (lower wins), an ALIF without a ρ=0.5 partner, rsimplernn
PAIR_RUNS = [
    ("heidelberg", "LSTM", 2, "default", 0, 0.80), ("heidelberg", "LSTM", 2, "lsc", 0, 0.85),
    ("heidelberg", "LSTM", 2, "lsc_half", 0, 0.90),
    ("heidelberg", "LSTM", 2, "default", 1, 0.80), ("heidelberg", "LSTM", 2, "lsc", 1, 0.80),  # tie
    ("heidelberg", "LSTM", 2, "lsc_half", 1, 0.70),
    ("wordptb", "GRU", 2, "default", 0, 120.0), ("wordptb", "GRU", 2, "lsc", 0, 110.0),
    ("wordptb", "GRU", 2, "lsc_half", 0, 130.0),
    ("heidelberg", "maLSNN", 2, "default", 0, 0.50), ("heidelberg", "maLSNN", 2, "lsc", 0, 0.60),
    ("heidelberg", "maLSNN", 2, "lsc_half", 0, 0.55),
    ("heidelberg", "maLSNN", 2, "default", 1, 0.50), ("heidelberg", "maLSNN", 2, "lsc", 1, 0.40),
    # would turn every comparison into a win if it were not left out
    ("heidelberg", "rsimplernn", 2, "default", 0, 0.10), ("heidelberg", "rsimplernn", 2, "lsc", 0, 0.90),
    ("heidelberg", "rsimplernn", 2, "lsc_half", 0, 0.95),
    ("heidelberg", "LSTM", 5, "default", 0, 0.80),  # depth 5 without any partner
]


def test_matched_pairs_percentages_by_hand():
    wins = matched_wins(rnn_runs(_summary(PAIR_RUNS), None)).set_index(["comparison", "depth"])
    assert list(wins.columns) == ["wins", "pairs", "percent", "skipped"]

    def row(comparison, depth=2):
        found = wins.loc[(comparison, depth)]
        return int(found["wins"]), int(found["pairs"]), found["percent"], int(found["skipped"])

    # LSTM0 wins, LSTM1 loses, GRU0 loses (130 > 110 perplexity), maLSNN0 loses; maLSNN1 unpaired
    assert row("ρ=0.5 better than ρ=1") == (1, 4, 25.0, 1)
    assert row("ρ=0.5 better than none") == (2, 4, 50.0, 1)  # LSTM0, maLSNN0
    assert row("ρ=1 better than none (ALIFs)") == (1, 2, 50.0, 0)  # maLSNN0 wins, maLSNN1 loses
    # LSTM0 and GRU0 (110 < 120) win; LSTM1's tie is not better
    wins_, pairs, percent, skipped = row("ρ=1 better than none (no ALIFs)")
    assert (wins_, pairs, skipped) == (2, 3, 0) and percent == pytest.approx(200 / 3)
    for comparison, skipped in [("ρ=0.5 better than ρ=1", 0), ("ρ=0.5 better than none", 1),
                                ("ρ=1 better than none (ALIFs)", 0), ("ρ=1 better than none (no ALIFs)", 1)]:
        wins_, pairs, percent, skipped_ = row(comparison, depth=5)
        assert (wins_, pairs, skipped_) == (0, 0, skipped) and math.isnan(percent)


def test_metric_comes_from_its_own_best_validation_epoch():
    summary = _summary([("heidelberg", "GRU", 2, "default", 0, 0.90),  # test at best val loss
                        ("wordptb", "GRU", 2, "default", 0, 140.0),
                        ("sl_mnist", "GRU", 2, "default", 0, 0.33)])  # no history: summary's value
    shd = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [1.0, 0.8, 0.5, 0.9],
                        "val_mode_accuracy": [0.5, 0.8, 0.7, 0.8],  # tie: the first epoch wins
                        "test_mode_accuracy": [0.4, 0.75, 0.9, 0.6]})
    ptb = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [5.0, 4.9, 4.8, math.nan],
                        "val_perplexity": [200.0, 150.0, 160.0, math.nan],  # diverged last epoch
                        "test_perplexity": [210.0, 155.0, 140.0, math.nan]})
    histories = {("heidelberg", "GRU", 2, "default", 0): shd, ("wordptb", "GRU", 2, "default", 0): ptb}
    runs = rnn_runs(summary, histories).set_index("task")
    assert runs.loc["heidelberg", ["metric", "metric_epoch", "metric_source"]].tolist() == [0.75, 2, "history"]
    assert runs.loc["wordptb", ["metric", "metric_epoch"]].tolist() == [155.0, 2]
    assert not runs.loc["wordptb", "higher_is_better"] and runs.loc["heidelberg", "higher_is_better"]
    assert runs.loc["sl_mnist", ["metric", "metric_source"]].tolist() == [0.33, "summary"]


TABLE_RUNS = [
    ("heidelberg", "LSTM", 2, "default", 0, 0.80), ("heidelberg", "LSTM", 2, "default", 1, 0.82),
    ("heidelberg", "LSTM", 2, "lsc", 0, 0.85, 1.0), ("heidelberg", "LSTM", 2, "lsc", 1, 0.87, 1.01),
    # radius mean 0.59, 0.09 from its target 0.5: struck through, and not the best
    ("heidelberg", "LSTM", 2, "lsc_half", 0, 0.70, 0.60), ("heidelberg", "LSTM", 2, "lsc_half", 1, 0.72, 0.58),
    ("wordptb", "GRU", 5, "default", 0, 120.0), ("wordptb", "GRU", 5, "default", 1, 122.0),
    ("wordptb", "GRU", 5, "lsc", 0, 110.0, 0.99), ("wordptb", "GRU", 5, "lsc", 1, 112.0, 1.0),
]


def test_table_marks_best_and_off_target_radius():
    table = rnn_table(rnn_runs(_summary(TABLE_RUNS), None))
    shd = table[table["task"] == "heidelberg"].set_index("variant")
    np.testing.assert_allclose(shd.loc["lsc", ["mean", "std", "n"]].astype(float),
                               [86.0, math.sqrt(2), 2])  # accuracy x100
    assert shd["best"].to_dict() == {"default": False, "lsc": True, "lsc_half": False}
    assert shd["radius_off"].to_dict() == {"default": False, "lsc": False, "lsc_half": True}
    ptb = table[table["task"] == "wordptb"].set_index("variant")
    assert ptb["best"].to_dict() == {"default": False, "lsc": True}  # lower perplexity wins

    markdown = table_markdown(table)
    assert "**86.00 ± 1.41**" in markdown and "~~71.00 ± 1.41~~" in markdown
    assert "**111.00 ± 1.41**" in markdown and "**121.00" not in markdown
    assert "**81.00" not in markdown and "~~86.00" not in markdown
    latex = table_latex(table)
    assert r"\textbf{86.00 $\pm$ 1.41}" in latex and r"\sout{71.00 $\pm$ 1.41}" in latex
    assert r"\textbf{111.00 $\pm$ 1.41}" in latex and r"\textbf{121.00" not in latex
    assert r"\sout{86.00" not in latex and "--" in latex  # PTB GRU has no ρ=0.5 column entry


def _full_grid() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for task in ["heidelberg", "sl_mnist", "wordptb"]:
        for net in ["LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"]:
            for depth in [2, 5]:
                for variant in ["default", "lsc", "lsc_half"]:
                    for seed in range(2):
                        value = 100 + 20 * rng.random() if task == "wordptb" else 0.8 + 0.15 * rng.random()
                        rows.append((task, net, depth, variant, seed, value))
    return _summary(rows)


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_figures(pdf: Path, png: Path) -> None:
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000


def test_plot_full_grid_through_the_scripts(tmp_path):
    summary = _full_grid()
    metrics = []
    for run in summary.itertuples(index=False):  # a metrics.json and history.csv per run
        folder = tmp_path / "rnn" / run.task / run.net / f"depth{run.depth}" / run.variant / f"seed{run.seed}"
        keys = {k: getattr(run, k) for k in ["task", "net", "variant"]} | {"depth": run.depth, "seed": run.seed}
        write_json(folder / "metrics.json", {"run": keys, "settings": {}, "result": {}})
        name = "perplexity" if run.task == "wordptb" else "mode_accuracy"
        value = getattr(run, f"test_{name}")
        write_csv(folder / "history.csv", pd.DataFrame({"epoch": [1, 2], f"val_{name}": [1.0, 2.0],
                                                        f"test_{name}": [value, value]}))
        metrics.append(str(folder / "metrics.json"))
    write_csv(tmp_path / "summary.csv", summary)
    out = {name: tmp_path / "out" / name for name in ["runs.csv", "wins.csv", "table.csv", "table.md", "table.tex"]}
    _load_script("fig3_data").main(["--summary", str(tmp_path / "summary.csv"), "--metrics", *metrics,
                                    "--runs-out", str(out["runs.csv"]), "--wins-out", str(out["wins.csv"]),
                                    "--table-out", str(out["table.csv"]), "--markdown-out", str(out["table.md"]),
                                    "--latex-out", str(out["table.tex"])])
    runs = pd.read_csv(out["runs.csv"])
    assert len(runs) == len(summary) and set(runs["metric_source"]) == {"history"}
    wins = pd.read_csv(out["wins.csv"])
    assert len(wins) == 8 and (wins["pairs"] > 0).all()
    assert wins.loc[wins["comparison"] == "ρ=1 better than none (ALIFs)", "pairs"].tolist() == [12, 12]
    assert out["table.md"].read_text().count("\n|") == 36 + 1  # header rule + a row per task, depth, net
    pdf, png = tmp_path / "fig" / "fig3.pdf", tmp_path / "fig" / "fig3.png"
    _load_script("plot_fig3").main(["--runs", str(out["runs.csv"]), "--wins", str(out["wins.csv"]),
                                    "--pdf", str(pdf), "--png", str(png)])
    _assert_figures(pdf, png)
    first = pdf.read_bytes(), png.read_bytes()
    _load_script("plot_fig3").main(["--runs", str(out["runs.csv"]), "--wins", str(out["wins.csv"]),
                                    "--pdf", str(pdf), "--png", str(png)])
    assert (pdf.read_bytes(), png.read_bytes()) == first  # deterministic bytes


def test_plot_sparse_grid_draws_what_exists(tmp_path):
    # the demo grid: depth 2 only, one seed, no ρ=0.5 and one task lacking LSC
    summary = _summary([("heidelberg", "LSTM", 2, "default", 0, 0.6), ("heidelberg", "LSTM", 2, "lsc", 0, 0.7),
                        ("wordptb", "GRU", 2, "default", 0, 300.0)])
    runs = rnn_runs(summary, None)
    wins = matched_wins(runs)
    assert wins["pairs"].tolist() == [0, 0, 0, 1] and wins["depth"].unique().tolist() == [2]
    pdf, png = tmp_path / "fig3.pdf", tmp_path / "fig3.png"
    plot_fig3(wins, runs, pdf, png)
    _assert_figures(pdf, png)
    markdown = table_markdown(rnn_table(runs))
    assert "**70.00**" in markdown and "**300.00**" in markdown  # one run: no std


def test_a_run_that_diverged_in_its_first_epoch_has_no_metric():
    # its history.csv holds no rows: no epoch to take the metric at
    assert all(math.isnan(v) for v in metric_at_best_epoch(pd.DataFrame(), "mode_accuracy", True))
