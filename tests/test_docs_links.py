"""The docs, the report's captions and the config comments name only files that exist."""

from __future__ import annotations

import re

import pytest

from workflow_utils import REPO

TEXTS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")),
         *sorted(str(p.relative_to(REPO)) for p in (REPO / "report").glob("*.rst")),
         *sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.yaml")),
         "crosscheck/README.md"]
FOLDERS = "docs|lscrepro|workflow_scripts|config|benchmarks|tests|crosscheck|rules|report|profiles|slurm|schemas|envs"
# the reference's own files, which the texts cite by their path in its repositories
REFERENCE_FILES = {"config/config.py"}  # stable_spike's default_config
PATH = re.compile(rf"(?<![\w/.-])((?:{FOLDERS})/[\w./-]*\w\.(?:md|py|yaml|smk|rst|json|csv|png|txt|sh|npz))")


@pytest.mark.parametrize("text", TEXTS)
def test_every_project_file_named_exists(text):
    named = sorted(set(PATH.findall((REPO / text).read_text())))
    folder = (REPO / text).parent  # a Markdown link is relative to its file
    missing = [path for path in named
               if not (REPO / path).exists() and not (folder / path).exists() and path not in REFERENCE_FILES]
    assert not missing, f"{text} names files that do not exist: {missing}"
