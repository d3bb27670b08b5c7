"""config/reference.yaml switches every deviation that has a switch back to the reference's
behaviour: the deviation table in docs/deviations.md names each switch, and this reads that
table."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from lscrepro.workflow.configcheck import prepare_config
from lscrepro.workflow.status import load_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas/config.schema.yaml"
OVERLAY = ROOT / "config/reference.yaml"
SWITCH = re.compile(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)+): ([^`]+)`")


def deviation_rows() -> list[list[str]]:
    """The cells of each row of the deviation table in docs/deviations.md."""
    text = (ROOT / "docs/deviations.md").read_text()
    section = text.split("## Deviations from the reference implementation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *body = rows
    assert "switch" in header.lower() and set(rule.replace("|", "").strip()) <= set("-: ")
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in body]


def named_switches() -> dict[str, object]:
    """{dotted config key: value} of every switch the table's last column names."""
    switches = {}
    for cells in deviation_rows():
        for key, value in SWITCH.findall(cells[-1]):
            switches[key] = yaml.safe_load(value)
    return switches


def lookup(config: dict, dotted: str):
    for key in dotted.split("."):
        config = config[key]
    return config


def test_every_row_names_a_switch_or_says_why_there_is_none():
    rows = deviation_rows()
    assert len(rows) >= 20
    for cells in rows:
        assert SWITCH.search(cells[-1]) or cells[-1].lower().startswith("none"), cells


def test_every_named_switch_is_in_the_overlay_and_the_overlay_has_no_other():
    overlay = yaml.safe_load(OVERLAY.read_text())
    switches = named_switches()
    for key, value in switches.items():
        assert lookup(overlay, key) == value, key

    def leaves(mapping, prefix=""):
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    assert set(leaves(overlay)) - {"prefix"} == set(switches)


def test_the_overlay_is_a_valid_config_with_its_own_prefix():
    config = load_config([OVERLAY], base=ROOT / "config/config.yaml")
    prepare_config(config, SCHEMA)  # names an unknown key
    jsonschema.validate(config, yaml.safe_load(SCHEMA.read_text()))
    assert config["prefix"] == "reference"
    for key, value in named_switches().items():
        assert lookup(config, key) == value


@pytest.mark.parametrize("bad", ["rnn.lsc.radius_methd", "lru.task.mlm_evaluation"])
def test_a_misspelled_switch_would_be_caught(tmp_path, bad):
    overlay = yaml.safe_load(OVERLAY.read_text())
    section, *middle, leaf = bad.split(".")
    target = overlay[section]
    for key in middle:
        target = target.setdefault(key, {})
    target[leaf] = True
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    config = load_config([path], base=ROOT / "config/config.yaml")
    with pytest.raises(ValueError, match=leaf):
        prepare_config(config, SCHEMA)
