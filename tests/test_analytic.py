"""Figure 1 numbers: autograd against closed forms, log-space counts against exact integers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from lscrepro import analytic
from lscrepro.analytic import (
    DIAGONAL_STEP,
    TIME_STEP,
    descent_paths,
    gradient_table,
    input_gradient,
    log10_paths,
    pascal_gradient_closed_form,
    pascal_rnn,
    path_count_curves,
)
from lscrepro.io import write_csv
from lscrepro.plotting.fig1 import plot_fig1

DEPTH, STEPS = 10, 100


@pytest.mark.parametrize("rho", [0.5, 1.0])
def test_pascal_autograd_matches_closed_form(rho):
    x = 2 * torch.randn(3, STEPS, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    _, grad = input_gradient(lambda inputs: pascal_rnn(inputs, DEPTH, rho), x)
    expected = pascal_gradient_closed_form(STEPS, DEPTH, rho)
    for sample in grad[..., 0].numpy():
        np.testing.assert_allclose(sample, expected, rtol=1e-6)


def test_pascal_gradient_at_rho_one_is_a_binomial():
    x = torch.zeros(1, STEPS, 1, dtype=torch.float64)  # linear net: the gradient does not depend on x
    _, grad = input_gradient(lambda inputs: pascal_rnn(inputs, DEPTH, 1.0), x)
    binomials = np.array([math.comb(DEPTH + STEPS - 1 - t, DEPTH) for t in range(STEPS)], dtype=np.float64)
    np.testing.assert_allclose(grad[0, :, 0].numpy(), binomials, rtol=1e-6)
    np.testing.assert_array_equal(pascal_gradient_closed_form(STEPS, DEPTH, 1.0), binomials)
    assert binomials[0] == pytest.approx(4.26e13, rel=1e-2)  # the 1e13 scale of the paper's panel c


@pytest.mark.parametrize("dt,dl", [(0, 0), (1, 0), (0, 3), (1, 1), (2, 3), (4, 2), (5, 5), (7, 3)])
def test_log_counts_match_brute_force(dt, dl):
    paths = descent_paths(dt, dl)
    assert len(set(paths)) == len(paths)
    assert all(sum(a for a, _ in path) == dt and sum(b for _, b in path) == dl for path in paths)
    assert 10 ** log10_paths(dt, dl) == pytest.approx(len(paths), rel=1e-9)


@pytest.mark.parametrize("dt,dl", [(2, 3), (4, 1), (3, 3)])
def test_diagonal_moves_give_the_same_count(dt, dl):
    """Panel a's moves (back in time, or diagonal) over dt + dl time steps count the same paths."""
    assert len(descent_paths(dt + dl, dl, (TIME_STEP, DIAGONAL_STEP))) == len(descent_paths(dt, dl))


@pytest.mark.parametrize("dt,dl", [(10_000, 100), (10_000, 5), (100_000, 1_000)])
def test_log_counts_are_exact_for_huge_arguments(dt, dl):
    value = log10_paths(dt, dl)
    assert np.isfinite(value)
    assert value == pytest.approx(math.log10(math.comb(dt + dl, dt)), abs=1e-8)


def test_path_count_curves():
    curves = path_count_curves(max_time=10_000, depth_gap=5)
    assert set(curves["panel"]) == {"time", "depth", "diagonal"}
    assert np.isfinite(curves["log10_paths"]).all()
    for _, curve in curves.groupby("panel"):
        assert curve["log10_paths"].is_monotonic_increasing
    diagonal = curves[curves["panel"] == "diagonal"]
    assert (diagonal["dt"] == 100 * diagonal["dl"]).all()
    assert diagonal["log10_paths"].max() > 220  # beyond what a float binomial could hold unlogged


def test_gradient_table_is_seeded_and_complete():
    kwargs = dict(depth=3, steps=12, batch=2, rhos=[0.5, 1.0], hernn_width=4, seed=5)
    table = gradient_table(**kwargs)
    pd.testing.assert_frame_equal(table, gradient_table(**kwargs))
    assert len(table) == 2 * 2 * 2 * 12
    pascal = table[table["net"] == analytic.PASCAL]
    np.testing.assert_allclose(pascal["abs_grad"], pascal["closed_form"], rtol=1e-9)
    assert table.loc[table["net"] == analytic.HERNN, "closed_form"].isna().all()


def test_figure_from_csvs_alone(tmp_path):
    paths_csv, pascal_csv = tmp_path / "paths.csv", tmp_path / "pascal.csv"
    write_csv(paths_csv, path_count_curves(max_time=1000, depth_gap=5))
    write_csv(pascal_csv, gradient_table(depth=3, steps=20, batch=2, hernn_width=4))
    pdf, png = tmp_path / "fig" / "fig1.pdf", tmp_path / "fig" / "fig1.png"
    plot_fig1(paths_csv, pascal_csv, pdf, png)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
    assert png.read_bytes().startswith(b"\x89PNG")


def test_the_fig1_step_takes_the_config_section_as_its_settings(tmp_path):
    import os
    import subprocess
    import sys

    from product_utils import run_step
    from workflow_utils import REPO as ROOT

    section = {"depth": 4, "steps": 20, "batch": 2, "rhos": [0.5, 1.0], "hernn_width": 4, "seed": 0,
               "max_time": 100, "depth_gap": 5}
    files = {"paths": tmp_path / "paths.csv", "pascal": tmp_path / "pascal.csv"}
    run_step("fig1_numbers", tmp_path, section, **files)
    assert set(pd.read_csv(files["pascal"])["rho"]) == {0.5, 1.0} and len(pd.read_csv(files["paths"])) > 0
    with pytest.raises(ValueError, match="dpeth"):
        run_step("fig1_numbers", tmp_path, {**section, "dpeth": 3}, **files)
    # from the command line, as the rule runs it (this checkout first on the path): the error is named
    bad = sorted(tmp_path.glob("*.json"), key=lambda path: path.stat().st_mtime)[-1]
    done = subprocess.run([sys.executable, str(ROOT / "workflow_scripts/product.py"), str(bad)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0 and "fig1: unknown settings ['dpeth']" in done.stderr
