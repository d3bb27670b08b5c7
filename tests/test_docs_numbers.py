"""The docs' generated blocks: the comparison (a changed number or a moved bold mark fails; a
rounding flip, a new date or commit passes), and write-then-check on a hand-made run whose
outputs then change. The demo run's own check is in test_workflow.py (TestSmokeRun)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from lscrepro.docs_numbers import DocsNumbersError, Run, blocks_in, check_blocks, compare_text, write_blocks
from workflow_utils import REPO

_spec = importlib.util.spec_from_file_location("docs_numbers_cli", REPO / "workflow_scripts/docs_numbers.py")
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

TABLE = """*From `results/demo/tables/table1.md`: run of 5 Dec 2026, commit c81f444; written by ...*

| Depth 2 LRU | validation perplexity | test perplexity |
|---|---|---|
| default | 207.69 | 206.30 |
| ρ=1 | **169.69** | **173.39** |
| ρ=1 + clip | **187.68** | 1,187.8 |

One seed per cell (no std); p=7.6e-06; 12/12 jobs.
"""


@pytest.mark.parametrize("old, new, passes", [
    ("207.69", "207.70", True),            # a rounding flip in the last digit
    ("1,187.8", "1,187.9", True),
    ("7.6e-06", "7.5e-06", True),
    ("p=7.6e-06", "p=1e-05", False),
    ("p=7.6e-06; 12", "p=0.0000076; 12", True),
    ("5 Dec 2026", "17 Jan 2027", True),   # dates and commits are not compared
    ("commit c81f444", "commits 0123abc-dirty, unknown", True),
    ("| default | 207.69", "|  default   | 207.69", True),  # spacing (a column's width)
    ("207.69", "208.22", False),           # the stale default row
    ("207.69", "207.67", False),
    ("12/12", "11/12", False),             # a count is exact
    ("**187.68**", "187.68", False),       # the best row moved
    ("ρ=1 + clip", "ρ=0.5 + clip", False),
])
def test_numbers_agree_within_one_unit_of_the_last_digit(old, new, passes):
    assert old in TABLE
    difference = compare_text(TABLE, TABLE.replace(old, new))
    assert (difference is None) == passes, difference


def test_the_difference_names_the_line_and_the_first_number():
    difference = compare_text(TABLE, TABLE.replace("207.69", "208.22").replace("206.30", "209.00"))
    assert difference.startswith("line 5 has 207.69 where the run gives 208.22"), difference
    assert "the block has 7 lines of text, the run gives 8" == compare_text(TABLE, TABLE + "one more line\n")


def _job(results: Path, folder: str, commit: str) -> None:
    out = results / folder
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"result": {"environment": {"git_commit": commit}}}))


@pytest.fixture
def run(tmp_path):
    """A hand-made demo run (Table 1, the RNN table, the claims) and docs holding one block of each."""
    for name in ("config.yaml", "smoke.yaml"):
        (tmp_path / "config").mkdir(exist_ok=True)
        shutil.copy(REPO / "config" / name, tmp_path / "config" / name)
    results = tmp_path / "results/demo"
    (results / "tables").mkdir(parents=True)
    (results / "tables/table1.md").write_text(TABLE.split("\n\n", 1)[1])
    (results / "rnn").mkdir()
    (results / "rnn/table.md").write_text("| Task | Net | default |\n|---|---|---|\n| SHD | LSTM | 0.41 |\n")
    (results / "claims.csv").write_text("claim,family,verdict\nFigure 2,ffn,holds\nFigure 2,ffn,inconclusive\n"
                                        "Pre-training,rnn,does not hold\n")
    (results / "claims.md").write_text(
        "# claims\n\nVerdicts: ...\n\n| Figure | Claim | n | Estimate [95% CI] | Verdict | Notes |\n"
        "|---|---|---:|---|---|---|\n| Figure 2 | a | 4 | +0.069 | holds | – |\n"
        "| Figure 2 | b | 4 | -0.01 | inconclusive | – |\n| Pre-training | c | 18 | 0.00 | does not hold | – |\n\nn: ...\n")
    _job(results, "lru/fig4/depth2/default/clip0/seed0", "c81f444c81f444c81f444c81f444c81f444c81f4")
    _job(results, "rnn/heidelberg/LSTM/depth2/default/seed0", "0123abc" + "0" * 33 + "-dirty")
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "Verdicts: <!-- generated: demo-verdicts --><!-- end generated -->.\n\n"
        "<!-- generated: demo-claims -->\n<!-- end generated -->\n")
    (tmp_path / "docs/a.md").write_text(
        "# A\n\n<!-- generated: demo-table1 -->\nstale\n<!-- end generated -->\n\ntext\n\n"
        "<!-- generated: demo-rnn-table --><!-- end generated -->\n\n"
        "<!-- generated: demo-status --><!-- end generated -->\n")
    return Run(tmp_path, "results/demo", "config/smoke.yaml")


def test_blocks_are_written_from_the_run_and_then_agree_with_it(run):
    assert sorted(write_blocks(run)) == ["README.md", "docs/a.md"]
    readme = (run.root / "README.md").read_text()
    assert "holds 1, does not hold 1, inconclusive 1, not run 0 of 3 rows (run of " in readme
    assert "| Figure 2 | a |" in readme and "| Figure 2 | b |" not in readme and "| Pre-training | c |" in readme
    docs = (run.root / "docs/a.md").read_text()
    assert "stale" not in docs and "| default | 207.69 | 206.30 |" in docs and "| SHD | LSTM | 0.41 |" in docs
    # each block names its run's commit (the jobs of its family) and the command that wrote it
    assert "commit c81f444;" in docs and "commit 0123abc-dirty;" in docs
    assert "`python workflow_scripts/docs_numbers.py --results results/demo`" in docs
    assert "$ python workflow_scripts/status.py --configfile config/smoke.yaml" in docs
    assert "rows written to results/demo/status.csv" in docs
    assert not (run.root / "results/demo/status.csv").exists()  # the run's own status.csv is left alone
    assert check_blocks(run) == []
    assert write_blocks(run) == []  # nothing changes the second time


def test_a_changed_result_fails_the_check_naming_the_block_and_number(run, capsys):
    write_blocks(run)
    table = run.root / "results/demo/tables/table1.md"
    table.write_text(table.read_text().replace("207.69", "208.22"))
    os.utime(table, (0, 0))  # a new date alone would not fail
    problems = check_blocks(run)
    assert len(problems) == 1
    assert problems[0].startswith("docs/a.md: block 'demo-table1' disagrees with results/demo: line 5 has "
                                  "207.69 where the run gives 208.22"), problems
    assert cli.main(["--results", "results/demo", "--directory", str(run.root), "--check"]) == 1
    assert "208.22" in capsys.readouterr().err
    assert "207.69" in (run.root / "docs/a.md").read_text()  # --check changes nothing


def test_a_missing_block_or_output_and_an_unknown_block_are_named(run):
    write_blocks(run)
    (run.root / "README.md").write_text("no blocks\n")
    assert any("'demo-claims'" in problem and "no document holds" in problem for problem in check_blocks(run))
    (run.root / "results/demo/rnn/table.md").unlink()
    with pytest.raises(DocsNumbersError, match="results/demo/rnn/table.md does not exist"):
        check_blocks(run)
    (run.root / "README.md").write_text("<!-- generated: demo-tabel1 --><!-- end generated -->\n")
    with pytest.raises(DocsNumbersError, match="unknown generated block 'demo-tabel1'"):
        blocks_in(run.root / "README.md")


def test_the_repositorys_docs_hold_every_block():
    names = {m["name"] for path in [REPO / "README.md", *(REPO / "docs").glob("*.md")] for m in blocks_in(path)}
    assert names == {"demo-table1", "demo-rnn-table", "demo-claims", "demo-verdicts", "demo-status"}
