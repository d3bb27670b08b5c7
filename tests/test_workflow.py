"""The workflow itself: the paper's DAG, config validation, the offline smoke run end
to end, and which jobs an edit makes stale."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from lscrepro.workflow.spec import FAMILIES
from workflow_utils import REPO, copy_workflow, planned_jobs, snakemake

SMOKE = ("--configfile", "config/smoke.yaml")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.mark.parametrize("overlay", [(), ("--configfile", "config/reference.yaml")],
                         ids=["config", "reference_overlay"])
def test_paper_grid_plans_one_pretraining_per_lr_independent_key(workdir, overlay):
    # the reference overlay plans the same jobs, under results/reference/
    if overlay:
        from lscrepro.workflow.spec import output_roots
        from lscrepro.workflow.status import load_config

        merged = load_config([workdir / overlay[1]], base=workdir / "config/config.yaml")
        assert output_roots(merged) == ("results/reference", "logs/reference")
    jobs = planned_jobs(workdir, "all", *overlay)
    # 3 datasets x 3 activations x 4 seeds, shared by the 7 learning rates
    assert jobs["pretrain_ffn"] == 36
    # 3 datasets x 3 activations x 3 variants x 7 learning rates x 4 seeds
    assert jobs["train_ffn"] == 756
    assert jobs["summarize_ffn"] == jobs["fig2_data"] == jobs["plot_fig2"] == jobs["plot_fig1"] == 1
    # deep RNNs: 3 tasks x 6 nets x 2 depths x 4 seeds, pre-trained to rho 1 and 0.5, and
    # trained from each and from scratch
    assert jobs["pretrain_rnn"] == 288 and jobs["train_rnn"] == 432
    assert jobs["summarize_rnn"] == jobs["fig3_data"] == jobs["plot_fig3"] == 1
    # ResLRU: 2 setups (Figure 4, Table 1) x 2 depths x 4 seeds, pre-trained to rho 1, 0.5 and
    # unbalanced (clipping does not change a pre-training), each trained with and without
    # clipping, and from scratch with and without
    assert jobs["pretrain_lru"] == 2 * 2 * 4 * 3 == 48
    assert jobs["train_lru"] == 2 * 2 * 4 * 4 * 2 == 128
    assert jobs["summarize_lru"] == jobs["fig4_data"] == jobs["plot_fig4"] == jobs["table1"] == 1
    # one claims table from every family's runs
    assert jobs["claims"] == 1
    # one fetch per dataset (mnist, cifar10, cifar100, ptb, shd) and one prepared cache per
    # preparation (sl_mnist is made from the mnist files), shared by all their jobs
    assert jobs["fetch_dataset"] == 5 and jobs["prepare_dataset"] == 6


def test_lsc_training_depends_on_its_pretraining_and_others_do_not(workdir):
    # the DAG names the pre-training job the training job needs
    dag = snakemake(workdir, "--dag", "--forceall", "results/ffn/mnist/sin/lsc/lr0.001/seed2/metrics.json").stdout
    pretrain = re.search(r'label = "pretrain_ffn\\n([^"]*)"', dag)
    assert pretrain is not None, dag
    # --dag labels a job with the wildcards that tell it apart from the others
    assert {"activation: sin", "variant: lsc", "seed: 2"} <= set(pretrain.group(1).split("\\n")), dag
    glorot = planned_jobs(workdir, "--forceall", "results/ffn/mnist/sin/glorot/lr0.001/seed2/metrics.json")
    assert "pretrain_ffn" not in glorot


@pytest.mark.parametrize("variant, pretrained", [("lsc_half", True), ("lsc", True), ("default", False)])
def test_only_the_rnn_lsc_variants_load_weights(workdir, variant, pretrained):
    jobs = planned_jobs(workdir, "--forceall", f"results/rnn/heidelberg/maLSNN/depth5/{variant}/seed1/metrics.json")
    assert jobs.get("pretrain_rnn", 0) == int(pretrained) and jobs["train_rnn"] == 1


def test_a_run_shows_progress_not_a_block_per_job(workdir):
    out = snakemake(workdir, "--cores", "1", "results/demo/code/ffn_train.json", *SMOKE)
    console = out.stdout + out.stderr
    assert "steps (100%) done" in console
    assert "wildcards:" not in console and "rule code_stamp:" not in console, console


def test_lint_is_clean(workdir):
    out = snakemake(workdir, "--lint", check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_snakefiles_are_formatted():
    out = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("old, new, key", [
    ("activations: [relu, cos]", "activations: [relu, tanh]", "activations"),
    ("learning_rates: [1.0e-2, 1.0e-3]", "learning_rates: [1.0e-2, -1.0e-3]", "learning_rates"),
    ("    width: 32", "    width: many", "width"),
])
def test_bad_config_fails_validation_naming_the_key(workdir, old, new, key):
    text = (workdir / "config/smoke.yaml").read_text()
    assert old in text
    bad = workdir / f"bad_{key}.yaml"
    bad.write_text(text.replace(old, new))
    out = snakemake(workdir, "--dry-run", "--configfile", str(bad), check=False)
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "Error validating config file" in message
    assert f"['{key}']" in message


@pytest.mark.slow
class TestSmokeRun:
    @pytest.fixture(scope="class")
    def smoke(self, tmp_path_factory):
        workdir = copy_workflow(tmp_path_factory.mktemp("smoke"))
        snakemake(workdir, "--cores", "2", *SMOKE)
        return workdir

    def test_figures_and_summary_exist(self, smoke):
        for name in ("fig1", "fig2"):
            for ext in ("pdf", "png"):
                assert (smoke / f"results/demo/figures/{name}.{ext}").stat().st_size > 1000
        summary = pd.read_csv(smoke / "results/demo/ffn/summary.csv")
        # 3 datasets x 2 activations x 3 variants x 2 learning rates x 2 seeds
        assert len(summary) == 72
        assert set(summary["variant"]) == {"glorot", "he", "lsc"}
        assert summary["test_accuracy"].between(0, 1).all()
        lsc = summary[summary["variant"] == "lsc"]
        assert lsc["lsc_radius_after"].notna().all()
        assert summary[summary["variant"] != "lsc"]["lsc_radius_after"].isna().all()

    def test_pretraining_moves_the_radius_towards_one(self, smoke):
        reports = sorted(smoke.glob("results/demo/ffn/pretrained/*/*/lsc/seed*/pretrain.json"))
        assert len(reports) == 12
        for path in reports:
            report = json.loads(path.read_text())["result"]
            assert abs(report["radius_after_mean"] - 1) < abs(report["radius_before_mean"] - 1), path

    def test_every_network_is_pre_trained_and_figure_3_is_drawn(self, smoke):
        reports = sorted(smoke.glob("results/demo/rnn/pretrained/*/*/depth2/lsc*/seed0/pretrain.json"))
        nets = {path.parts[-5] for path in reports}
        assert len(reports) == 36 and nets == {"LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"}
        for path in reports:
            radii = json.loads(path.read_text())["result"]["radius_after_per_kind"]
            assert {"rec", "depth", "enc"} <= set(radii), path
        wins = pd.read_csv(smoke / "results/demo/rnn/fig3_wins.csv")
        # 2 panels x 4 bars x depth 2; every comparison has pairs
        assert len(wins) == 8 and (wins["pairs"] > 0).all()
        assert (smoke / "results/demo/figures/fig3.png").stat().st_size > 10_000

    def test_the_lru_is_pre_trained_and_figure_4_and_table_1_are_drawn(self, smoke):
        reports = sorted(smoke.glob("results/demo/lru/pretrained/*/depth2/lsc*/seed0/pretrain.json"))
        assert len(reports) == 6
        for path in reports:
            result = json.loads(path.read_text())["result"]
            # 20 iterations at width 16: each radius ends near its target, or nearer than it
            # started (a depth radius that starts within 0.01 of its target may drift a little)
            for kind, target in result["targets"].items():
                before, after = result["radius_before_per_kind"][kind], result["radius_after_per_kind"][kind]
                assert abs(after - target) < max(abs(before - target), 0.1), (path, kind, before, after)
        curves = pd.read_csv(smoke / "results/demo/lru/fig4_curves.csv")
        assert len(curves) == 8 * 2 and set(curves["setup"]) == {"fig4"}  # 8 runs x 2 epochs
        assert (smoke / "results/demo/figures/fig4.png").stat().st_size > 10_000
        table = pd.read_csv(smoke / "results/demo/tables/table1.csv")
        assert len(table) == 8 and table["val_mean"].notna().all()
        assert "**" in (smoke / "results/demo/tables/table1.md").read_text()
        assert r"\textbf" in (smoke / "results/demo/tables/table1.tex").read_text()

    def test_the_paper_grids_results_are_left_alone(self, smoke):
        assert not (smoke / "results/ffn").exists() and not (smoke / "results/figures").exists()

    def test_the_report_holds_every_figure_with_its_caption(self, smoke):
        snakemake(smoke, "--report", "results/demo/report.html", *SMOKE)
        html = (smoke / "results/demo/report.html").read_text()
        for text in ("fig1.png", "fig2.png", "fig2_data.csv", "fig3.png", "table.csv", "status.csv", "summary.csv",
                     "fig4.png", "table1.csv", "ResLRU on word-level PTB", "claims.csv",
                     "One row per claim and grid cell", "higher test accuracy than Glorot initialisation",
                     "PascalRNN (L = 10", "Test accuracy of 6-layer dense", "offline demo grid"):
            assert text in html, text

    def test_the_claims_cover_every_family_and_a_rerun_writes_the_same_bytes(self, smoke):
        claims = smoke / "results/demo/claims.csv"
        table = pd.read_csv(claims)
        assert set(table["family"]) == {"ffn", "rnn", "lru"}
        assert set(table["claim"]) == {"Figure 2", "Figure 3", "Figure 4", "Table 1", "Pre-training"}
        # every claim ran on the demo grid: each has its n, an interval and a verdict
        assert (table["n"] > 0).all() and table[["ci_low", "ci_high"]].notna().all().all()
        assert table["verdict"].isin(["holds", "does not hold", "inconclusive"]).all()
        assert "cannot test the paper" in (smoke / "results/demo/claims.md").read_text()
        before = claims.read_bytes()
        snakemake(smoke, "results/demo/claims.csv", "--cores", "1", "--forcerun", "claims", *SMOKE)
        assert claims.read_bytes() == before

    def test_status_counts_every_job(self, smoke):
        status = pd.read_csv(smoke / "results/demo/status.csv")
        jobs = status[status["kind"] != "figure"]
        # Figure 2: 12 pre-trainings, 72 trainings; deep RNNs: 36 pre-trainings, 54 trainings;
        # ResLRU: 6 and 16 (a demo run may diverge: it is kept, and counted as such)
        assert len(jobs) == 84 + 36 + 54 + 6 + 16
        assert set(jobs["state"]) <= {"done", "converged", "not_converged", "diverged"}
        assert (status[status["kind"] == "figure"]["state"] == "done").all()

    def test_status_summaries_and_claims_give_each_pretraining_one_verdict(self, smoke):
        status = pd.read_csv(smoke / "results/demo/status.csv", dtype=str)
        claims = pd.read_csv(smoke / "results/demo/claims.csv")
        for family, jobs in status[status["kind"] == "pretrain"].groupby("family"):
            keys = FAMILIES[family].pretrain_keys
            summary = pd.read_csv(smoke / f"results/demo/{family}/summary.csv", dtype=str)
            judged = summary.dropna(subset=["lsc_verdict"]).drop_duplicates(keys)
            by_status = {tuple(row[keys]): row["state"] for _, row in jobs.iterrows()}
            by_summary = {tuple(row[keys]): row["lsc_verdict"] for _, row in judged.iterrows()}
            assert by_status == by_summary, family
            pretraining = claims[(claims["claim"] == "Pre-training") & (claims["family"] == family)]
            for _, row in pretraining.iterrows():
                converged = jobs[(jobs["variant"] == row["comparison"]) & (jobs["state"] == "converged")]
                assert row["wins"] == len(converged), (family, row["comparison"])

    def test_the_docs_show_this_runs_numbers(self, smoke):
        # README.md and docs/*.md show the demo's Table 1, RNN table, claims and status output in
        # blocks that workflow_scripts/docs_numbers.py writes from a run; this run must agree
        from lscrepro.docs_numbers import Run, check_blocks

        problems = check_blocks(Run(smoke, "results/demo", "config/smoke.yaml"))
        assert not problems, "\n".join(problems)

    def test_a_finished_run_plans_nothing(self, smoke):
        assert planned_jobs(smoke, *SMOKE) == {}

    @staticmethod
    def plan_after_edit(workdir, code):
        """The plan after an edit that changes what the module does (a comment would not
        rerun anything: test_comment_and_docstring_edits_rerun_nothing)."""
        path = workdir / code
        original = path.read_text()
        path.write_text(original + "\n_EDITED = True\n")
        try:
            return planned_jobs(workdir, *SMOKE)
        finally:
            path.write_text(original)

    def test_comment_and_docstring_edits_rerun_nothing(self, smoke):
        # every module a job, a summary or a figure runs: a comment on top and at the end,
        # a reworded module docstring, and a changed mtime; the digests ignore all of it
        modules = sorted(smoke.glob("lscrepro/**/*.py")) + sorted(smoke.glob("workflow_scripts/*.py"))
        originals = {path: path.read_text() for path in modules}
        try:
            for path, text in originals.items():
                assert text.startswith('"""'), path  # the module docstring comes first
                path.write_text('# an edit\n"""Reworded. ' + text[3:] + "\n# another edit\n")
            assert planned_jobs(smoke, *SMOKE) == {}
        finally:
            for path, text in originals.items():
                path.write_text(text)

    def test_a_catalog_title_edit_redraws_tables_and_figures_and_reruns_no_job(self, smoke):
        path = smoke / "lscrepro/catalog/tasks.py"
        original = path.read_text()
        assert original.count('title="PTB"') == 1
        path.write_text(original.replace('title="PTB"', 'title="Penn Treebank"'))
        try:
            planned = planned_jobs(smoke, *SMOKE)
        finally:
            path.write_text(original)
        assert "fig3_data" in planned, planned  # the RNN table shows the title
        jobs = [rule for rule in planned if rule.startswith(("pretrain_", "train_", "summarize_", "code_stamp"))]
        assert not jobs, planned

    def test_weights_deleted_after_planning_get_the_projects_message(self, smoke, tmp_path):
        # code_stamp runs before the training that loads the weights: a `python` first on
        # PATH deletes them when the stamp is written, i.e. after Snakemake planned the run
        weights = smoke / "results/demo/ffn/pretrained/mnist/relu/lsc/seed0/weights.pt"
        run = "results/demo/ffn/mnist/relu/lsc/lr0.01/seed0"
        kept = [weights, smoke / "results/demo/code/ffn_train.json", smoke / run / "metrics.json",
                smoke / run / "history.csv"]
        for index, path in enumerate(kept):
            shutil.copy2(path, tmp_path / str(index))
        (tmp_path / "bin").mkdir()
        shim = tmp_path / "bin/python"
        shim.write_text(f'#!/bin/sh\ncase "$*" in *code_stamp.py*) rm -f {weights};; esac\n'
                        f'exec {sys.executable} "$@"\n')
        shim.chmod(0o755)
        try:
            for path in kept[1:]:
                path.unlink()
            out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--latency-wait", "1",
                                  f"{run}/metrics.json", *SMOKE], cwd=smoke, capture_output=True, text=True,
                                 env={**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"})
            message = out.stdout + out.stderr
            assert out.returncode != 0 and "filesystem latency" in message, message
            assert ("The job pretrain_ffn (dataset=mnist activation=relu variant=lsc seed=0) makes them. "
                    "Rerun the same snakemake command") in message, message
        finally:
            for index, path in enumerate(kept):
                shutil.copy2(tmp_path / str(index), path)  # with their mtimes: nothing is stale
        assert planned_jobs(smoke, *SMOKE) == {}

    @pytest.mark.parametrize("code, rule", [
        ("lscrepro/plotting/fig2.py", "plot_fig2"),
        ("lscrepro/plotting/fig1.py", "plot_fig1"),
        ("lscrepro/plotting/fig3.py", "plot_fig3"),
        ("lscrepro/plotting/fig4.py", "plot_fig4"),
    ])
    def test_editing_plotting_code_replots_only_that_figure(self, smoke, code, rule):
        # and the status table, which lists the figures
        assert set(self.plan_after_edit(smoke, code)) - {"all"} == {rule, "status"}

    @pytest.mark.parametrize("code", ["lscrepro/results/claims.py", "lscrepro/results/paired.py"])
    def test_editing_claims_code_reruns_only_the_claims(self, smoke, code):
        # nothing reads claims.csv but the report, which snakemake --report rebuilds
        assert set(self.plan_after_edit(smoke, code)) - {"all"} == {"claims"}

    def test_editing_the_lsc_loop_reruns_pretraining_and_its_trainings_only(self, smoke):
        jobs = self.plan_after_edit(smoke, "lscrepro/lsc/loop.py")
        # 3 datasets x 2 activations x 2 seeds pre-trainings; their 2 learning rates each.
        # The deep RNNs' recurrent LSC is another module: none of their jobs rerun.
        assert jobs["pretrain_ffn"] == 12 and jobs["train_ffn"] == 24
        assert "pretrain_rnn" not in jobs and "train_rnn" not in jobs
        assert "pretrain_lru" not in jobs and "train_lru" not in jobs
        assert "prepare_dataset" not in jobs and "fig1_numbers" not in jobs

    def test_editing_the_lru_lsc_reruns_its_pretrainings_and_their_trainings_only(self, smoke):
        jobs = self.plan_after_edit(smoke, "lscrepro/lsc/lru.py")
        # 2 setups x 3 LSC variants; each trained with and without clipping
        assert jobs["pretrain_lru"] == 6 and jobs["train_lru"] == 12
        assert {"plot_fig4", "table1"} <= set(jobs)
        assert not {"pretrain_ffn", "train_ffn", "pretrain_rnn", "train_rnn", "plot_fig3"} & set(jobs)

    def test_editing_a_deep_rnn_reruns_that_family_only(self, smoke):
        jobs = self.plan_after_edit(smoke, "lscrepro/models/rnn.py")
        assert jobs["pretrain_rnn"] == 36 and jobs["train_rnn"] == 54
        assert "pretrain_ffn" not in jobs and "train_ffn" not in jobs and "train_lru" not in jobs

    def test_editing_the_training_loop_reruns_training_only(self, smoke):
        jobs = self.plan_after_edit(smoke, "lscrepro/training.py")
        assert jobs["train_ffn"] == 72 and jobs["train_rnn"] == 54 and jobs["train_lru"] == 16
        assert not {"pretrain_ffn", "pretrain_rnn", "pretrain_lru"} & set(jobs)
