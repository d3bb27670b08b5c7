"""Each checkout runs its own code: a second clone of the workflow, with the first one's
lscrepro installed (pip's editable install of this repository), runs the clone's lscrepro
in its rules' commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workflow_utils import copy_workflow, snakemake

MARK = "lscrepro imported from the second clone"


@pytest.mark.slow
def test_a_second_clone_runs_its_own_lscrepro(tmp_path):
    installed = subprocess.run([sys.executable, "-c", "import lscrepro; print(lscrepro.__file__)"],
                               cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    clone = copy_workflow(tmp_path / "second")
    assert not installed.startswith(str(clone))  # the installed package is another checkout's
    init = clone / "lscrepro" / "__init__.py"
    init.write_text(init.read_text() + f"\nimport sys as _sys\nprint({MARK!r}, file=_sys.stderr)\n")
    snakemake(clone, "--cores", "1", "results/demo/fig1/paths.csv", "--configfile", "config/smoke.yaml")
    log = (clone / "logs/demo/fig1/fig1_numbers.log").read_text()
    assert MARK in log, log[-2000:]
