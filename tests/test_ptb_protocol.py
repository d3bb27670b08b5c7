"""Word-level PTB as the reference ran it: windows per epoch (py-aromatics' PTBGenerator
steps_per_epoch = N // B // maxlen - 2), the perplexity as Keras logged it (the mean over
batches of exp(batch mean cross-entropy)), `evaluation: full` keeping the whole-split
numbers, and `carry_state: false` starting every window of the LRU from a zero state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lscrepro.tasks.language as language
from lscrepro.data.prepared import Prepared
from lscrepro.models.lru import build
from lscrepro.tasks.base import evaluate
from lscrepro.tasks.language import WordPTB
from lscrepro.training import TrainSettings, train

CPU = torch.device("cpu")
V = 50


def _ptb(tokens: int, maxlen: int = 10, batch: int = 4, **options) -> WordPTB:
    ids = {split: torch.arange(tokens) % V for split in ("train", "val", "test")}
    return WordPTB(ids, vocab_size=V, maxlen=maxlen, timerepeat=1, eval_batch_size=batch, **options)


# --- windows -------------------------------------------------------------------------------------
@pytest.mark.parametrize("tokens, reference, full", [
    (64 * 1000 + 37, 8, 9),  # streams of 1000: 1000 // 100 - 2 = 8; (1000 - 1) // 100 = 9
    (64 * 1050, 8, 10),      # streams of 1050: 10 - 2 = 8; 1049 // 100 = 10
])
def test_reference_epochs_read_n_over_b_over_maxlen_minus_2_windows_of_batch_64(tokens, reference, full):
    assert tokens // 64 // 100 - 2 == reference
    task = _ptb(tokens, maxlen=100, batch=64)
    for batches in (list(task.train_batches(64, torch.Generator())), list(task.eval_batches("val")),
                    list(task.eval_batches("test"))):
        assert len(batches) == reference
        assert all(x.shape == y.shape == (64, 100) for x, y in batches)
    assert task.batches_per_epoch(64) == reference == task.batches_per_epoch(64, "val")
    x0, _ = next(iter(task.eval_batches("val")))
    assert x0[1, 0].item() == (tokens // 64) % V  # the first windows: row r starts at r * N // B
    full_task = _ptb(tokens, maxlen=100, batch=64, evaluation="full")
    assert len(list(full_task.eval_batches("val"))) == full == full_task.batches_per_epoch(64)


def test_a_split_too_short_for_the_reference_windows_names_the_fix():
    task = _ptb(tokens=4 * 29, maxlen=10)  # streams of 29: 2 windows - 2 = 0 (full: 2)
    with pytest.raises(ValueError, match="0 windows .*'reference'.*lower batch_size or maxlen"):
        next(iter(task.eval_batches("val")))
    assert len(list(_ptb(tokens=4 * 29, maxlen=10, evaluation="full").eval_batches("val"))) == 2


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="evaluation must be one of"):
        _ptb(1000, evaluation="keras")
    with pytest.raises(ValueError, match="carry_state must be true or false"):
        _ptb(1000, carry_state="no")


# --- perplexity ----------------------------------------------------------------------------------
class Confident(nn.Module):
    """Logit s on the next token (ids count up mod V) and 0 elsewhere, s = 1 + x[0, 0] % 7,
    so each batch has its own cross-entropy log(e^s + V - 1) - s."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))  # something for the optimiser to hold

    def forward(self, x, state=None):
        scale = 1.0 + (x[0, 0] % 7).float()
        logits = scale * F.one_hot((x + 1) % V, V).float()
        return logits + 0.0 * self.weight, state


def _batch_losses(batches) -> list[float]:
    losses = []
    for x, _ in batches:
        s = 1.0 + x[0, 0].item() % 7
        losses.append(math.log(math.exp(s) + V - 1) - s)
    return losses


def test_reference_perplexity_is_the_mean_over_batches_of_exp_batch_cross_entropy():
    task = _ptb(tokens=2000, maxlen=10, batch=4)
    losses = _batch_losses(task.eval_batches("val"))
    assert len(losses) == 2000 // 4 // 10 - 2 and len(set(np.round(losses, 6))) > 1
    metrics = evaluate(Confident(), task, "val")
    assert metrics["perplexity"] == pytest.approx(np.mean(np.exp(losses)), rel=1e-5)
    assert metrics["loss"] == pytest.approx(np.mean(losses), rel=1e-5)
    # Jensen: the mean of exps exceeds the exp of the mean where batches differ
    assert metrics["perplexity"] > math.exp(metrics["loss"]) * (1 + 1e-4)


def test_full_evaluation_keeps_the_whole_split_token_mean_perplexity():
    task = _ptb(tokens=2000, maxlen=10, batch=4, evaluation="full")
    ids = task.ids["val"][:2000].view(4, 500)
    windows = (500 - 1) // 10
    x, y = ids[:, :windows * 10], ids[:, 1:windows * 10 + 1]  # every window, as before
    logits = torch.cat([Confident()(x[:, k:k + 10])[0] for k in range(0, windows * 10, 10)], dim=1)
    expected = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    metrics = evaluate(Confident(), task, "val")
    assert len(list(task.eval_batches("val"))) == windows == 49
    assert metrics["loss"] == pytest.approx(expected, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)


def test_training_epoch_metrics_are_computed_as_the_validation_ones():
    task = _ptb(tokens=2000, maxlen=10, batch=4)
    settings = TrainSettings(lr=1e-3, epochs=1, batch_size=4, weight_decay=0.0)
    result = train(Confident(), task, settings, seed=0, device=CPU, log=lambda _line: None)
    row = result.history[0]
    train_losses = _batch_losses(task.train_batches(4, torch.Generator()))
    val_losses = _batch_losses(task.eval_batches("val"))
    assert row["perplexity"] == pytest.approx(np.mean(np.exp(train_losses)), rel=1e-5)
    assert row["val_perplexity"] == pytest.approx(np.mean(np.exp(val_losses)), rel=1e-5)
    assert row["test_perplexity"] == pytest.approx(np.mean(np.exp(val_losses)), rel=1e-5)  # same ids


def test_from_config_reads_carry_state_and_evaluation(monkeypatch):
    arrays = {f"{split}_ids": np.arange(1000) % V for split in ("train", "val", "test")}
    prepared = Prepared("ptb", "ptb", arrays, {"vocab_size": V})
    monkeypatch.setattr(language, "load_task_data", lambda data: prepared)
    task = WordPTB.from_config({"name": "wordptb", "maxlen": 10, "carry_state": False,
                                "evaluation": "full", "eval_batch_size": 8}, {}, CPU)
    assert task.carries_state is False and task.evaluation == "full" and task.eval_batch_size == 8
    default = WordPTB.from_config({"name": "wordptb", "maxlen": 10}, {}, CPU)
    assert default.carries_state is True and default.evaluation == "reference"


# --- carry_state with the LRU --------------------------------------------------------------------
def _record_against_fresh_starts(model) -> list[tuple[bool, bool]]:
    """Per pass of ``model`` (its ``features``, which the fused PTB loss calls without the
    readout): (in training mode, output == the model run on that window alone from a zero
    state), computed inside the call so the weights are the same."""
    calls, features = [], model.features

    def recorded(x, state=None):
        output = features(x, state)
        with torch.no_grad():
            alone = features(x)[0]
        calls.append((model.training, torch.allclose(output[0], alone, rtol=1e-6, atol=1e-6)))
        return output

    model.features = recorded
    return calls


@pytest.mark.parametrize("carry", [False, True])
def test_without_carry_state_every_lru_window_starts_from_zero_in_training_and_evaluation(carry):
    task = _ptb(tokens=1000, maxlen=10, batch=4, carry_state=carry)
    # no dropout, so that a training-mode call and the fresh run are the same computation
    model = build({"name": "lru", "depth": 2, "width": 8, "dropout": 0.0, "block_dropout": 0.0},
                  task.dims, seed=0)
    calls = _record_against_fresh_starts(model)
    settings = TrainSettings(lr=1e-3, epochs=1, batch_size=4, steps_per_epoch=4, weight_decay=0.0)
    train(model, task, settings, seed=0, device=CPU, log=lambda _line: None)
    training = [same for in_training, same in calls if in_training]
    evaluation = [same for in_training, same in calls if not in_training]
    assert len(training) == 4 and len(evaluation) == 2 * task.batches_per_epoch(4, "val")
    if carry:  # only the first window of a pass starts from zeros
        assert training[0] and not any(training[1:])
        assert evaluation[0] and not any(evaluation[1:task.batches_per_epoch(4, "val")])
    else:
        assert all(training) and all(evaluation)


def test_table1_runs_evaluate_at_batch_64_on_n_over_b_over_maxlen_minus_2_windows():
    """The paper grid's Table 1 spec, through WordPTB.from_config's keys: validation and test
    at the training batch size 64, windows of 300, N // 64 // 300 - 2 of them."""
    from pathlib import Path

    from lscrepro.workflow.configcheck import prepare_config
    from lscrepro.workflow.spec import resolve_spec
    from lscrepro.workflow.status import load_config

    root = Path(__file__).resolve().parents[1]
    config = load_config([], base=root / "config/config.yaml")
    prepare_config(config, root / "schemas/config.schema.yaml")
    spec = resolve_spec(config, "lru", "train", {"setup": "table1", "depth": "6", "clip": "0",
                                                  "seed": "0", "variant": "lsc"})
    task_config, batch = spec["task"], spec["train"]["batch_size"]
    assert (batch, task_config["eval_batch_size"], task_config["maxlen"]) == (64, 64, 300)
    assert task_config["evaluation"] == "reference" and task_config["carry_state"] is False
    tokens = 64 * 300 * 5 + 999  # streams of 1515 tokens: 1515 // 300 - 2 = 3 windows
    ids = {split: torch.arange(tokens) % V for split in ("train", "val", "test")}
    keys = ("maxlen", "timerepeat", "eval_batch_size", "mlm_probability", "mlm_epochs", "carry_state",
            "evaluation")
    task = WordPTB(ids, vocab_size=V, **{k: task_config[k] for k in keys if k in task_config})
    for split in ("val", "test"):
        batches = list(task.eval_batches(split))
        assert len(batches) == tokens // 64 // 300 - 2 == 3
        assert all(x.shape == (64, 300) for x, _ in batches)
    assert len(list(task.train_batches(batch, torch.Generator()))) == 3
