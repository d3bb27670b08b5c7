"""The claims table: hand-made summaries whose answer is known -> verdicts, intervals, not-run
rows for what did not run, the counts status prints, the script's files (byte-identical on
a rerun) and the report's front page."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from product_utils import run_step

from lscrepro.results.claims import (
    COLUMNS, claims_markdown, claims_table, fig2_claims, fig3_claims, lru_claims, pretraining_claims,
    verdict_counts,
)
from lscrepro.io import write_csv
from lscrepro.results.fig3 import matched_wins, rnn_runs
from lscrepro.results.paired import median_ci, seed_of, verdict, wilcoxon_p, wilson

ROOT = Path(__file__).resolve().parents[1]


def _ffn(differences: dict[str, list[float]], base: float = 0.5) -> pd.DataFrame:
    """One dataset x activation; per baseline variant, LSC minus that baseline in each pair of
    2 learning rates x len/2 seeds. Glorot is at ``base``, He at ``base`` + the glorot
    difference minus the he one, so that both differences hold."""
    rows = []
    n = len(differences["glorot"])
    for i, (lr, seed) in enumerate(itertools.product([1e-2, 1e-3], range(n // 2))):
        lsc = base + differences["glorot"][i]
        values = {"glorot": base, "he": lsc - differences["he"][i], "lsc": lsc}
        for variant, accuracy in values.items():
            rows.append({"dataset": "mnist", "activation": "sin", "variant": variant, "lr": lr, "seed": seed,
                         "status": "completed", "test_accuracy": accuracy,
                         "lsc_radius_after": 1.0 if variant == "lsc" else math.nan,
                         "lsc_target": 1.0 if variant == "lsc" else math.nan,
                         "lsc_status": "converged" if variant == "lsc" else math.nan,
                         "lsc_tolerance": 0.02 if variant == "lsc" else math.nan,
                         "lsc_verdict": "converged" if variant == "lsc" else math.nan})
    return pd.DataFrame(rows)


def _by_comparison(rows: list[dict]) -> dict[str, dict]:
    return {row["comparison"]: row for row in rows}


def test_lsc_better_in_every_one_of_8_pairs_holds():
    rows = _by_comparison(fig2_claims(_ffn({"glorot": [0.1, 0.2, 0.05, 0.3, 0.1, 0.15, 0.2, 0.1],
                                            "he": [0.01] * 8})))
    for comparison in ("lsc vs glorot", "lsc vs he"):
        row = rows[comparison]
        assert row["verdict"] == "holds", row
        assert (row["n"], row["runs"], row["wins"], row["win_fraction"]) == (8, 16, 8, 1.0)
        assert 0 < row["ci_low"] <= row["estimate"] <= row["ci_high"]
        assert row["p_value"] == pytest.approx(2 / 2 ** 8)  # exact Wilcoxon: all 8 signs positive
    assert rows["lsc vs glorot"]["estimate"] == pytest.approx(0.125)  # the median of the 8
    assert rows["lsc vs he"]["estimate"] == pytest.approx(0.01)


def test_ties_and_mixed_signs_are_inconclusive_and_worse_does_not_hold():
    rows = _by_comparison(fig2_claims(_ffn({"glorot": [0, 0, 0, 0.1, -0.1, 0.2, -0.2, 0],
                                            "he": [-0.1, -0.2, -0.1, -0.3, -0.1, -0.2, -0.1, -0.1]})))
    mixed = rows["lsc vs glorot"]
    assert mixed["verdict"] == "inconclusive"
    assert mixed["wins"] == 2 and mixed["estimate"] == 0  # ties are not wins
    assert mixed["ci_low"] < 0 < mixed["ci_high"]
    assert rows["lsc vs he"]["verdict"] == "does not hold" and rows["lsc vs he"]["ci_high"] < 0


def test_fewer_than_three_pairs_are_inconclusive_whatever_the_interval():
    row = _by_comparison(fig2_claims(_ffn({"glorot": [0.3, 0.4], "he": [0.3, 0.4]})))["lsc vs glorot"]
    assert row["n"] == 2 and row["ci_low"] > 0 and row["verdict"] == "inconclusive"
    assert verdict(2, 0.1, 0.2, 0.0, True) == "inconclusive"


def test_a_missing_family_is_not_run_never_failing():
    table = claims_table(ffn=_ffn({"glorot": [0.1] * 8, "he": [0.1] * 8}))
    assert list(table.columns) == COLUMNS
    absent = table[table["family"] != "ffn"]
    assert set(absent["verdict"]) == {"not run"} and (absent["n"] == 0).all()
    assert set(absent["claim"]) == {"Figure 3", "Figure 4", "Table 1", "Pre-training"}
    assert set(absent["detail"]) == {"family not in the config"}
    nothing = claims_table()
    assert set(nothing["verdict"]) == {"not run"} and "does not hold" not in set(nothing["verdict"])


def test_a_missing_variant_or_setup_is_not_run():
    summary = _ffn({"glorot": [0.1] * 8, "he": [0.1] * 8})
    rows = _by_comparison(fig2_claims(summary[summary["variant"] != "he"]))
    assert rows["lsc vs he"]["verdict"] == "not run" and rows["lsc vs he"]["detail"] == "no he runs"
    assert rows["lsc vs glorot"]["verdict"] == "holds"
    lru = _lru({"lsc": [-5, -6, -7, -8]}, setups=("fig4",))
    table1 = [row for row in lru_claims(lru) if row["claim"] == "Table 1"]
    assert len(table1) == 3 * 2 and {row["verdict"] for row in table1} == {"not run"}
    assert {row["detail"] for row in table1} == {"no table1 runs"}
    half = [row for row in lru_claims(lru)
            if row["comparison"] == "lsc_half vs default" and row["claim"] == "Figure 4"]
    assert {row["detail"] for row in half} == {"no lsc_half runs"}


def _lru(differences: dict[str, list[float]], setups=("fig4", "table1"), base: float = 200.0) -> pd.DataFrame:
    """Per setup, depth 3 and clip 0: default at ``base``; each variant at base + its
    difference in seed i (validation and test alike)."""
    rows = []
    for setup in setups:
        seeds = len(next(iter(differences.values())))
        for variant, values in {"default": [0.0] * seeds, **differences}.items():
            for seed, difference in enumerate(values):
                rows.append({"setup": setup, "depth": 3, "variant": variant, "clip": 0.0, "seed": seed,
                             "val_perplexity": base + difference, "test_perplexity": base + difference + 1,
                             "lsc_radius_after": math.nan if variant == "default" else 0.5,
                             "lsc_target": math.nan if variant == "default" else 0.5,
                             "lsc_status": math.nan if variant == "default" else "converged",
                             "lsc_tolerance": math.nan if variant == "default" else 0.08,
                             "lsc_verdict": math.nan if variant == "default" else "converged"})
    return pd.DataFrame(rows)


def test_lower_perplexity_in_every_seed_holds_for_the_lru():
    rows = lru_claims(_lru({"lsc": [-5, -6, -7, -8, -5, -6, -7, -8], "lsc_half": [5, 6, 7, 8, 5, 6, 7, 8],
                            "lsc_unbalanced": [1, -1, 0, 2, 1, -1, 0, 2]}, setups=("table1",)))
    verdicts = {(row["comparison"], row["metric"]): row["verdict"] for row in rows if row["claim"] == "Table 1"}
    for metric in ("validation perplexity", "test perplexity"):
        assert verdicts[("lsc vs default", metric)] == "holds"  # lower perplexity is better
        assert verdicts[("lsc_half vs default", metric)] == "does not hold"
        assert verdicts[("lsc_unbalanced vs default", metric)] == "inconclusive"


def test_four_of_four_seeds_is_inconclusive_however_clear():
    """Table 1 has 4 seeds: the bootstrap interval of 4 negative differences excludes 0, but
    the Wilcoxon p is 2/2**4 = 0.125, so the verdict stays inconclusive."""
    rows = lru_claims(_lru({"lsc": [-5, -6, -7, -8]}, setups=("table1",)))
    row = next(r for r in rows if r["claim"] == "Table 1" and r["comparison"] == "lsc vs default")
    assert row["ci_high"] < 0 and row["p_value"] == pytest.approx(0.125)
    assert row["verdict"] == "inconclusive"
    row = next(r for r in rows if r["comparison"] == "lsc vs default" and r["claim"] == "Table 1")
    assert row["cell"] == "Table 1, depth 3, no clipping" and row["n"] == 4 and row["wins"] == 4
    assert row["estimate"] == pytest.approx(-6.5)


def _rnn_summary(rows) -> pd.DataFrame:
    """rows of (task, net, depth, variant, seed, test metric)."""
    records = []
    for task, net, depth, variant, seed, value in rows:
        name = "perplexity" if task == "wordptb" else "mode_accuracy"
        records.append({"task": task, "net": net, "depth": depth, "variant": variant, "seed": seed,
                        "status": "diverged" if value is None else "completed", f"test_{name}": value,
                        "lsc_radius_after": {"lsc": 1.0, "lsc_half": 0.5}.get(variant, math.nan),
                        "lsc_target": {"lsc": 1.0, "lsc_half": 0.5}.get(variant, math.nan)})
    return pd.DataFrame(records)


def test_a_diverged_run_counts_as_the_figures_count_it():
    # Figure 3: a diverged run without a finite metric never wins and loses to any finite one
    runs = rnn_runs(_rnn_summary([
        ("heidelberg", "LSTM", 2, "default", 0, 0.5), ("heidelberg", "LSTM", 2, "lsc", 0, None),
        ("heidelberg", "GRU", 2, "default", 0, None), ("heidelberg", "GRU", 2, "lsc", 0, 0.1),
        ("heidelberg", "GRU", 2, "default", 1, 0.5), ("heidelberg", "GRU", 2, "lsc", 1, 0.5),  # a tie
    ]))
    row = _by_comparison(fig3_claims(runs))["all: ρ=1 better than none (no ALIFs)"]
    figure = matched_wins(runs, "all").set_index("comparison").loc["ρ=1 better than none (no ALIFs)"]
    assert (row["wins"], row["n"]) == (int(figure["wins"]), int(figure["pairs"])) == (1, 3)
    assert row["runs"] == 6 and row["verdict"] == "inconclusive"
    # Figure 2: a diverged run with an accuracy counts as any run; one without counts in n,
    # loses, and has no difference (the figure's mean skips it)
    summary = _ffn({"glorot": [0.1] * 8, "he": [0.1] * 8})
    lsc = summary.index[summary["variant"] == "lsc"]
    summary.loc[lsc[0], ["status", "test_accuracy"]] = ["diverged", math.nan]
    summary.loc[lsc[1], "status"] = "diverged"
    row = _by_comparison(fig2_claims(summary))["lsc vs glorot"]
    assert (row["n"], row["wins"], row["verdict"]) == (8, 7, "holds")
    assert row["detail"] == "1 of 8 pairs lack a finite value: not in the difference"


def test_figure_3_per_depth_pooled_and_the_runs_behind_each_bar():
    pairs = [("heidelberg", net, depth, variant, seed, value)
             for net, depth, seed in itertools.product(["LSTM", "GRU"], [2, 5], range(2))
             for variant, value in [("default", 0.5), ("lsc", 0.6), ("lsc_half", 0.7)]]
    rows = fig3_claims(rnn_runs(_rnn_summary(pairs)))
    assert len(rows) == 2 * 4 * 3  # panels x bars x (2 depths and pooled)
    paper = {row["cell"]: row for row in rows if row["comparison"] == "paper: ρ=1 better than none (no ALIFs)"}
    pooled = paper["all depths pooled, (a) the paper's run sets"]
    depth2 = paper["depth 2, (a) the paper's run sets"]
    # the paper's bar takes ρ=1 and ρ=0.5 runs as challengers: 2 per baseline run
    assert (depth2["n"], depth2["wins"], depth2["runs"]) == (8, 8, 12)
    assert (pooled["n"], pooled["wins"], pooled["runs"]) == (16, 16, 24)
    assert pooled["verdict"] == "holds" and pooled["ci_low"] > 0.5
    alif = [row for row in rows if "(ALIFs)" in row["comparison"]]
    assert {row["verdict"] for row in alif} == {"not run"}  # no ALIF nets in this grid


def test_pretraining_counts_jobs_not_trainings_and_the_reference_filter():
    summary = _ffn({"glorot": [0.1] * 8, "he": [0.1] * 8})
    lsc = summary["variant"] == "lsc"
    # seed 0's pre-training (both learning rates train from it) ended off target
    summary.loc[lsc & (summary["seed"] == 0), "lsc_radius_after"] = 1.05
    summary.loc[lsc & (summary["seed"] == 0), "lsc_verdict"] = "not_converged"  # as judge_pretraining
    summary.loc[lsc & (summary["seed"] == 1), "lsc_verdict"] = "not_converged"
    # seed 2's pre-training handed back its initial weights (both its trainings say so)
    summary["lsc_selected_step"] = 40.0
    summary.loc[lsc & (summary["seed"] == 2), "lsc_selected_step"] = 0.0
    (row,) = pretraining_claims("ffn", summary)
    assert (row["n"], row["runs"], row["wins"]) == (4, 4, 2)  # 4 seeds' pre-trainings; 2 reached
    assert row["verdict"] == "inconclusive"
    assert row["detail"] == ("3 of 4 end with the mean radius within their tolerance; 1 of 4 kept their initial "
                             "weights; the reference's filter (final radius more than 0.02 from 1) "
                             "would drop 2 of 8 training runs")
    rows = pretraining_claims("rnn", None)
    assert [row["comparison"] for row in rows] == ["lsc", "lsc_half"]
    assert {row["verdict"] for row in rows} == {"not run"}


def test_statistics_are_seeded_and_known():
    differences = list(np.random.default_rng(0).normal(0.1, 0.2, 10))
    assert median_ci(differences, "a") == median_ci(differences, "a")
    # zlib.crc32: the same in every process, unlike hash()
    assert seed_of("Figure 2|mnist, sin|lsc vs he|test accuracy") == 2108340856
    assert all(math.isnan(v) for v in median_ci([], "a"))
    assert math.isnan(wilcoxon_p([0, 0, 0]))  # only ties: nothing to rank
    low, high = wilson(8, 8)
    assert low == pytest.approx(0.6756, abs=1e-4) and high == 1.0
    assert all(math.isnan(v) for v in wilson(0, 0))
    # a row's interval does not depend on the other families being there
    alone = claims_table(ffn=_ffn({"glorot": differences, "he": [0.1] * 10}))
    both = claims_table(ffn=_ffn({"glorot": differences, "he": [0.1] * 10}), lru=_lru({"lsc": [1, 2, 3, 4]}))
    pd.testing.assert_frame_equal(alone[alone["claim"] == "Figure 2"], both[both["claim"] == "Figure 2"])


def test_the_script_writes_identical_files_and_counts_verdicts(tmp_path, caplog):
    write_csv(tmp_path / "ffn.csv", _ffn({"glorot": [0.1, 0.2, 0.05, 0.3, 0.1, 0.15, 0.2, 0.1], "he": [0.0] * 8}))
    write_csv(tmp_path / "lru.csv", _lru({"lsc": [-5, -6, -7, -8, -5, -6, -7, -8]}))
    outputs = []
    for attempt in range(2):
        out = tmp_path / f"run{attempt}"
        # the claims rule's step, through the product runner as the workflow runs it
        run_step("claims", tmp_path / "requests", {"demo": True},
                 ffn_summary=tmp_path / "ffn.csv", lru_summary=tmp_path / "lru.csv",
                 rnn_runs=tmp_path / "missing.csv", out=out / "claims.csv",
                 markdown_out=out / "claims.md")
        outputs.append([(out / name).read_bytes() for name in ("claims.csv", "claims.md")])
    assert outputs[0] == outputs[1]
    assert "missing.csv does not exist" in caplog.text
    counts = verdict_counts(tmp_path / "run0/claims.csv")
    assert list(counts) == ["holds", "does not hold", "inconclusive", "not run"]
    # Figure 2 vs Glorot holds, vs He (all ties) is inconclusive; lru: ρ=1 holds in both setups
    # and both metrics, the two other targets did not run; rnn: missing file, not run;
    # pre-training: the lru's 16 converged jobs hold, the ffn's 4 (p = 0.125) are inconclusive
    assert counts["holds"] == 1 + 4 + 1 and counts["does not hold"] == 0
    table = pd.read_csv(tmp_path / "run0/claims.csv")
    assert table["n"].notna().all() and table["verdict"].notna().all()
    assert set(table.loc[table["family"] == "rnn", "verdict"]) == {"not run"}
    markdown = (tmp_path / "run0/claims.md").read_text()
    assert "cannot test the paper" in markdown and "| Figure 2 | LSC pre-training gives" in markdown


def test_markdown_rows_match_the_table():
    table = claims_table(ffn=_ffn({"glorot": [0.1] * 8, "he": [0.1] * 8}))
    lines = [line for line in claims_markdown(table).splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + len(table)  # the header, then a row per claim
    assert all(line.count(" | ") == 5 for line in lines)  # 6 cells, no stray pipe
    assert "cannot test the paper" not in claims_markdown(table)


def test_the_report_front_page_opens_with_the_claims_table(tmp_path):
    """Render report/workflow.rst as Snakemake's report does (Jinja with trim_blocks and
    lstrip_blocks, then docutils): the claims table comes first, with its caption."""
    from docutils.core import publish_parts
    from jinja2 import Environment

    table = claims_table(ffn=_ffn({"glorot": [0.1] * 8, "he": [0.1] * 8}))
    write_csv(tmp_path / "claims.csv", table)
    (tmp_path / "claims.md").write_text(claims_markdown(table, demo=True))

    class Result:  # the report's FileRecord: its path is what the page reads
        path = tmp_path / "claims.csv"

    class Snakemake:
        config = {"prefix": "demo", "device": "cpu"}

    def render(files, links=""):  # as Snakemake's report: its categories' link targets appended
        source = (ROOT / "report/workflow.rst").read_text() + links
        environment = Environment(trim_blocks=True, lstrip_blocks=True)
        return environment.from_string(source).render(snakemake=Snakemake, categories={}, files=files)

    text = render([Result], "\n.. _Claims: javascript:app.showCategory('Claims')\n")
    html = publish_parts(text, writer="html")["html_body"]
    assert "system-message" not in html  # docutils found nothing to complain about
    assert html.index("<table") < html.index("Reproduction of")
    assert "The paper's claims on this grid." in html and "cannot test the paper" in html
    assert html.count("<tr>") == 1 + len(table)
    assert "LSC pre-training gives a higher test accuracy than Glorot" in html
    # no claims.csv (a report of a grid that has not reached it): the page as before
    assert render([]).startswith("Reproduction of")
