"""A new figure is a reducer, a drawer and one product entry (docs/operating.md, "A new
figure"): a toy figure, defined and registered only here, runs through the runner and through
the workflow's rule template, from Figure 1's numbers (the demo's cheapest existing input).

This module is also what the toy's steps import at run time (tests.test_toy_figure:...), so
it imports nothing from the tests folder at the top."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from lscrepro.io import write_csv
from lscrepro.results.saving import save_figure
from lscrepro.workflow.outputs import PRODUCTS, Drawer, Product, Step

ROOT = Path(__file__).resolve().parents[1]


def reduce_toy(paths, out, rows: int = 3) -> None:
    """The toy's reducer: the first ``rows`` path counts of Figure 1's panel b."""
    write_csv(out, pd.read_csv(paths).head(rows))


def draw_toy(data, pdf, png) -> None:
    """The toy's drawer: its rows as a line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot(pd.read_csv(data)["log10_paths"])
    save_figure(fig, pdf, png)


TOY = Product(
    reducer=Step("toy_data", "tests.test_toy_figure:reduce_toy", inputs={"paths": "fig1/paths.csv"},
                 outputs={"out": "toy/toy_data.csv"}, settings=lambda config: {"rows": 4}),
    drawer=Drawer("plot_toy", "tests.test_toy_figure:draw_toy", {"data": "out"}, "toy"),
    files=("pdf", "png", "out"), captions={"png": "fig1.rst"})


def test_the_toy_figure_runs_through_the_runner(tmp_path):
    from product_utils import run_step

    products = {"Toy figure": TOY}
    paths = tmp_path / "paths.csv"
    write_csv(paths, pd.DataFrame({"log10_paths": [0.0, 1.0, 2.0, 3.0, 4.0]}))
    run_step("toy_data", tmp_path, {"rows": 2}, products, paths=paths, out=tmp_path / "toy.csv")
    assert pd.read_csv(tmp_path / "toy.csv")["log10_paths"].tolist() == [0.0, 1.0]
    run_step("plot_toy", tmp_path, None, products, data=tmp_path / "toy.csv", pdf=tmp_path / "toy.pdf",
             png=tmp_path / "toy.png")
    assert (tmp_path / "toy.png").read_bytes().startswith(b"\x89PNG")


# Snakemake in a process where the toy is registered, as a project's own entry would be
REGISTER_AND_RUN = """
import sys
sys.path.insert(0, "tests")
import test_toy_figure
from lscrepro.workflow.outputs import PRODUCTS
PRODUCTS["Toy figure"] = test_toy_figure.TOY
from snakemake.cli import main
main(sys.argv[1:])
"""


def test_the_toy_figure_runs_through_the_rule_template(tmp_path):
    from workflow_utils import copy_workflow

    workdir = copy_workflow(tmp_path / "workflow")
    target = "results/demo/figures/toy.png"
    done = subprocess.run([sys.executable, "-c", REGISTER_AND_RUN, target, "--cores", "1", "--configfile",
                           "config/smoke.yaml"], cwd=workdir, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(workdir)})
    assert done.returncode == 0, done.stdout + done.stderr
    for log in ("fig1/fig1_numbers", "figures/toy_data", "figures/plot_toy"):  # Figure 1's numbers, then the toy
        assert (workdir / f"logs/demo/{log}.log").exists(), log
    table = pd.read_csv(workdir / "results/demo/toy/toy_data.csv")
    assert len(table) == 4  # the toy's setting reached its reducer
    assert (workdir / target).read_bytes().startswith(b"\x89PNG")
    assert "Toy figure" not in PRODUCTS  # registered in that process only
