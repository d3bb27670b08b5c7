"""The figures and tables have one home, the product table (lscrepro/workflow/outputs.py): the
rules, rule all and status.py read it."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lscrepro.workflow.codedeps import code_inputs
from lscrepro.workflow.outputs import PRODUCTS, final_outputs, module_file, products_made, request_file, steps
from lscrepro.workflow.status import load_config, run_status
from workflow_utils import load_script

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


# --- the product table: each entry's names, files and code ------------------------------------

def _configs():
    return [yaml.safe_load((ROOT / "config/config.yaml").read_text()),
            load_config([str(ROOT / "config/smoke.yaml")], base=ROOT / "config/config.yaml")]


def test_every_step_calls_its_function_with_the_names_it_takes():
    # the runner passes the inputs, outputs and settings as keywords: a name the function does
    # not take (or one it needs and is not given) fails here, not in a run
    for config in _configs():
        for name, product in products_made(config).items():
            for step in steps(product):
                keywords = [*step.inputs, *step.outputs, *step.settings(config)]
                assert len(keywords) == len(set(keywords)) and "code" not in keywords, step.rule
                signature = inspect.signature(load_script("workflow_scripts/product.py").load_function(step.function))
                signature.bind(**dict.fromkeys(keywords))  # TypeError names the keyword
                assert (ROOT / module_file(step.function, ROOT)).is_file()


def test_files_and_captions_name_outputs_of_their_product():
    rules = [step.rule for product in PRODUCTS.values() for step in steps(product)]
    assert len(rules) == len(set(rules))
    for name, product in PRODUCTS.items():
        names = [key for step in steps(product) for key in step.outputs]
        assert len(names) == len(set(names)), name  # one keyword, one file
        assert set(product.files) <= set(names) and set(product.captions) <= set(names), name
        for caption in product.captions.values():
            assert (ROOT / "report" / caption).is_file(), caption


def test_each_step_depends_on_its_own_code_only():
    # a rule's code inputs are the runner and its function's module with what that imports:
    # editing one figure's drawing reruns that figure alone
    code = {step.rule: set(code_inputs("workflow_scripts/product.py", module_file(step.function, ROOT), root=ROOT))
            for product in PRODUCTS.values() for step in steps(product)}
    for figure in ("fig1", "fig2", "fig3", "fig4"):
        assert [rule for rule, files in code.items() if f"lscrepro/plotting/{figure}.py" in files] == [f"plot_{figure}"]
    assert [rule for rule, files in code.items() if "lscrepro/results/claims.py" in files] == ["claims"]
    assert [rule for rule, files in code.items() if "lscrepro/results/table1.py" in files] == ["table1"]
    # nor on the table itself: a new product, or a caption edited, reruns nothing else
    assert not any("lscrepro/workflow/outputs.py" in files for files in code.values())


def test_a_request_file_is_named_by_its_content(tmp_path):
    first = request_file({"function": "a:b", "settings": {"x": 1}}, tmp_path)
    assert request_file({"settings": {"x": 1}, "function": "a:b"}, tmp_path) == first  # key order: same
    assert request_file({"function": "a:b", "settings": {"x": 2}}, tmp_path) != first
    assert json.loads(Path(first).read_text())["settings"] == {"x": 1}


def test_the_runner_names_a_bad_function_or_a_clash():
    runner = load_script("workflow_scripts/product.py")
    with pytest.raises(ValueError, match="'module:function'"):
        runner.load_function("lscrepro.results.fig2")
    with pytest.raises(ValueError, match="has no function 'nothing'"):
        runner.load_function("lscrepro.results.fig2:nothing")
    with pytest.raises(ValueError, match=r"keyword\(s\) \['out'\] given twice"):
        runner.run_request({"function": "lscrepro.results.fig2:write_fig2_data", "inputs": {"out": "a"},
                            "outputs": {"out": "b"}})
