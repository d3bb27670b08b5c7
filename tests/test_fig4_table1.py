"""Figure 4 and Table 1 (ResLRU on PTB): hand-made runs -> learning-curve table, the
mean ± std table with its bold cells (Markdown, LaTeX), the PDF/PNG and the three scripts."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from lscrepro.results.fig4 import fig4_curves, histories_of
from lscrepro.results.table1 import table1, table1_latex, table1_markdown
from lscrepro.io import write_csv, write_json
from lscrepro.plotting.fig4 import make_figure, plot_fig4
from product_utils import run_step

ROOT = Path(__file__).resolve().parents[1]
NAN = math.nan

# (setup, depth, variant, clip, seed, val_perplexity, test_perplexity)
TABLE_RUNS = [
    ("table1", 6, "mystery", 0.0, 0, 160.0, 150.0),  # an unknown variant: last, named as is
    ("table1", 6, "lsc", 0.0, 0, 140.0, 145.0),
    ("table1", 6, "default", 0.0, 0, 150.0, 140.0),
    ("table1", 3, "lsc", 1.0, 0, 140.0, 124.0),  # best test of the clip group, not of the depth
    ("table1", 3, "default", 1.0, 0, 130.0, 125.0), ("table1", 3, "default", 1.0, 1, 132.0, 127.0),
    ("table1", 3, "lsc_unbalanced", 0.0, 0, NAN, NAN),  # diverged in epoch 1: never best
    ("table1", 3, "lsc_half", 0.0, 0, 118.0, 120.0), ("table1", 3, "lsc_half", 0.0, 1, 118.0, NAN),
    ("table1", 3, "lsc", 0.0, 0, 117.0, 111.0), ("table1", 3, "lsc", 0.0, 1, 119.0, 115.0),
    ("table1", 3, "default", 0.0, 0, 120.0, 110.0), ("table1", 3, "default", 0.0, 1, 124.0, 114.0),
    ("fig4", 3, "default", 0.0, 0, 50.0, 50.0),  # another setup: would be best if it counted
]
ROW_ORDER = [(3, "default", 0.0), (3, "lsc", 0.0), (3, "lsc_half", 0.0), (3, "lsc_unbalanced", 0.0),
             (3, "default", 1.0), (3, "lsc", 1.0), (6, "default", 0.0), (6, "lsc", 0.0),
             (6, "mystery", 0.0)]


def _summary(rows) -> pd.DataFrame:
    columns = ["setup", "depth", "variant", "clip", "seed", "val_perplexity", "test_perplexity"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(status="completed", best_epoch=3, val_loss=np.log(frame["val_perplexity"]),
                        test_loss=np.log(frame["test_perplexity"]), lsc_radius_after=NAN, lsc_target=NAN)


def _assert_same(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float))


def test_table1_means_stds_and_order_by_hand():
    summary = _summary(TABLE_RUNS).sample(frac=1, random_state=0)  # the input order must not matter
    table = table1(summary)
    assert list(table[["depth", "variant", "clip"]].itertuples(index=False, name=None)) == ROW_ORDER
    r2, r8 = math.sqrt(2), math.sqrt(8)
    _assert_same(table["val_mean"], [122, 118, 118, NAN, 131, 140, 150, 140, 160])
    _assert_same(table["val_std"], [r8, r2, 0, NAN, r2, NAN, NAN, NAN, NAN])  # ddof = 1
    _assert_same(table["test_mean"], [112, 113, 120, NAN, 126, 124, 140, 145, 150])
    _assert_same(table["test_std"], [r8, r8, NAN, NAN, r2, NAN, NAN, NAN, NAN])
    assert table["n"].tolist() == [2, 2, 2, 0, 2, 1, 1, 1, 1]
    assert table["runs"].tolist() == [2, 2, 2, 1, 2, 1, 1, 1, 1]
    assert table["label"].tolist() == ["default", "ρ=1", "ρ=0.5", "ρ̄_t=0.5", "default + clip",
                                       "ρ=1 + clip", "default", "ρ=1", "mystery"]


def test_table1_best_per_depth_and_clipping_group():
    table = table1(_summary(TABLE_RUNS))
    # depth 3 without clipping: lsc and lsc_half tie at 118 (both bold); the NaN row never is
    assert table["val_best"].tolist() == [False, True, True, False, True, False, False, True, False]
    # lsc + clip (124) is the clip group's best though depth 3's no-clip rows are lower
    assert table["test_best"].tolist() == [True, False, False, False, False, True, True, False, False]


def test_table1_tie_survives_rounding_noise():
    # mean(100.0, 100.4) and mean(100.1, 100.3) differ in the last bit only
    rows = [("table1", 3, "default", 0.0, s, v, 100.0) for s, v in enumerate([100.0, 100.4])]
    rows += [("table1", 3, "lsc", 0.0, s, v, 101.0) for s, v in enumerate([100.1, 100.3])]
    table = table1(_summary(rows))
    assert table["val_best"].tolist() == [True, True]
    assert table["test_best"].tolist() == [True, False]


def test_table1_all_nan_group_has_no_best_and_other_setups_are_empty():
    table = table1(_summary([("table1", 3, "default", 0.0, 0, NAN, NAN),
                             ("table1", 3, "lsc", 0.0, 0, math.inf, NAN)]))  # inf: no value either
    assert not table["val_best"].any() and not table["test_best"].any()
    assert table["n"].tolist() == [0, 0]
    empty = table1(_summary(TABLE_RUNS), setup="nothing")
    assert empty.empty and "val_best" in empty.columns
    assert table1_markdown(empty) == "No runs yet.\n"
    assert "no runs yet" in table1_latex(empty)


def test_table1_refuses_bad_input():
    summary = _summary(TABLE_RUNS)
    with pytest.raises(ValueError, match=r"lacks columns \['seed', 'test_perplexity'\]"):
        table1(summary.drop(columns=["test_perplexity", "seed"]))
    with pytest.raises(ValueError, match="several rows for the same run"):
        table1(pd.concat([summary, summary.iloc[[0]]]))


def test_table1_markdown_bold_cells_and_blocks():
    """This port's earlier rule (lru.table1_bold: mean): the whole cell where the mean is best."""
    markdown = table1_markdown(table1(_summary(TABLE_RUNS)), bold="mean")
    lines = markdown.splitlines()
    for line in ["| Depth 3 LRU | validation perplexity | test perplexity |",
                 "| default | 122.00 ± 2.83 | **112.00 ± 2.83** |",
                 "| ρ=1 | **118.00 ± 1.41** | 113.00 ± 2.83 |",
                 "| ρ=0.5 | **118.00 ± 0.00** | 120.00 |",  # one test value: no std
                 "| ρ̄_t=0.5 | – | – |",
                 "| default + clip | **131.00 ± 1.41** | 126.00 ± 1.41 |",
                 "| ρ=1 + clip | 140.00 | **124.00** |",
                 "| Depth 6 LRU | validation perplexity | test perplexity |",
                 "| mystery | 160.00 | 150.00 |"]:
        assert line in lines, line
    assert lines.index("| Depth 3 LRU | validation perplexity | test perplexity |") == 0
    assert lines.index("| ρ=1 + clip | 140.00 | **124.00** |") < lines.index(
        "| Depth 6 LRU | validation perplexity | test perplexity |")
    assert " 50.00" not in markdown  # the fig4 setup's run
    assert "best mean (with its std) per depth and clipping group" in lines[-1]
    assert "minimum over epochs" in lines[-1]
    assert "best-validation epoch" in lines[-1]


def test_table1_note_says_one_seed_when_no_cell_has_a_std():
    assert table1_markdown(table1(_summary(TABLE_RUNS))).split("\n\n")[-1].startswith("Mean ± std over seeds;")
    one_seed = _summary(TABLE_RUNS)
    one_seed = one_seed[one_seed["seed"] == one_seed["seed"].min()]
    assert table1_markdown(table1(one_seed)).split("\n\n")[-1].startswith("One seed per cell (no std);")


def test_table1_latex_one_tabular_with_bold_numbers():
    latex = table1_latex(table1(_summary(TABLE_RUNS)), bold="mean")
    lines = latex.splitlines()
    assert latex.count(r"\begin{tabular}{lcc}") == 1 and latex.count(r"\end{tabular}") == 1
    assert r"\toprule" in lines and r"\bottomrule" in lines
    assert [line.split(" & ")[0] for line in lines if "LRU}" in line] == [
        r"\textbf{Depth 3 LRU}", r"\textbf{Depth 6 LRU}"]
    for line in [r"default & $122.00~\pm~2.83$ & $\textbf{112.00}~\pm~\textbf{2.83}$ \\",
                 r"$\rho=1$ & $\textbf{118.00}~\pm~\textbf{1.41}$ & $113.00~\pm~2.83$ \\",
                 r"$\rho=0.5$ & $\textbf{118.00}~\pm~\textbf{0.00}$ & $120.00$ \\",
                 r"$\overline{\rho}_t=0.5$ & -- & -- \\",
                 r"$\rho=1$ + clip & $140.00$ & $\textbf{124.00}$ \\",
                 r"mystery & $160.00$ & $150.00$ \\"]:
        assert line in lines, line


def test_table1_bolds_the_smallest_std_on_its_own_as_the_reference():
    """lruptb2latex (stable_drnn plot_training.py@c128682:499-502) bolds each of mean and std
    where it is the smallest of its depth and clipping group, whatever the other is."""
    table = table1(_summary(TABLE_RUNS))
    assert table["val_std_best"].tolist() == [False, False, True, False, True, False, False, False, False]
    assert table["test_std_best"].tolist() == [True, True, False, False, True, False, False, False, False]
    lines = table1_markdown(table).splitlines()
    for line in ["| default | 122.00 ± 2.83 | **112.00** ± **2.83** |",
                 "| ρ=1 | **118.00** ± 1.41 | 113.00 ± **2.83** |",  # best mean, not the smallest std
                 "| ρ=0.5 | **118.00** ± **0.00** | 120.00 |",
                 "| default + clip | **131.00** ± **1.41** | 126.00 ± **1.41** |",
                 "| ρ=1 + clip | 140.00 | **124.00** |",
                 "| mystery | 160.00 | 150.00 |"]:
        assert line in lines, line
    assert "the best mean and, on its own, the smallest std" in lines[-1]
    latex = table1_latex(table).splitlines()
    for line in [r"default & $122.00~\pm~2.83$ & $\textbf{112.00}~\pm~\textbf{2.83}$ \\",
                 r"$\rho=1$ & $\textbf{118.00}~\pm~1.41$ & $113.00~\pm~\textbf{2.83}$ \\",
                 r"default + clip & $\textbf{131.00}~\pm~\textbf{1.41}$ & $126.00~\pm~\textbf{1.41}$ \\"]:
        assert line in latex, line
    with pytest.raises(ValueError, match="bold"):
        table1_markdown(table, bold="best")


# --- Figure 4 --------------------------------------------------------------------------------

def _history(values) -> pd.DataFrame:
    epochs = range(1, len(values) + 1)
    return pd.DataFrame({"epoch": epochs, "loss": 5.0, "val_loss": np.log(values), "val_perplexity": values,
                         "test_perplexity": values})


HISTORIES = {
    ("fig4", 6, "lsc", 0.0, 1): _history([300.0, 200.0]),
    ("fig4", 3, "default", 1, 0): _history([280.0, 190.0, 150.0]),  # clip as an int: still 1.0
    ("fig4", 3, "default", 0.0, 0): _history([250.0, 180.0]),
    ("fig4", 3, "lsc_half", 0.0, 0): pd.DataFrame(),  # zero-byte history.csv: diverged in epoch 1
    ("fig4", 6, "lsc", 0.0, 0): pd.DataFrame(columns=["epoch", "val_perplexity"]),  # header only
    ("table1", 3, "default", 0.0, 0): _history([400.0]),  # another setup
}


def test_fig4_curves_filters_setup_and_skips_empty_histories():
    curves = fig4_curves(HISTORIES)
    assert list(curves.columns) == ["setup", "depth", "variant", "clip", "seed", "epoch", "val_perplexity"]
    assert list(curves.itertuples(index=False, name=None)) == [
        ("fig4", 3, "default", 0.0, 0, 1, 250.0), ("fig4", 3, "default", 0.0, 0, 2, 180.0),
        ("fig4", 3, "default", 1.0, 0, 1, 280.0), ("fig4", 3, "default", 1.0, 0, 2, 190.0),
        ("fig4", 3, "default", 1.0, 0, 3, 150.0),
        ("fig4", 6, "lsc", 0.0, 1, 1, 300.0), ("fig4", 6, "lsc", 0.0, 1, 2, 200.0)]
    assert set(fig4_curves(HISTORIES, setup=None)["setup"]) == {"fig4", "table1"}
    assert fig4_curves(HISTORIES, setup="table1")["val_perplexity"].tolist() == [400.0]
    none = fig4_curves({})
    assert none.empty and list(none.columns) == list(curves.columns)


def test_fig4_curves_refuses_bad_input():
    with pytest.raises(ValueError, match=r"\('fig4', 3, 'lsc', 0.0, 0\) lacks columns \['val_perplexity'\]"):
        fig4_curves({("fig4", 3, "lsc", 0.0, 0): pd.DataFrame({"epoch": [1], "val_loss": [5.0]})})
    with pytest.raises(ValueError, match="is not a"):
        fig4_curves({("fig4", 3, "lsc"): _history([1.0])})


def _assert_figures(pdf: Path, png: Path) -> None:
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1_000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1_000


def _many_curves() -> pd.DataFrame:
    histories = {}
    for depth in (6, 3):
        for variant in ("lsc_unbalanced", "mystery", "default", "lsc", "lsc_half"):
            for clip in (0.0, 1.0):
                for seed in (0, 1):
                    start = 250 + 10 * seed + 5 * clip
                    values = [start, start - 80, start - 120]
                    histories[("fig4", depth, variant, clip, seed)] = _history(values)
    return fig4_curves(histories)


def test_fig4_panels_colours_styles_and_legend(tmp_path):
    fig = make_figure(_many_curves())
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["3 layers", "6 layers"]
    assert axes[0].get_ylabel() == "Validation Perplexity" and axes[1].get_xlabel() == "Epoch"
    assert axes[0].get_ylim() == (100, 300) and axes[1].get_ylim() == (100, 300)
    assert len(axes[0].get_lines()) == 5 * 2 * 2  # one per run: no averaging
    styles = {(to_rgba(line.get_color()), line.get_linestyle()) for line in axes[0].get_lines()}
    for colour in [(.73, .43, .59), (.43, .43, .59), (.43, .83, .59), "k"]:
        assert {(to_rgba(colour), "-"), (to_rgba(colour), "--")} <= styles
    assert len({c for c, _ in styles}) == 5  # the unknown variant gets a colour of its own
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["default", r"$\rho_t=1$", r"$\rho_t=0.5$", r"$\overline{\rho}_t=0.5$", "mystery",
                      "no clipping", "+ clip"]
    auto = make_figure(_many_curves(), ylim=None).axes[0].get_ylim()
    assert auto[0] < 130 and auto[1] > 265  # data range 130 .. 265
    pdf, png = tmp_path / "out" / "fig4.pdf", tmp_path / "out" / "fig4.png"
    plot_fig4(_many_curves(), pdf, png)
    _assert_figures(pdf, png)
    assert sorted(p.name for p in pdf.parent.iterdir()) == ["fig4.pdf", "fig4.png"]  # no leftovers


def test_fig4_empty_curves_draw_a_note(tmp_path):
    fig = make_figure(fig4_curves({}))
    assert [t.get_text() for t in fig.axes[0].texts] == ["no runs yet"]
    plot_fig4(fig4_curves({}), tmp_path / "fig4.pdf", tmp_path / "fig4.png")
    _assert_figures(tmp_path / "fig4.pdf", tmp_path / "fig4.png")
    with pytest.raises(ValueError, match=r"curves lack columns \['seed'\]"):
        plot_fig4(_many_curves().drop(columns="seed"), tmp_path / "x.pdf", tmp_path / "x.png")


# --- the product steps, as the workflow runs them (workflow_scripts/product.py) --------------

def _write_run(root: Path, key: tuple, history: pd.DataFrame | None, folder: str | None = None) -> str:
    setup, depth, variant, clip, seed = key
    run = {"setup": setup, "depth": depth, "variant": variant, "clip": clip, "seed": seed}
    path = root / (folder or f"{setup}/depth{depth}/{variant}/clip{clip}/seed{seed}")
    write_json(path / "metrics.json", {"run": run, "settings": {}, "result": {"status": "completed"}})
    if history is not None:
        if history.empty and not len(history.columns):
            (path / "history.csv").write_bytes(b"")  # as a run that diverged in epoch 1 leaves it
        else:
            write_csv(path / "history.csv", history)
    return str(path / "metrics.json")


def test_fig4_steps_end_to_end(tmp_path):
    metrics = [_write_run(tmp_path / "lru", key, history) for key, history in HISTORIES.items()]
    metrics.append(_write_run(tmp_path / "lru", ("table1", 6, "lsc", 1.0, 0), None))  # not read
    out = tmp_path / "out" / "fig4_curves.csv"
    requests = tmp_path / "requests"
    run_step("fig4_data", requests, {"setup": "fig4"}, metrics=metrics, out=out)
    written = pd.read_csv(out, dtype={"setup": str, "variant": str})
    pd.testing.assert_frame_equal(written, fig4_curves(HISTORIES), check_dtype=False)
    pdf, png = tmp_path / "fig" / "fig4.pdf", tmp_path / "fig" / "fig4.png"
    figure = {"pdf": pdf, "png": png}
    run_step("plot_fig4", requests, curves=out, **figure)
    _assert_figures(pdf, png)
    first = pdf.read_bytes(), png.read_bytes()
    run_step("plot_fig4", requests, {"ylim": None}, curves=out, **figure)
    assert pdf.read_bytes() != first[0]  # automatic y range: another figure
    run_step("plot_fig4", requests, {"ylim": [100, 300]}, curves=out, **figure)
    assert (pdf.read_bytes(), png.read_bytes()) == first  # deterministic bytes
    for bad in ({"ylim": ["abc", 1]}, {"ylim": [300, 100]}, {"ylim": [1]}, {"ylimit": None}):
        with pytest.raises(ValueError, match="ylim"):
            run_step("plot_fig4", requests, bad, curves=out, **figure)
    empty = tmp_path / "empty.csv"
    run_step("fig4_data", requests, {"setup": "fig4"}, metrics=[], out=empty)  # no runs yet
    run_step("plot_fig4", requests, curves=empty, **figure)
    _assert_figures(pdf, png)


def test_fig4_data_refuses_missing_history_and_duplicate_runs(tmp_path):
    lonely = _write_run(tmp_path / "a", ("fig4", 3, "lsc", 0.0, 0), None)
    with pytest.raises(ValueError, match=rf"{re.escape(lonely)} has no history.csv"):
        histories_of([lonely], "fig4")
    first = _write_run(tmp_path / "b", ("fig4", 3, "lsc", 0, 0), _history([200.0]), folder="one")
    second = _write_run(tmp_path / "b", ("fig4", 3, "lsc", 0.0, 0), _history([200.0]), folder="two")
    clash = rf"{re.escape(second)}: a second metrics.json .* \(first: {re.escape(first)}\)"
    with pytest.raises(ValueError, match=clash):
        run_step("fig4_data", tmp_path / "requests", {"setup": "fig4"}, metrics=[first, second],
                 out=tmp_path / "curves.csv")
    assert not (tmp_path / "curves.csv").exists()


def test_table1_step_end_to_end(tmp_path):
    write_csv(tmp_path / "summary.csv", _summary(TABLE_RUNS))
    out = {name: tmp_path / "out" / name for name in ["table1.csv", "table1.md", "table1.tex"]}
    files = {"summary_csv": tmp_path / "summary.csv", "out": out["table1.csv"], "markdown_out": out["table1.md"],
             "latex_out": out["table1.tex"]}
    run_step("table1", tmp_path / "requests", {"setup": "table1"}, **files)
    table = pd.read_csv(out["table1.csv"])
    assert len(table) == len(ROW_ORDER) and table["val_best"].sum() == 4
    assert "| ρ=1 + clip | 140.00 | **124.00** |" in out["table1.md"].read_text()
    assert r"$\textbf{124.00}$" in out["table1.tex"].read_text()
    assert "| ρ=1 | **118.00** ± 1.41 |" in out["table1.md"].read_text()  # the reference's bold
    run_step("table1", tmp_path / "requests", {"setup": "table1", "bold": "mean"}, **files)  # lru.table1_bold
    assert "| ρ=1 | **118.00 ± 1.41** |" in out["table1.md"].read_text()


def test_table1_says_which_evaluation_its_runs_used():
    summary = _summary(TABLE_RUNS)
    unrecorded = table1(summary)
    assert set(unrecorded["evaluation"]) == {"unrecorded"}
    assert "not recorded" in table1_markdown(unrecorded).splitlines()[-1]
    table = table1(summary.assign(evaluation="reference"))
    assert set(table["evaluation"]) == {"reference"}
    note = table1_markdown(table).splitlines()[-1]
    assert "Evaluation: reference (" in note and "N//B//maxlen - 2 windows" in note and "full" not in note
    mixed = summary.assign(evaluation=np.where(summary["seed"] == 0, "reference", "full"))
    assert "reference+full" not in set(table1(mixed)["evaluation"])  # sorted: full+reference
    assert "full+reference" in set(table1(mixed)["evaluation"])
