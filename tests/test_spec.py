"""Run specs: resolved once from the config, the learning rate exact, variants mapped."""

import pytest
import yaml

from lscrepro.workflow.spec import FAMILIES, pretrain_runs, resolve_spec, train_runs
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

    shd5 = spec("train", task="heidelberg", net="GRU", depth="5")
    assert (shd5["model"]["width"], shd5["train"]["batch_size"], shd5["train"]["lr"]) == (117, 32, 1e-3)
    ptb = spec("train", task="wordptb", net="rsimplernn", depth="2")
    assert (ptb["model"]["widths"], ptb["model"]["activation"], ptb["train"]["lr"]) == \
        ([1300, 300], "swish", 3.16e-4)
    alif = spec("pretrain", task="wordptb", net="maLSNN", depth="2")
    assert (alif["lsc"]["batch_size"], alif["lsc"]["target"], "train" not in alif) == (3, 0.5, True)
    assert spec("train", task="sl_mnist", net="maLSNNb", depth="2")["train"]["lr"] == 1e-3


# stable_spike@67f1ce7 config/config.py default_config: PTB "2 layers" (stack=None)
# per-net widths after a 300-wide embedding; an int stack 5: base:base//5 twice, then 300;
# SHD 256 and sl-MNIST 128 scaled per net (LSTM 0.37 and 1/3, GRU 0.46 and 0.42)
PTB_WIDTHS = {2: {"LSTM": [500, 300], "GRU": [625, 300], "other": [1300, 300]},
              5: {"LSTM": [500, 100, 500, 100, 300], "GRU": [625, 125, 625, 125, 300],
                  "other": [1300, 260, 1300, 260, 300]}}
EQUAL_WIDTHS = {"heidelberg": {"LSTM": 94, "GRU": 117, "other": 256},
                "sl_mnist": {"LSTM": 42, "GRU": 53, "other": 128}}


@pytest.mark.parametrize("net", ["LSTM", "GRU", "rsimplernn", "ssimplernn", "maLSNN", "maLSNNb"])
@pytest.mark.parametrize("depth", [2, 5])
@pytest.mark.parametrize("task", ["wordptb", "heidelberg", "sl_mnist"])
def test_every_figure3_network_has_the_reference_layer_widths(config, task, net, depth):
    from lscrepro.models.rnn import layer_widths

    model = resolve_spec(config, "rnn", "train", {"task": task, "net": net, "depth": str(depth),
                                                  "seed": "0", "variant": "default"})["model"]
    group = net if net in ("LSTM", "GRU") else "other"
    if task == "wordptb":
        expected = PTB_WIDTHS[depth][group]
        assert model["embedding"] == 300
    else:
        expected = [EQUAL_WIDTHS[task][group]] * depth
        assert "embedding" not in model
    assert layer_widths(model) == expected


def test_an_override_naming_no_axis_is_refused(config):
    config["rnn"]["overrides"].append({"when": {"dataset": "mnist"}, "set": {"train.lr": 0.1}})
    with pytest.raises(ValueError, match=r"`when` keys \['dataset'\] are not axes"):
        train_runs("rnn", config["rnn"])


def test_a_task_without_its_own_dataset_takes_the_registry_one(monkeypatch):
    from lscrepro import tasks
    from lscrepro.catalog.tasks import TaskEntry

    # sl_mnist reads its own preparation, made from the mnist files
    assert (tasks.prepared_of({"name": "sl_mnist"}), tasks.dataset_of({"name": "sl_mnist"})) == ("sl_mnist", "mnist")
    assert tasks.dataset_of({"name": "wordptb"}) == "ptb"
    assert tasks.dataset_of({"name": "images", "dataset": "cifar10"}) == "cifar10"
    monkeypatch.setitem(tasks.TASKS, "toy_task", TaskEntry("toy_task", "toy:Toy", datasets=("shd",)))
    assert tasks.dataset_of({"name": "toy_task"}) == "shd"
    with pytest.raises(ValueError, match=r"task 'images' names no dataset: give it `dataset:` \(one of mnist"):
        tasks.dataset_of({"name": "images"})
    with pytest.raises(ValueError, match="unknown task 'unknown_task'; registered tasks: heidelberg, images"):
        tasks.dataset_of({"name": "unknown_task"})
