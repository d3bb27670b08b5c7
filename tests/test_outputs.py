"""The final outputs have one home (lscrepro/workflow/outputs.py): rule all and status.py read it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from lscrepro.workflow.outputs import final_outputs
from lscrepro.workflow.status import load_config, run_status

ROOT = Path(__file__).resolve().parents[1]


def test_the_items_follow_the_config_families_and_setups():
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    outputs = final_outputs(config)
    assert list(outputs) == ["Figure 1", "Figure 2", "Figure 3", "Figure 4", "Table 1"]
    assert outputs["Table 1"][0] == "results/tables/table1.md"
    config["lru"]["setups"] = ["fig4"]
    del config["rnn"]
    assert list(final_outputs(config)) == ["Figure 1", "Figure 2", "Figure 4"]
    assert final_outputs({**config, "prefix": "demo"})["Figure 1"][0] == "results/demo/figures/fig1.pdf"


def test_status_lists_the_final_outputs(tmp_path):
    config = load_config([str(ROOT / "config/smoke.yaml")], base=ROOT / "config/config.yaml")
    status = run_status(config, tmp_path)
    figures = status[status["kind"] == "figure"]
    assert list(figures["family"]) == list(final_outputs(config))
    assert list(figures["path"]) == [paths[0] for paths in final_outputs(config).values()]


def test_rule_all_asks_for_every_final_output():
    config = load_config([str(ROOT / "config/smoke.yaml")], base=ROOT / "config/config.yaml")
    planned = subprocess.run([sys.executable, "-m", "snakemake", "-n", "all", "--configfile",
                              "config/smoke.yaml", "--summary"], cwd=ROOT, capture_output=True, text=True)
    assert planned.returncode == 0, planned.stderr
    for paths in final_outputs(config).values():
        for path in paths:
            assert path in planned.stdout, path
