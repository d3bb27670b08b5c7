"""workflow_scripts/describe.py: a job's spec, layers and parameter count without training."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lscrepro.workflow.configcheck import prepare_config
from lscrepro.describe import describe, find_job
from lscrepro.workflow.status import load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config():
    config = load_config([], base=ROOT / "config/config.yaml")
    prepare_config(config, ROOT / "schemas/config.schema.yaml")
    return config


def run_describe(*args):
    return subprocess.run([sys.executable, "workflow_scripts/describe.py", *args], cwd=ROOT,
                          capture_output=True, text=True)


def test_the_ptb_two_layer_lstm_has_the_reference_size():
    done = run_describe("results/rnn/wordptb/LSTM/depth2/default/seed0", "--json")
    assert done.returncode == 0, done.stderr
    described = json.loads(done.stdout)
    assert isinstance(described["parameters"], int)
    # a 10,000 x 300 embedding, LSTM 500 then 300, tied readout: 5.57 million (today's
    # 1300-wide stack with a 1300-wide embedding had about 40 million)
    assert described["parameters"] < 8_000_000
    embedding = 10_000 * 300
    lstm1 = 4 * 500 * (300 + 500) + 2 * 4 * 500
    lstm2 = 4 * 300 * (500 + 300) + 2 * 4 * 300
    assert described["parameters"] == embedding + lstm1 + lstm2
    assert described["spec"]["model"]["widths"] == [500, 300]


def test_a_pretraining_folder_is_described_with_its_spec(config):
    described = describe(config, "results/rnn/pretrained/heidelberg/GRU/depth5/lsc_half/seed1", ROOT)
    assert (described["family"], described["kind"]) == ("rnn", "pretrain")
    assert described["spec"]["lsc"]["target"] == 0.5
    gru_layers = [layer for layer in described["layers"] if layer["name"].endswith("weight_hh_l0")]
    assert [layer["shape"] for layer in gru_layers] == [[3 * 117, 117]] * 5


def test_a_folder_off_the_grid_names_the_folders_a_job_has(config):
    with pytest.raises(ValueError, match=r"no job of this config.*results/rnn/\{task\}"):
        find_job(config, "results/rnn/wordptb/LSTM/depth3/default/seed0")
    with pytest.raises(ValueError, match="no job"):  # the default variant is never pre-trained
        find_job(config, "results/rnn/pretrained/wordptb/LSTM/depth2/default/seed0")
    done = run_describe("results/nowhere")
    assert done.returncode != 0 and "describe: results/nowhere is the output folder of no job" in done.stderr


def test_text_output_lists_each_parameter_and_the_total():
    done = run_describe("results/lru/table1/depth6/lsc/clip1/seed3")
    assert done.returncode == 0, done.stderr
    assert "lru train job" in done.stdout and done.stdout.rstrip().endswith("parameters")
