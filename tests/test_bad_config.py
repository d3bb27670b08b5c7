"""Malformed configs fail a dry run with a message naming the key and the value; a
learning rate written 1e-3 (a string to YAML 1.1) is accepted as the number."""

from __future__ import annotations

import re

import pytest

from lscrepro.workflow.configcheck import check_keys, coerce_numbers
from workflow_utils import copy_workflow, planned_jobs, snakemake

SMOKE_LRS = "learning_rates: [1.0e-2, 1.0e-3]"
HE = "{name: he, init: he_normal, lsc: false}"
LSC_SIZES = "  lsc:\n    epochs: 30\n    batch_size: 128"

# id, text in config/smoke.yaml, its replacement, fragments the output must contain
SCHEMA_CASES = [
    ("width_not_int", "    width: 32", "    width: many",
     ["'many' is not of type 'integer'", "On instance['ffn']['model']['width']"]),
    ("zero_epochs", "    epochs: 4", "    epochs: 0",
     ["0 is less than the minimum of 1", "On instance['ffn']['train']['epochs']"]),
    ("negative_batch_size", LSC_SIZES, LSC_SIZES.replace("128", "-1"),
     ["-1 is less than the minimum of 1", "On instance['ffn']['lsc']['batch_size']"]),
    ("unknown_activation", "activations: [relu, cos]", "activations: [relu, tanh]",
     ["'tanh' is not one of ['sin', 'relu', 'cos']", "On instance['ffn']['activations'][1]"]),
    ("unknown_dataset", "datasets: [mnist, cifar10, cifar100]", "datasets: [mnist, svhn, cifar100]",
     ["'svhn' is not one of ['mnist', 'cifar10', 'cifar100']", "On instance['ffn']['datasets'][1]"]),
    ("unknown_radius_method", "radius_method: ritz", "radius_method: power",
     ["'power' is not one of ['ritz', 'eig']", "On instance['ffn']['lsc']['radius_method']"]),
    ("empty_seeds", "seeds: [0, 1]", "seeds: []",
     ["[] should be non-empty", "On instance['ffn']['seeds']"]),
    ("variant_without_name", HE, "{init: he_normal, lsc: false}",
     ["'name' is a required property", "On instance['ffn']['variants'][1]", "{'init': 'he_normal', 'lsc': False}"]),
    ("zero_lsc_target", "lsc: true, target: 1.0}\n    # The reference", "lsc: true, target: 0}\n    # The reference",
     ["0 is less than or equal to the minimum of 0", "On instance['ffn']['variants'][2]['target']"]),
    # only numeric strings become numbers: a word stays a (wrong) string
    ("word_learning_rate", SMOKE_LRS, "learning_rates: [1e-2, fast]",
     ["'fast' is not of type 'number'", "On instance['ffn']['learning_rates'][1]"]),
]
# errors the schema cannot phrase well: lscrepro.workflow.configcheck and lscrepro.workflow.spec raise them
CHECK_CASES = [
    ("misspelled_top_level_key", "\nffn:", "\nfnn:",
     ["config key 'fnn' (value {", "is not known; did you mean 'ffn'? known keys: data, device, ffn, fig1"]),
    ("misspelled_nested_key", "    patience: 10\n  lsc:", "    patiense: 10\n  lsc:",
     ["config key 'ffn.train.patiense' (value 10) is not known; did you mean 'patience'?"]),
    ("unknown_variant_key", HE, "{name: he, initt: he_normal, lsc: false}",
     ["config key 'ffn.variants[1].initt' (value 'he_normal') is not known; did you mean 'init'?"]),
    ("duplicate_variant_names", HE, "{name: glorot, init: he_normal, lsc: false}",
     ["ValueError", "variants: duplicate variant names ['glorot']; names must be unique"]),
]
# Snakemake loads a --configfile before it reads the Snakefile, so no workflow code sees
# a YAML error; it prints only "Config file is not valid JSON or YAML". The file and line
# are in PyYAML's error, which it shows with --verbose (in the traceback).
YAML_CASES = [
    ("unclosed_bracket", "seeds: [0, 1]", "seeds: [0, 1"),
    ("bad_indentation", "    depth: 6\n    width", "      depth: 6\n    width"),
]


# Mistakes that only a look at the grid or at the resolved job specs finds (lscrepro.workflow.gridcheck,
# lscrepro.workflow.speccheck): each fails the dry run naming the key and the override entry, before
# any job is queued. id, config file, text in it, replacement, fragments of the message.
PLAN_CASES = [
    ("setup_typo", "smoke", "setups: [fig4, table1]", "setups: [fig4, tabel1]",
     ["lru.setups: 'tabel1' is not a defined setup; did you mean 'table1'?",
      "Defined: fig4 (entry 1), table1 (entry 2)"]),
    ("when_value_off_the_grid", "smoke", "when: {net: [maLSNN, maLSNNb]}", "when: {net: [maLSNN, maLSNB]}",
     ["rnn.overrides entry 5 (when {net: [maLSNN, maLSNB]}): net 'maLSNB' is not a valid net",
      "did you mean 'maLSNN'?"]),
    ("override_matching_nothing", "smoke", "when: {task: sl_mnist}", "when: {task: sl_mnsit}",
     ["rnn.overrides entry 4 (when {task: sl_mnsit}): task 'sl_mnsit' is not a valid task",
      "did you mean 'sl_mnist'?"]),
    ("negative_lr_by_an_override", "smoke", "train.batch_size: 8, train.lr: 3.0e-3",
     "train.batch_size: 8, train.lr: -3.0e-3",
     ["rnn train job task=wordptb net=LSTM depth=2 variant=default seed=0: train.lr = -0.003 must be > 0",
      "It is set by rnn.overrides entry 1 (when {task: wordptb})"]),
    ("set_key_typo", "smoke", "set: {train.batch_size: 32, train.lr: 1.0e-2,",
     "set: {train.batch_size: 32, train.lrr: 1.0e-2,",
     ["train.lrr (value 0.01) is not a setting of lscrepro.training:TrainSettings; did you mean 'lr'?",
      "It is set by rnn.overrides entry 4 (when {task: sl_mnist})"]),
    # a fresh clone: the demo data are not written yet, the sizes their generator writes are known
    ("batch_larger_than_its_split", "smoke", "train.batch_size: 20, train.lr: 1.0e-3",
     "train.batch_size: 100000000, train.lr: 1.0e-3",
     ["train.batch_size = 100,000,000 is larger than the train split (190 samples, the demo data's",
      "It is set by rnn.overrides entry 3 (when {task: heidelberg})"]),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("bad_config"))


def write_config(workdir, name, old, new, base="smoke"):
    text = (workdir / f"config/{base}.yaml").read_text()
    assert text.count(old) == 1, old
    path = workdir / f"{name}.yaml"
    path.write_text(text.replace(old, new))
    return path


def dry_run_output(workdir, path, *args):
    out = snakemake(workdir, "--dry-run", "--configfile", str(path), *args, check=False)
    assert out.returncode != 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@pytest.mark.parametrize("name, old, new, fragments", SCHEMA_CASES + CHECK_CASES,
                         ids=[case[0] for case in SCHEMA_CASES + CHECK_CASES])
def test_bad_config_fails_naming_key_and_value(workdir, name, old, new, fragments):
    message = dry_run_output(workdir, write_config(workdir, name, old, new))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("name, base, old, new, fragments", PLAN_CASES, ids=[case[0] for case in PLAN_CASES])
def test_a_plan_mistake_fails_the_dry_run_naming_the_key_and_the_entry(workdir, name, base, old, new, fragments):
    message = dry_run_output(workdir, write_config(workdir, name, old, new, base))
    for fragment in fragments:
        assert fragment in message, message
    assert "Job stats" not in message  # nothing was planned


def test_zero_cores_are_refused(workdir):
    # Snakemake would plan, then wait forever for a core
    out = snakemake(workdir, "--cores", "0", "results/code/ffn_train.json", check=False)
    assert out.returncode != 0 and "--cores 0 gives Snakemake no core" in out.stdout + out.stderr


@pytest.mark.parametrize("name, old, new", YAML_CASES, ids=[case[0] for case in YAML_CASES])
def test_yaml_syntax_error_names_file_and_line(workdir, name, old, new):
    path = write_config(workdir, name, old, new)
    text = path.read_text()
    line = text[:text.index(new)].count("\n") + 1
    message = dry_run_output(workdir, path, "--verbose")
    assert "Config file is not valid JSON or YAML" in message
    assert f'in "{path}", line {line},' in message, message


def test_exponent_learning_rates_plan_the_same_jobs(workdir):
    plain = planned_jobs(workdir, "--configfile", str(write_config(workdir, "lr_plain", SMOKE_LRS, SMOKE_LRS)))
    short = write_config(workdir, "lr_short", SMOKE_LRS, "learning_rates: [1e-2, 1e-3]")
    assert plain and planned_jobs(workdir, "--configfile", str(short)) == plain


SCHEMA = {
    "$defs": {"rate": {"type": "number"}},
    "type": "object",
    "additionalProperties": False,
    "properties": {"dir": {"type": "string"}, "name": {"enum": ["1e3", "a"]}, "width": {"type": "integer"},
                   "rates": {"type": "array", "items": {"$ref": "#/$defs/rate"}}},
}


def test_coerce_numbers_touches_only_numbers():
    config = {"dir": "2024", "name": "1e3", "width": "1e2", "rates": ["1e-3", "-.5E+1", 2, "nan", "fast"]}
    assert coerce_numbers(config, SCHEMA) == {
        "dir": "2024", "name": "1e3", "width": 100, "rates": [1.0e-3, -5.0, 2, "nan", "fast"]}
    assert type(coerce_numbers({"width": 5.0}, SCHEMA)["width"]) is int
    assert coerce_numbers({"width": 5.5}, SCHEMA) == {"width": 5.5}  # left for the schema to refuse


def test_check_keys_suggests_the_closest_key():
    check_keys({"dir": "x", "rates": [1.0]}, SCHEMA)
    with pytest.raises(ValueError, match=r"config key 'widht' \(value 3\) is not known; did you mean 'width'\?"):
        check_keys({"widht": 3}, SCHEMA)
    with pytest.raises(ValueError, match=r"config key 'zzz' \(value 3\) is not known; known keys: dir, name"):
        check_keys({"zzz": 3}, SCHEMA)


def test_an_overlay_of_one_depth_plans_that_part_of_the_paper_grid(workdir):
    # the config's overrides for depth 5 stay: they are skipped, each named once in the plan
    path = workdir / "depth2.yaml"
    path.write_text("rnn: {depths: [2]}\n")
    out = snakemake(workdir, "--dry-run", "results/rnn/summary.csv", "--configfile", str(path))
    text = out.stdout + out.stderr
    skipped = [line for line in text.splitlines() if line.startswith("lscrepro: rnn.overrides entry")]
    assert skipped == [f"lscrepro: rnn.overrides entry {number} (when {when}) is skipped: depth 5 is not on "
                       "this run's grid (rnn.depths [2])." for number, when in (
                           (5, "{task: wordptb, depth: 5}"), (6, "{task: wordptb, depth: 5, net: LSTM}"),
                           (7, "{task: wordptb, depth: 5, net: GRU}"), (12, "{task: heidelberg, depth: 5}"),
                           (21, "{task: heidelberg, depth: 5}"))], text
    # the paper's grid has 2 depths: 3 tasks x 6 nets x 4 seeds x 3 variants per depth, 2 of them pre-trained
    assert re.search(r"^pretrain_rnn +144$", text, re.M) and re.search(r"^train_rnn +216$", text, re.M), text
