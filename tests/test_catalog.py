"""The catalog (lscrepro.catalog) is the one list of plug-ins: the schema's plug-in enums are
filled from it (no name list kept in step by hand), every entry point names real code, and
each task's headline metric has its class's direction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snakemake.utils import validate

from lscrepro.catalog.cells import CELLS, CellEntry
from lscrepro.catalog.datasets import PREPARATIONS, demo_makers
from lscrepro.catalog.entrypoints import load
from lscrepro.catalog.models import MODELS
from lscrepro.catalog.names import catalog_names
from lscrepro.catalog.procedures import PROCEDURES
from lscrepro.catalog.tasks import TASKS
from lscrepro.data.registry import DATASETS
from lscrepro.workflow.configcheck import load_schema, prepare_config, schema_file
from lscrepro.workflow.status import load_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas/config.schema.yaml"
# where the schema takes plug-in names, and from which catalog list
PLUGIN_ENUMS = {
    "ffn.task.name": "tasks:ffn", "ffn.datasets[]": "datasets:ffn", "ffn.model.name": "models:ffn",
    "rnn.tasks[]": "tasks:rnn", "rnn.nets[]": "cells", "rnn.model.name": "models:rnn",
    "lru.task.name": "tasks:lru", "lru.model.name": "models:lru",
}


def _enums(node, root: dict, path: str = "") -> dict[str, tuple[str | None, list]]:
    """{path: (its x-catalog mark or None, its enum)} of every enum under ``node``."""
    found = {}
    if isinstance(node, dict):
        if "enum" in node:
            found[path] = (node.get("x-catalog"), node["enum"])
        for key, value in node.items():
            if key == "properties":
                for name, child in value.items():
                    found |= _enums(child, root, f"{path}.{name}".lstrip("."))
            elif key == "items":
                found |= _enums(value, root, f"{path}[]")
            elif key == "$ref":
                found |= _enums(root["$defs"][value.rpartition("/")[2]], root, path)
    return found


def test_the_validated_schemas_plugin_enums_are_the_catalogs(tmp_path):
    schema = load_schema(SCHEMA)
    validated = json.loads(Path(schema_file(schema, tmp_path)).read_text())  # what validate() reads
    enums = _enums(validated, validated)
    marked = {path: mark for path, (mark, _) in enums.items() if mark}
    assert marked == PLUGIN_ENUMS
    for path, source in PLUGIN_ENUMS.items():
        assert enums[path][1] == catalog_names(source), path
    assert enums["rnn.nets[]"][1] == list(CELLS)
    # no enum without a mark lists a plug-in's name: it would be a second list, kept by hand
    # (a model's name only in a `name`: "dense" is also a readout)
    for path, (mark, values) in enums.items():
        plugins = {*CELLS, *TASKS, *PREPARATIONS, *(MODELS if path.endswith(".name") else ())}
        assert mark or not plugins & set(map(str, values)), (path, values)


def test_a_catalog_list_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="names no catalog list"):
        catalog_names("cells:rnn")
    with pytest.raises(ValueError, match="names no catalog list"):
        catalog_names("tasks")


def demo_config(**rnn) -> dict:
    """The demo grid's config (config.yaml, then smoke.yaml) with ``rnn`` keys replaced."""
    config = load_config([str(REPO / "config/smoke.yaml")], base=REPO / "config/config.yaml")
    config["rnn"].update(rnn)
    return config


def validated(config: dict, folder: Path) -> dict:
    """``config`` through the checks rules/common.smk runs before planning."""
    schema = load_schema(SCHEMA)
    prepare_config(config, schema)
    validate(config, schema=schema_file(schema, folder))
    return config


def test_a_cell_in_the_catalog_is_valid_in_a_config_and_an_unknown_one_is_named(tmp_path, monkeypatch):
    with pytest.raises(Exception, match=r"'toy' is not one of \['LSTM', 'GRU', 'rsimplernn', 'ssimplernn', "
                                        r"'maLSNN', 'maLSNNb'\]"):
        validated(demo_config(nets=["LSTM", "toy"]), tmp_path)
    monkeypatch.setitem(CELLS, "toy", CellEntry("toy", "nowhere:toy"))
    assert validated(demo_config(nets=["LSTM", "toy"]), tmp_path)["rnn"]["nets"] == ["LSTM", "toy"]


def test_every_entry_point_names_code():
    for entry in CELLS.values():
        assert callable(load(entry.builder)), entry
    for entry in MODELS.values():
        assert callable(load(entry.builder)), entry
    for entry in PROCEDURES.values():
        assert all(callable(load(code)) for code in entry if isinstance(code, str)), entry
    for entry in PREPARATIONS.values():
        assert callable(load(entry.function)) and (not entry.demo or callable(load(entry.demo))), entry
        assert entry.dataset in DATASETS, entry


def test_each_dataset_has_one_demo_maker_and_each_task_data_it_can_read():
    assert sorted(demo_makers()) == sorted(DATASETS)
    for entry in TASKS.values():
        assert entry.datasets and set(entry.datasets) <= set(PREPARATIONS), entry


@pytest.mark.parametrize("name", list(TASKS))
def test_a_tasks_headline_metric_has_its_classs_direction(name):
    entry = TASKS[name]
    directions = load(entry.task_class).metrics
    assert directions[entry.metric] == ("max" if entry.higher_is_better else "min")


@pytest.mark.parametrize("kind", ["pretrain", "train"])
def test_a_job_reads_only_the_catalog_modules_of_what_it_builds(kind):
    # as rules/common.smk's family_code: the job module and the family's entries' files
    from lscrepro.catalog.cells import cell_files
    from lscrepro.models import model_files
    from lscrepro.tasks import task_files
    from lscrepro.workflow.codedeps import code_inputs

    def catalog_of(tasks, models, cells=()):
        files = code_inputs(f"lscrepro/jobs/{kind}.py", *task_files(tasks), *model_files(models), *cell_files(cells),
                            root=REPO)
        return {Path(f).stem for f in files if f.startswith("lscrepro/catalog/")}

    every_job = {"__init__", "entrypoints", "tasks", "datasets", "models"}
    every_job |= {"procedures"} if kind == "pretrain" else set()  # jobs/pretrain.py reads them
    assert catalog_of(["images"], ["dense"]) == catalog_of(["wordptb"], ["lru"]) == every_job
    assert catalog_of(["heidelberg"], ["rnn"], ["LSTM"]) == every_job | {"cells"}
