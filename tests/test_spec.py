"""Run specs: resolved once from the config, the learning rate exact, variants mapped."""

import pytest
import yaml

from lscrepro.spec import FAMILIES, pretrain_runs, resolve_spec, train_runs
from workflow_utils import REPO


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_the_learning_rate_comes_from_the_config_not_the_path(config):
    config["ffn"]["learning_rates"] = [3.16227766016838e-3]
    spec = resolve_spec(config, "ffn", "train",
                        {"dataset": "mnist", "activation": "sin", "variant": "he", "lr": "0.00316228", "seed": "1"})
    assert spec["train"]["lr"] == 3.16227766016838e-3
    assert spec["run"] == {"dataset": "mnist", "activation": "sin", "variant": "he",
                           "lr": 3.16227766016838e-3, "seed": 1}
    assert spec["model"]["init"] == "he_normal" and spec["model"]["activation"] == "sin"
    assert spec["seed"] == 1 and not spec["pretrained"] and "lsc" not in spec


def test_a_pretraining_spec_has_its_target_and_no_learning_rate(config):
    config["ffn"]["variants"].append({"name": "half", "init": "glorot_normal", "lsc": True, "target": 0.5,
                                      "lsc_mode": "reference"})
    spec = resolve_spec(config, "ffn", "pretrain",
                        {"dataset": "cifar10", "activation": "cos", "variant": "half", "seed": "0"})
    assert spec["lsc"]["target"] == 0.5 and spec["lsc"]["mode"] == "reference"
    assert "train" not in spec and "lr" not in spec["run"]
    assert spec["data"] == {"dataset": "cifar10", "cache": "results/prepared/cifar10",
                            "stamp": "results/data/cifar10.json"}


def test_learning_rates_that_share_a_path_tag_are_refused(config):
    config["ffn"]["learning_rates"] = [1.0e-3, 1.0000001e-3]
    with pytest.raises(ValueError, match="learning_rates"):
        train_runs("ffn", config["ffn"])


def test_duplicate_variant_names_are_refused(config):
    config["ffn"]["variants"].append(dict(config["ffn"]["variants"][0]))
    with pytest.raises(ValueError, match="duplicate variant names"):
        train_runs("ffn", config["ffn"])


def test_run_tables_of_the_paper_grid(config):
    assert len(train_runs("ffn", config["ffn"])) == 756
    pretrain = pretrain_runs("ffn", config["ffn"])
    assert len(pretrain) == 36 and list(pretrain.columns) == FAMILIES["ffn"].pretrain_keys
    assert len(train_runs("rnn", config["rnn"])) == 432 and len(pretrain_runs("rnn", config["rnn"])) == 288


def test_overrides_set_the_reference_settings_per_grid_point(config):
    def spec(kind, **run):
        return resolve_spec(config, "rnn", kind, {"seed": "0", "variant": "lsc_half", **run})

    shd5 = spec("train", task="heidelberg", net="LSTM", depth="5")
    assert (shd5["model"]["width"], shd5["train"]["batch_size"], shd5["train"]["lr"]) == (256, 32, 1e-3)
    ptb = spec("train", task="wordptb", net="rsimplernn", depth="2")
    assert (ptb["model"]["width"], ptb["model"]["activation"], ptb["train"]["lr"]) == (1300, "swish", 3.16e-4)
    alif = spec("pretrain", task="wordptb", net="maLSNN", depth="2")
    assert (alif["lsc"]["batch_size"], alif["lsc"]["target"], "train" not in alif) == (3, 0.5, True)
    assert spec("train", task="sl_mnist", net="maLSNNb", depth="2")["train"]["lr"] == 1e-3


def test_an_override_naming_no_axis_is_refused(config):
    config["rnn"]["overrides"].append({"when": {"dataset": "mnist"}, "set": {"train.lr": 0.1}})
    with pytest.raises(ValueError, match=r"`when` keys \['dataset'\] are not axes"):
        train_runs("rnn", config["rnn"])


def test_a_task_without_its_own_dataset_takes_the_registry_one(monkeypatch):
    from lscrepro import tasks

    # sl_mnist reads its own preparation, made from the mnist files
    assert (tasks.prepared_of({"name": "sl_mnist"}), tasks.dataset_of({"name": "sl_mnist"})) == ("sl_mnist", "mnist")
    assert tasks.dataset_of({"name": "wordptb"}) == "ptb"
    assert tasks.dataset_of({"name": "images", "dataset": "cifar10"}) == "cifar10"
    monkeypatch.setitem(tasks.TASK_DATA, "toy_task", "shd")
    assert tasks.dataset_of({"name": "toy_task"}) == "shd"
    with pytest.raises(ValueError, match="names no dataset"):
        tasks.dataset_of({"name": "unknown_task"})
