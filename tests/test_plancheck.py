"""Plan-time checks without Snakemake: the schema's settings are the jobs' settings
classes, grid values and overrides name something on the grid, every resolved spec's
values are in range, and batches fit their data (tests/test_bad_config.py runs the same
checks through snakemake --dry-run)."""

from __future__ import annotations

import inspect
import json
import types
import typing
from dataclasses import fields

import pytest
import yaml

from lscrepro.workflow.configcheck import check_yaml_syntax, load_schema, prepare_config
from lscrepro.data.preparations import PREPARATIONS
from lscrepro.catalog.entrypoints import load
from lscrepro.workflow.gridcheck import GridError, check_grid, flow
from lscrepro.catalog.procedures import PROCEDURES
from lscrepro.workflow.sizecheck import PTB_DEFAULTS, demo_split_sizes, split_sizes, windows
from lscrepro.workflow.spec import FAMILIES, pretrain_runs, resolve_spec, train_runs
from lscrepro.workflow.speccheck import SETTINGS_CLASSES, SpecError, check_specs, resolved
from lscrepro.workflow.status import load_config
from workflow_utils import REPO

SCHEMA = load_schema(REPO / "schemas/config.schema.yaml")
# a settings field's annotation -> the schema types it may have
TYPES = {float: {"number"}, int: {"integer"}, bool: {"boolean"}, str: {"string", None}}


def paper():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    prepare_config(config, SCHEMA)
    return config


def smoke():
    config = load_config([REPO / "config/smoke.yaml"], base=REPO / "config/config.yaml")
    prepare_config(config, SCHEMA)
    return config


def check(config):
    """What the Snakefile runs at parse time (rules/common.smk)."""
    names = [name for name in FAMILIES if name in config]
    for name in names:
        check_grid(name, config[name], SCHEMA)
    runs = {name: {"pretrain": pretrain_runs(name, config[name]), "train": train_runs(name, config[name])}
            for name in names}
    check_specs(config, SCHEMA, runs, lambda name, kind, wildcards: resolve_spec(config, name, kind, wildcards))


def settings_schema(family, section):
    return resolved(SCHEMA, SCHEMA["properties"][family]["properties"][section])


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("section", ["train", "lsc"])
def test_the_schema_settings_have_no_defaults_the_dataclasses_hold_them(family, section):
    # validate() would write schema defaults into every spec: a second home for each value
    node = settings_schema(family, section)
    assert [name for name, prop in node["properties"].items() if "default" in resolved(SCHEMA, prop)] == []


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("section", ["train", "lsc"])
def test_the_schema_settings_are_the_fields_of_the_classes_the_jobs_use(family, section):
    # the dry run checks specs against the schema: it must say what the classes accept
    entry = SETTINGS_CLASSES["train"] if section == "train" else PROCEDURES[FAMILIES[family].lsc_procedure][0]
    settings = load(entry)
    node = settings_schema(family, section)
    assert set(node["properties"]) == {field.name for field in fields(settings)}
    hints = typing.get_type_hints(settings)
    for name, prop in node["properties"].items():
        prop = resolved(SCHEMA, prop)
        hint = hints[name]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)  # float | None
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)] if optional else [hint]
        if typing.get_origin(kinds[0]) is typing.Literal:
            assert set(prop["enum"]) == set(typing.get_args(kinds[0])), name
        else:
            assert prop.get("type") in TYPES[kinds[0]], name


def test_the_paper_demo_and_reference_grids_pass():
    check(paper())
    check(smoke())
    reference = load_config([REPO / "config/reference.yaml"], base=REPO / "config/config.yaml")
    prepare_config(reference, SCHEMA)
    check(reference)


def test_a_setup_must_be_defined_by_an_override():
    config = smoke()
    config["lru"]["setups"] = ["fig4", "tabel1"]
    with pytest.raises(GridError, match=r"lru.setups: 'tabel1' is not a defined setup; did you mean 'table1'\?"):
        check_grid("lru", config["lru"], SCHEMA)


def test_when_values_must_be_valid():
    config = smoke()
    entry = next(e for e in config["rnn"]["overrides"] if e["when"] == {"net": ["maLSNN", "maLSNNb"]})
    entry["when"] = {"net": ["maLSNN", "maLSNB"]}
    with pytest.raises(GridError, match=r"rnn.overrides entry 5 \(when \{net: \[maLSNN, maLSNB\]\}\): "
                                         r"net 'maLSNB' is not a valid net \(one of \[LSTM, .*\]\); "
                                         r"did you mean 'maLSNN'\?"):
        check_grid("rnn", config["rnn"], SCHEMA)
    entry["when"] = {"net": "lstm"}
    with pytest.raises(GridError, match=r"net 'lstm' is not a valid net .*did you mean 'LSTM'\?"):
        check_grid("rnn", config["rnn"], SCHEMA)
    entry["when"] = {"net": []}
    with pytest.raises(GridError, match="matches no grid point: net lists no value"):
        check_grid("rnn", config["rnn"], SCHEMA)


@pytest.mark.parametrize("family, when, message", [
    ("rnn", {"depth": "2"}, r"depth '2' is not a valid depth \(an integer >= 1\); did you mean 2\?"),
    ("rnn", {"depth": 0}, r"depth 0 is not a valid depth \(an integer >= 1\)\. It would never apply"),
    ("rnn", {"task": "ptb"}, r"task 'ptb' is not a valid task \(one of \[heidelberg, sl_mnist, wordptb\]\); "
                             r"did you mean 'wordptb'\?"),
    ("lru", {"depth": 1}, r"depth 1 is not a valid depth \(an integer >= 2\)"),
    # a setup or a variant may have any name: valid are the paper's setups and the grid's variants
    ("lru", {"setup": "tabel1"}, r"setup 'tabel1' is not a valid setup \(one of \[table1, fig4\]\); "
                                 r"did you mean 'table1'\?"),
    ("rnn", {"variant": "lsx"}, r"variant 'lsx' is not a valid variant \(one of \[default, lsc, lsc_half\]\)"),
])
def test_a_when_value_valid_nowhere_is_refused_with_a_hint(family, when, message):
    config = smoke()
    config["lru"]["setups"] = ["table1"]  # fig4 stays valid though off the grid
    config[family]["overrides"].append({"when": when, "set": {"train.lr": 0.1}})
    with pytest.raises(GridError, match=message):
        check_grid(family, config[family], SCHEMA)


def test_an_override_for_values_off_this_runs_grid_is_skipped_and_named():
    config = paper()
    config["rnn"]["depths"] = [2]  # an overlay `rnn: {depths: [2]}`: the overrides stay the paper's
    skipped = check_grid("rnn", config["rnn"], SCHEMA)
    depth5 = [number for number, entry in enumerate(config["rnn"]["overrides"], start=1)
              if entry["when"].get("depth") == 5]
    assert len(depth5) == 5 and skipped == [
        f"rnn.overrides entry {number} (when {flow(config['rnn']['overrides'][number - 1]['when'])}) is skipped: "
        "depth 5 is not on this run's grid (rnn.depths [2])." for number in depth5]
    config["rnn"]["tasks"] = ["heidelberg"]
    config["rnn"]["nets"] = ["maLSNN"]  # `when: {net: [maLSNN, maLSNNb]}` still applies: not skipped
    skipped = check_grid("rnn", config["rnn"], SCHEMA)
    assert "rnn.overrides entry 1 (when {task: wordptb}) is skipped: task wordptb is not on this run's grid " \
           "(rnn.tasks [heidelberg])." in skipped
    assert not [line for line in skipped if "{net: [maLSNN, maLSNNb]}" in line]
    check(config)  # the resolved specs of the part are in range and fit their data
    spec = resolve_spec(config, "rnn", "train", {"task": "heidelberg", "net": "maLSNN", "depth": "2",
                                                 "seed": "0", "variant": "lsc"})
    assert (spec["model"]["width"], spec["train"]["batch_size"], spec["train"]["lr"]) == (256, 100, 1e-3)
    config["lru"]["setups"] = ["table1"]
    assert check_grid("lru", config["lru"], SCHEMA) == [
        "lru.overrides entry 1 (when {setup: fig4}) is skipped: setup fig4 is not on this run's grid "
        "(lru.setups [table1])."]


@pytest.mark.parametrize("where, value, message", [
    ("model.dropout", 1.0, r"model.dropout = 1.0 must be < 1"),
    ("model.widths", [24, 0], r"model.widths = \[24, 0\] has entry 1 = 0, which must be >= 1"),
    ("model.embedding", 0, r"model.embedding = 0 must be >= 1"),
    ("model.widht", 3, r"model.widht \(value 3\) is not a key of the rnn model .*did you mean 'width'\?"),
    ("lsc.lr", 0, r"lsc.lr = 0 must be > 0"),
    ("lsc.tolerence", 0.1, r"lsc.tolerence .* is not a setting of lscrepro.lsc.recurrent:RecurrentLSCSettings; "
                           r"did you mean 'tolerance'\?"),
    ("train.epochs", 2.5, r"train.epochs = 2.5 is not of type integer"),
    ("train.clip_mode", "perr_tensor", r"train.clip_mode = 'perr_tensor' is not one of \[per_tensor, global"),
])
def test_a_bad_override_value_names_the_job_and_the_entry(where, value, message):
    config = smoke()
    config["rnn"]["overrides"][0]["set"][where] = value  # when {task: wordptb}
    with pytest.raises(SpecError, match=r"rnn (pre)?train job task=wordptb net=LSTM depth=2 variant=\w+ seed=0: "
                                        + message + r".* It is set by rnn.overrides entry 1 \(when \{task: wordptb\}\)"):
        check(config)


def test_a_variant_key_its_procedure_does_not_have_is_refused():
    # rnn variants may name lsc_mode (the schema allows it), but the recurrent LSC has no mode
    config = smoke()
    config["rnn"]["variants"][1]["lsc_mode"] = "reference"
    with pytest.raises(SpecError, match=r"lsc.mode .* is not a setting of .*RecurrentLSCSettings.* "
                                        r"It is set by the rnn variant 'lsc'"):
        check(config)


def test_override_numbers_written_like_1e_3_are_numbers():
    config = load_config([REPO / "config/smoke.yaml"], base=REPO / "config/config.yaml")
    config["rnn"]["overrides"][0]["set"]["train.lr"] = "3e-3"
    prepare_config(config, SCHEMA)
    assert config["rnn"]["overrides"][0]["set"]["train.lr"] == 3e-3
    check(config)


def _heidelberg_batch(config, size):
    entry = next(e for e in config["rnn"]["overrides"] if e["when"] == {"task": "heidelberg"}
                 and "train.batch_size" in e["set"])
    entry["set"]["train.batch_size"] = size


def test_a_batch_larger_than_its_split_is_refused_unless_allowed():
    config = paper()
    _heidelberg_batch(config, 7749)
    with pytest.raises(SpecError, match=r"train.batch_size = 7,749 is larger than the train split \(7,748 samples, "
                                        r"the real dataset's.*data.allow_full_batch: true.*rnn.overrides entry 9"):
        check(config)
    _heidelberg_batch(config, 7748)
    check(config)
    _heidelberg_batch(config, 100_000_000)
    config["data"]["allow_full_batch"] = True
    check(config)


def test_a_ptb_batch_without_a_window_is_refused_even_when_allowed():
    config = paper()
    config["data"]["allow_full_batch"] = True
    config["lru"]["overrides"][1]["set"]["train.batch_size"] = 1100  # table1: 929,589 // 1100 // 300 - 2 = 0
    with pytest.raises(SpecError, match=r"lru train job setup=table1 .*train.batch_size = 1,100 streams leave 845 "
                                        r"tokens.*the largest batch with a window is 1,032.*lru.overrides entry 2"):
        check(config)


def test_the_demo_grid_is_size_checked_before_its_data_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the cache paths are relative to the workflow folder
    config = smoke()
    _heidelberg_batch(config, 191)
    # a fresh clone: no demo data yet, so the sizes its generator writes (SHD: 95% of 200)
    with pytest.raises(SpecError, match=r"191 is larger than the train split \(190 samples, the demo data's; "
                                        r"no prepared cache yet\).*rnn.overrides entry 3"):
        check(config)
    _heidelberg_batch(config, 190)
    check(config)
    # once the cache exists, its arrays' shapes
    meta = tmp_path / "results/demo/prepared/shd/meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"arrays": {"train_labels": {"shape": [180]}, "val_labels": {"shape": [10]}}}))
    with pytest.raises(SpecError, match=r"190 is larger than the train split \(180 samples, from "
                                        r"results/demo/prepared/shd/meta.json\)"):
        check(config)


def test_the_demo_sizes_are_those_of_the_demo_datas_caches(tmp_path):
    from lscrepro.data import write_demo_data
    from lscrepro.data.prepared import prepare

    write_demo_data(tmp_path / "data")
    for name in PREPARATIONS:
        cache = prepare(name, tmp_path / "data", tmp_path / "prepared" / name)
        sizes = split_sizes(name, str(cache), demo=True)[0]
        expected = demo_split_sizes(name)
        # images and sl-MNIST leave their test size out (sklearn's digits set it)
        assert expected == {split: sizes[split] for split in expected} and {"train", "val"} <= set(expected), name


def test_the_ptb_windows_are_the_tasks():
    import torch

    from lscrepro.tasks.language import WordPTB

    for evaluation in ("reference", "full"):
        for tokens, rows, maxlen in ((929_589, 64, 300), (73_760, 64, 300), (30_000, 8, 20), (1000, 3, 111)):
            task = WordPTB({"train": torch.zeros(tokens)}, 10, maxlen=maxlen, evaluation=evaluation)
            assert windows(tokens, rows, maxlen, evaluation) == task.windows("train", rows)
    parameters = inspect.signature(WordPTB).parameters
    assert {name: parameters[name].default for name in PTB_DEFAULTS} == PTB_DEFAULTS


def test_the_real_split_sizes_follow_the_split_code():
    from sklearn.model_selection import train_test_split

    from lscrepro.data.latency import TRAIN_SPLIT
    from lscrepro.data.shd import reference_splits

    for name, official in (("mnist", 60000), ("cifar10", 50000), ("cifar100", 50000)):
        train, val = train_test_split(range(official), test_size=0.1, random_state=42)
        assert (len(train), len(val)) == tuple(PREPARATIONS[name].canonical_sizes[s] for s in ("train", "val"))
    splits = reference_splits(8156, 2264)
    assert {split: end - begin for split, (_, begin, end) in splits.items()} == PREPARATIONS["shd"].canonical_sizes
    assert PREPARATIONS["sl_mnist"].canonical_sizes["train"] == int(TRAIN_SPLIT * 60000)
    assert sum(PREPARATIONS["ptb"].canonical_sizes.values()) == 929_589 + 73_760 + 82_430


def test_a_yaml_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("ffn:\n  seeds: [0, 1\n  depth: 3\n")
    with pytest.raises(ValueError, match=rf"{path}, line 3, column 8: not valid YAML"):
        check_yaml_syntax(path)
    path.write_text("ffn:\n  seeds: [0, 1]\n")
    check_yaml_syntax(path)


@pytest.mark.parametrize("text, where, cause", [
    ("rnn:\n\tdepths: [2]\n", "line 2, column 1", "a tab"),
    ("rnn:\n  depths:\t[2]\n", "line 2, column 10", "a tab"),  # libyaml takes it; Snakemake's loader does not
    ("rnn: {depths: [2]\n", "line 2, column 1", "an unclosed bracket"),
])
def test_a_configfile_snakemake_refuses_is_named_with_its_line(tmp_path, capsys, text, where, cause):
    from snakemake.common.configfile import load_configfile
    from snakemake_interface_common.exceptions import WorkflowError

    from lscrepro.workflow.configcheck import main

    path = tmp_path / "part.yaml"
    path.write_text(text)
    with pytest.raises(WorkflowError, match="not valid JSON or YAML"):  # Snakemake's whole message
        load_configfile(str(path))
    assert main([str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}, {where}: not valid YAML") and cause in out, out


def test_a_missing_configfile_is_named_with_the_fix(tmp_path, capsys, monkeypatch):
    from lscrepro.workflow.configcheck import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "part.yaml").write_text("rnn: {depths: [2]}\n")
    assert main(["part.yaml"]) == 0 and capsys.readouterr().out == "part.yaml: valid YAML\n"
    assert main(["part.yaml", "all"]) == 1
    assert capsys.readouterr().out == (
        f"all: no such file (from {tmp_path}). A --configfile path is relative to the folder snakemake runs "
        "in, and a target written after --configfile is read as one more config file (`--configfile F all` "
        "reads a file `all`): put the targets first.\n")
