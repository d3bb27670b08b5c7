"""Figure 3 and the deep-RNN table: hand-made runs -> matched-pair percentages, per-run
metric from the history, mean ± std table (Markdown, LaTeX) and the PDF/PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lscrepro.results.fig3 import FIG3_PANELS, fig3_wins, matched_wins, metric_at_best_epoch, rnn_runs
from lscrepro.results.rnn_table import rnn_table, table_latex, table_markdown
from lscrepro.results.summary import summary as build_summary
from lscrepro.io import write_csv, write_json
from lscrepro.plotting.fig3 import plot_fig3
from product_utils import run_step

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


def test_table_counts_runs_whose_pre_training_kept_its_initial_weights():
    summary = _summary(TABLE_RUNS)
    summary["lsc_selected_step"] = summary["variant"].map({"default": math.nan, "lsc": 12, "lsc_half": 7})
    ptb_lsc = (summary["task"] == "wordptb") & (summary["variant"] == "lsc")
    summary.loc[ptb_lsc & (summary["seed"] == 0), "lsc_selected_step"] = 0
    table = rnn_table(rnn_runs(summary, None))
    kept = table.set_index(["task", "variant"])["kept_initial"]
    assert kept[("wordptb", "lsc")] == 1 and kept.drop(("wordptb", "lsc")).eq(0).all()
    markdown = table_markdown(table)
    assert "**111.00 ± 1.41** (1/2 init)" in markdown and markdown.count("/2 init)") == 1


def test_table_note_says_one_seed_when_no_cell_has_a_std():
    assert "Mean ± std over seeds;" in table_markdown(rnn_table(rnn_runs(_summary(TABLE_RUNS), None)))
    one_seed = [row for row in TABLE_RUNS if row[4] == 0]
    markdown = table_markdown(rnn_table(rnn_runs(_summary(one_seed), None)))
    assert "One seed per cell (no std);" in markdown and "±" not in markdown


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


def _assert_figures(pdf: Path, png: Path) -> None:
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5_000


def test_plot_full_grid_through_the_steps(tmp_path):
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
    run_step("fig3_data", tmp_path / "requests", summary_csv=tmp_path / "summary.csv", metrics=metrics,
             out=out["runs.csv"], wins_out=out["wins.csv"], table_out=out["table.csv"],
             markdown_out=out["table.md"], latex_out=out["table.tex"])
    runs = pd.read_csv(out["runs.csv"])
    assert len(runs) == len(summary) and set(runs["metric_source"]) == {"history"}
    wins = pd.read_csv(out["wins.csv"])
    assert len(wins) == 16 and (wins["pairs"] > 0).all()  # 2 panels x 4 comparisons x 2 depths
    pairs = wins.set_index(["panel", "comparison", "depth"])["pairs"].sort_index()
    assert pairs.loc[("all", "ρ=1 better than none (ALIFs)")].tolist() == [12, 12]
    assert pairs.loc[("paper", "ρ=1 better than none (ALIFs)")].tolist() == [12, 12]
    # 3 tasks x 2 seeds x (5 nets, or 3 without the ALIFs; twice as many challengers in (a))
    assert pairs.loc[("all", "ρ=0.5 better than none")].tolist() == [30, 30]
    assert pairs.loc[("paper", "ρ=0.5 better than none")].tolist() == [18, 18]
    assert pairs.loc[("all", "ρ=1 better than none (no ALIFs)")].tolist() == [18, 18]
    assert pairs.loc[("paper", "ρ=1 better than none (no ALIFs)")].tolist() == [36, 36]
    assert out["table.md"].read_text().count("\n|") == 36 + 1  # header rule + a row per task, depth, net
    pdf, png = tmp_path / "fig" / "fig3.pdf", tmp_path / "fig" / "fig3.png"
    run_step("plot_fig3", tmp_path / "requests", runs=out["runs.csv"], wins=out["wins.csv"], pdf=pdf, png=png)
    _assert_figures(pdf, png)
    first = pdf.read_bytes(), png.read_bytes()
    run_step("plot_fig3", tmp_path / "requests", runs=out["runs.csv"], wins=out["wins.csv"], pdf=pdf, png=png)
    assert (pdf.read_bytes(), png.read_bytes()) == first  # deterministic bytes


def test_plot_sparse_grid_draws_what_exists(tmp_path):
    # the demo grid: depth 2 only, one seed, no ρ=0.5 and one task lacking LSC
    summary = _summary([("heidelberg", "LSTM", 2, "default", 0, 0.6), ("heidelberg", "LSTM", 2, "lsc", 0, 0.7),
                        ("wordptb", "GRU", 2, "default", 0, 300.0)])
    runs = rnn_runs(summary, None)
    assert matched_wins(runs)["pairs"].tolist() == [0, 0, 0, 1]
    wins = fig3_wins(runs)
    assert wins["pairs"].tolist() == [0, 0, 0, 1] * 2 and wins["depth"].unique().tolist() == [2]
    pdf, png = tmp_path / "fig3.pdf", tmp_path / "fig3.png"
    plot_fig3(wins, runs, pdf, png)
    _assert_figures(pdf, png)
    markdown = table_markdown(rnn_table(runs))
    assert "**70.00**" in markdown and "**300.00**" in markdown  # one run: no std


def test_a_run_that_diverged_in_its_first_epoch_has_no_metric():
    # its history.csv holds no rows: no epoch to take the metric at
    assert all(math.isnan(v) for v in metric_at_best_epoch(pd.DataFrame(), "mode_accuracy", True))


# --- the two bar panels: (a) the paper's run sets, (b) every run of this grid ----------------

def _panel(wins: pd.DataFrame, panel: str) -> pd.DataFrame:
    return wins[wins["panel"] == panel].set_index(["comparison", "depth"])


def test_panel_a_leaves_the_alifs_out_of_its_rho_half_bars():
    runs = rnn_runs(_summary(PAIR_RUNS), None)
    paper = _panel(fig3_wins(runs), "paper")
    # LSTM0 wins, LSTM1 and GRU0 lose; maLSNN0's rho = 0.5 run is no part of it
    assert paper.loc[("ρ=0.5 better than ρ=1", 2), ["wins", "pairs", "skipped"]].tolist() == [1, 3, 0]
    assert paper.loc[("ρ=0.5 better than none", 2), ["wins", "pairs", "skipped"]].tolist() == [1, 3, 0]
    assert (paper["nets"].loc[["ρ=0.5 better than ρ=1", "ρ=0.5 better than none"]] == "no_alif").all()
    # an ALIF rho = 0.5 run that would win everything changes no bar of (a)
    boosted = [(*r[:5], 0.99) if r[1] == "maLSNN" and r[3] == "lsc_half" else r for r in PAIR_RUNS]
    boosted += [("heidelberg", "maLSNNb", 2, v, 0, x) for v, x in
                [("default", 0.1), ("lsc", 0.2), ("lsc_half", 0.99)]]
    again = _panel(fig3_wins(rnn_runs(_summary(boosted), None)), "paper")
    for comparison in ["ρ=0.5 better than ρ=1", "ρ=0.5 better than none"]:
        assert again.loc[(comparison, 2), ["wins", "pairs"]].tolist() == \
            paper.loc[(comparison, 2), ["wins", "pairs"]].tolist()
    # ... but it does change (b), which keeps the ALIF rho = 0.5 runs
    everything = _panel(fig3_wins(rnn_runs(_summary(boosted), None)), "all")
    # LSTM0, maLSNN0 and maLSNNb0 win; LSTM1 and GRU0 lose
    assert everything.loc[("ρ=0.5 better than none", 2), ["wins", "pairs"]].tolist() == [3, 5]


def test_panel_a_rho_one_bar_takes_every_lsc_run_as_challenger():
    runs = rnn_runs(_summary(PAIR_RUNS), None)
    paper = _panel(fig3_wins(runs), "paper")
    no_alif = paper.loc[("ρ=1 better than none (no ALIFs)", 2)]
    # pairs: the lsc and lsc_half runs of LSTM, GRU and ssimplernn that have a default run
    kept = runs[runs["net"].isin(["LSTM", "GRU", "ssimplernn"]) & (runs["depth"] == 2)]
    defaults = set(kept.loc[kept["variant"] == "default", ["task", "net", "seed"]].itertuples(index=False))
    challengers = kept[kept["variant"].isin(["lsc", "lsc_half"])]
    expected = sum(tuple(r) in defaults for r in challengers[["task", "net", "seed"]].itertuples(index=False))
    assert expected == 6 and int(no_alif["pairs"]) == expected
    # lsc: LSTM0 and GRU0 win, LSTM1 ties; lsc_half: LSTM0 wins, LSTM1 and GRU0 lose
    assert (int(no_alif["wins"]), no_alif["challengers"]) == (3, "lsc+lsc_half")
    # the ALIFs: rho = 1 runs only (maLSNN0's winning rho = 0.5 run would make it 2 of 3)
    assert paper.loc[("ρ=1 better than none (ALIFs)", 2), ["wins", "pairs"]].tolist() == [1, 2]
    # (b) keeps today's rho = 1 challenger: lsc runs only
    everything = _panel(fig3_wins(runs), "all")
    assert everything.loc[("ρ=1 better than none (no ALIFs)", 2), ["wins", "pairs"]].tolist() == [2, 3]


TODAYS_BARS = {  # what matched_wins drew before the panels: lsc_half / lsc on every net but rsimplernn
    "ρ=0.5 better than ρ=1": (("lsc_half",), "lsc", None),
    "ρ=0.5 better than none": (("lsc_half",), "default", None),
    "ρ=1 better than none (ALIFs)": (("lsc",), "default", True),
    "ρ=1 better than none (no ALIFs)": (("lsc",), "default", False),
}
PAPERS_BARS = {  # nice_bar_plot on the runs its grid scheduled (no ALIF rho = 0.5)
    "ρ=0.5 better than ρ=1": (("lsc_half",), "lsc", False),
    "ρ=0.5 better than none": (("lsc_half",), "default", False),
    "ρ=1 better than none (ALIFs)": (("lsc", "lsc_half"), "default", True),
    "ρ=1 better than none (no ALIFs)": (("lsc", "lsc_half"), "default", False),
}


def _count_by_loop(summary: pd.DataFrame, bars: dict, drop_alif_half: bool) -> dict:
    """The reference's loop: for each challenger run, its baseline of the same task, net,
    depth and seed; strictly better counts."""
    rows = summary[summary["net"] != "rsimplernn"]
    if drop_alif_half:
        rows = rows[~(rows["net"].isin(["maLSNN", "maLSNNb"]) & (rows["variant"] == "lsc_half"))]
    counts = {}
    for name, (challengers, baseline, alif) in bars.items():
        for depth in (2, 5):
            wins = pairs = 0
            for run in rows[rows["variant"].isin(challengers) & (rows["depth"] == depth)].itertuples():
                if alif is not None and (run.net in ("maLSNN", "maLSNNb")) != alif:
                    continue
                other = rows[(rows["variant"] == baseline) & (rows["task"] == run.task) & (rows["net"] == run.net)
                             & (rows["depth"] == depth) & (rows["seed"] == run.seed)]
                if other.empty:
                    continue
                metric = "test_perplexity" if run.task == "wordptb" else "test_mode_accuracy"
                mine, theirs = getattr(run, metric), other[metric].iloc[0]
                pairs += 1
                wins += bool(mine < theirs) if run.task == "wordptb" else bool(mine > theirs)
            counts[(name, depth)] = (wins, pairs)
    return counts


def test_both_panels_match_a_plain_loop_and_panel_b_is_todays_bars():
    summary = _full_grid()
    summary.loc[summary.index % 7 == 0, "test_mode_accuracy"] = 0.8  # some ties
    summary = summary.iloc[[i for i in range(len(summary)) if i % 11 != 3]]  # some unpaired runs
    runs = rnn_runs(summary, None)
    wins = fig3_wins(runs)
    assert list(wins.columns) == ["panel", "comparison", "challengers", "baseline", "nets", "depth",
                                  "wins", "pairs", "percent", "skipped"]
    assert list(wins["panel"].unique()) == list(FIG3_PANELS) == ["paper", "all"]
    for panel, bars, drop in [("all", TODAYS_BARS, False), ("paper", PAPERS_BARS, True)]:
        table = _panel(wins, panel)
        got = {key: (int(row["wins"]), int(row["pairs"])) for key, row in table.iterrows()}
        assert got == _count_by_loop(summary, bars, drop), panel
    # (b) is what matched_wins drew before: same rows, same numbers
    todays = matched_wins(runs).reset_index(drop=True)
    pd.testing.assert_frame_equal(wins[wins["panel"] == "all"][todays.columns].reset_index(drop=True), todays)
    assert not _panel(wins, "paper")[["wins", "pairs"]].equals(_panel(wins, "all")[["wins", "pairs"]])


def test_plot_needs_both_panels(tmp_path):
    runs = rnn_runs(_summary(PAIR_RUNS), None)
    with pytest.raises(ValueError, match="panel column"):
        plot_fig3(matched_wins(runs), runs, tmp_path / "x.pdf", tmp_path / "x.png")
    wins = fig3_wins(runs)
    with pytest.raises(ValueError, match=r"lacks the panels \['paper'\]"):
        plot_fig3(wins[wins["panel"] == "all"], runs, tmp_path / "x.pdf", tmp_path / "x.png")


# --- the parameter count: metrics.json top level -> summary -> runs -> table ----------------

def _metrics_file(folder: Path, keys: dict, parameters=None, result=None) -> Path:
    record = {"run": keys, "settings": {},
              "result": {"status": "completed", "test": {"loss": 1.0}, **(result or {})}}
    if parameters is not None:
        record["parameters"] = parameters
    path = folder / "_".join(str(v) for v in keys.values()) / "metrics.json"
    write_json(path, record)
    return path


def test_parameter_count_flows_from_metrics_json_to_the_table(tmp_path):
    counts = {"LSTM": 12_345, "GRU": 2_345_678}
    paths = []
    for net, count in counts.items():
        for variant in ["default", "lsc"]:
            for seed in range(2):
                keys = {"task": "heidelberg", "net": net, "depth": 2, "variant": variant, "seed": seed}
                paths.append(_metrics_file(tmp_path, keys, count, {"test": {"mode_accuracy": 0.5 + seed / 10}}))
    keys = ["task", "net", "depth", "variant", "seed"]
    summary = build_summary(paths, [], keys, keys)
    assert summary["parameters"].tolist() == [counts[n] for n in summary["net"]]
    runs = rnn_runs(summary, None)
    assert runs["parameters"].tolist() == [counts[n] for n in runs["net"]]
    table = rnn_table(runs)
    assert table["parameters"].tolist() == [counts[n] for n in table["net"]]
    markdown, latex = table_markdown(table), table_latex(table)
    assert markdown.splitlines()[0] == "| Task | Metric | Layers | Net | Parameters | none | ρ_t=1 |"
    assert "| LSTM | 12.3k | " in markdown and "| GRU | 2.35M | " in markdown
    assert r"Net & Parameters & none" in latex and r"& LSTM & 12.3k & " in latex
    assert r"\begin{tabular}{llllrcc}" in latex

    # a run of the same group that reports another count is refused
    odd = runs.copy()
    odd.loc[0, "parameters"] = 1
    with pytest.raises(ValueError, match="different parameter counts"):
        rnn_table(odd)


def test_no_parameter_column_without_parameter_counts(tmp_path):
    keys = {"task": "heidelberg", "net": "LSTM", "depth": 2, "variant": "default", "seed": 0}
    names = list(keys)
    summary = build_summary([_metrics_file(tmp_path, keys, None, {"test": {"mode_accuracy": 0.5}})], [], names, names)
    assert "parameters" not in summary.columns
    table = rnn_table(rnn_runs(summary, None))
    assert "parameters" not in table.columns
    assert "Parameters" not in table_markdown(table) and "Parameters" not in table_latex(table)
    # one clash: a top-level count and one in the result
    clash = _metrics_file(tmp_path / "clash", keys, 10, {"parameters": 11, "test": {"mode_accuracy": 0.5}})
    with pytest.raises(ValueError, match=r"\['parameters'\] are both top-level and in run or result"):
        build_summary([clash], [], names, names)


def test_bar_labels_sit_on_a_box_above_the_50_percent_line():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lscrepro.plotting.fig3 import draw_bars
    wins = pd.DataFrame({"comparison": ["ρ=0.5 better than none"], "depth": [2], "wins": [4], "pairs": [9],
                         "percent": [100 * 4 / 9]})
    fig, ax = plt.subplots()
    draw_bars(ax, wins, legend=False)
    (line,) = [line for line in ax.lines if list(line.get_ydata()) == [50, 50]]
    labels = [text for text in ax.texts if text.get_text() == "4/9"]
    assert labels and all(t.get_bbox_patch() is not None and t.get_zorder() > line.get_zorder() for t in labels)
    plt.close(fig)
