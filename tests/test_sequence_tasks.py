"""The sequence tasks of Figure 3 on hand-made data: PTB streams carry state, steps are
repeated, the SHD and sl-MNIST batches and metrics are what the reference computes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lscrepro.tasks.base import detach_state, evaluate, forward
from lscrepro.tasks.language import WordPTB
from lscrepro.tasks.sequences import repeat_steps
from lscrepro.tasks.spikes import SpikeClassification


def _ptb(tokens: int = 1000, maxlen: int = 10, timerepeat: int = 2, **options) -> WordPTB:
    ids = {split: torch.arange(tokens) % 50 for split in ("train", "val", "test")}
    return WordPTB(ids, vocab_size=50, maxlen=maxlen, timerepeat=timerepeat, eval_batch_size=4, **options)


def test_repeat_steps_duplicates_each_step_in_place():
    x = torch.tensor([[1, 2, 3]])
    assert repeat_steps(x, 2).tolist() == [[1, 1, 2, 2, 3, 3]]
    assert repeat_steps(x, 1) is x


def test_ptb_windows_are_contiguous_streams_with_next_token_targets():
    task = _ptb(tokens=1000, maxlen=10, timerepeat=1, evaluation="full")
    windows = list(task.train_batches(4, torch.Generator()))
    # 1000 tokens -> 4 rows of 250; (250 - 1) // 10 = 24 windows of 10 (the reference's
    # generator: 250 // 10 - 2 = 23, tests/test_ptb_protocol.py)
    assert len(windows) == 24 == task.batches_per_epoch(4)
    assert len(list(_ptb(tokens=1000, maxlen=10).train_batches(4, torch.Generator()))) == 23
    (x0, y0), (x1, _) = windows[0], windows[1]
    assert x0.shape == y0.shape == (4, 10)
    assert torch.equal(y0[:, :-1], x0[:, 1:])  # the target is the next token
    assert torch.equal(x1[:, 0], y0[:, -1])  # each row continues where it stopped
    assert x0[1, 0].item() == 250 % 50  # row r starts at r * 250


def test_ptb_steps_are_repeated_timerepeat_times():
    task = _ptb(maxlen=10, timerepeat=2)
    x, y = next(iter(task.train_batches(4, torch.Generator())))
    assert x.shape == (4, 20) and task.dims == {"vocab_size": 50, "num_classes": 50, "steps": 20}
    assert torch.equal(x[:, 0::2], x[:, 1::2]) and torch.equal(y[:, 0::2], y[:, 1::2])


class Counter(nn.Module):
    """Logits that count the steps seen so far: the state is the step count."""

    def forward(self, x, state=None):
        count = torch.zeros(len(x)) if state is None else state[0]
        steps = count[:, None] + torch.arange(1, x.shape[1] + 1)
        logits = torch.stack([steps, -steps], dim=-1)
        return logits, (steps[:, -1],)


def test_a_ptb_stream_carries_state_across_batches():
    task, model = _ptb(maxlen=10, timerepeat=1), Counter()
    state, seen = None, []
    for x, _ in task.train_batches(4, torch.Generator()):
        output, state = forward(model, x, state, task.carries_state)
        seen.append(output[0, -1, 0].item())
        state = detach_state(state)
    assert seen[:3] == [10.0, 20.0, 30.0]  # a stateless run would give 10 each time


def test_a_ptb_task_with_carry_state_false_starts_every_window_afresh():
    task, model = _ptb(maxlen=10, timerepeat=1, carry_state=False), Counter()
    state, seen = None, []
    for x, _ in task.train_batches(4, torch.Generator()):
        output, state = forward(model, x, state, task.carries_state)
        seen.append(output[0, -1, 0].item())
        assert state is None
    assert seen[:3] == [10.0, 10.0, 10.0]


def test_a_stateless_task_drops_the_state():
    output, state = forward(Counter(), torch.zeros(2, 5), None, carries_state=False)
    assert state is None and output.shape == (2, 5, 2)


def test_perplexity_is_exp_of_the_mean_cross_entropy_over_all_steps():
    task = _ptb(maxlen=10, timerepeat=1)

    class Uniform(nn.Module):
        def forward(self, x, state=None):
            return torch.zeros(*x.shape, 50), state

    metrics = evaluate(Uniform(), task, "val")
    assert metrics["loss"] == pytest.approx(math.log(50))
    assert metrics["perplexity"] == pytest.approx(50.0)


def test_ptb_too_short_for_its_batch_names_the_fix():
    task = _ptb(tokens=100, maxlen=10)
    with pytest.raises(ValueError, match="lower batch_size or maxlen"):
        next(iter(task.train_batches(32, torch.Generator())))


class Toy(SpikeClassification):
    """Spikes at step = label: inputs made from the row index."""

    def __init__(self, n: int = 10, with_replacement: bool = False):
        labels = {s: torch.arange(n) % 3 for s in ("train", "val", "test")}
        super().__init__(labels, {"channels": 4, "num_classes": 3, "steps": 5}, timerepeat=2)
        self.with_replacement = with_replacement

    def inputs(self, split, rows):
        x = torch.zeros(len(rows), 5, 4)
        x[torch.arange(len(rows)), self.labels[split][rows], 0] = 1.0
        return x


def test_spike_batches_repeat_steps_and_label_every_step():
    task = Toy()
    assert task.dims == {"in_features": 4, "num_classes": 3, "steps": 10}
    batches = list(task.train_batches(4, torch.Generator().manual_seed(0)))
    assert len(batches) == 2 == task.batches_per_epoch(4)  # 10 // 4: the partial batch is dropped
    x, y = batches[0]
    assert x.shape == (4, 10, 4) and y.shape == (4, 10)
    assert torch.equal(y[:, 0], y[:, -1])
    rows = torch.cat([b[1][:, 0] for b in batches])
    assert len(rows) == 8


def test_mode_accuracy_is_the_argmax_of_the_time_mean():
    task = Toy(n=2)
    target = torch.tensor([[0, 0, 0], [1, 1, 1]])
    # sample 0: right at 1 of 3 steps but right on the time-mean; sample 1: wrong on the mean
    output = torch.tensor([[[5.0, 0.0], [0.0, 1.0], [0.0, 1.0]],
                           [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    totals = task.totals(output, target)
    metrics = task.summarize(totals)
    assert metrics["mode_accuracy"] == 0.5
    assert metrics["accuracy"] == pytest.approx(2 / 6)


def test_with_replacement_draws_may_repeat_rows():
    task = Toy(n=10, with_replacement=True)
    order = task._order("train", 10, torch.Generator().manual_seed(0))
    assert len(order) == 10 and len(set(order.tolist())) < 10


# --- mlminputs (Table 1) -------------------------------------------------------------------------
def _inputs(task, batches, epoch, split="train"):
    task.set_epoch(epoch)
    generator = torch.Generator().manual_seed(0)
    source = task.train_batches(4, generator) if split == "train" else task.eval_batches(split)
    return torch.cat([x for x, _ in batches(source)]), torch.cat([y for _, y in batches(task.streams(split, 4))])


def test_mlm_replaces_about_5_percent_of_input_tokens_in_the_first_epochs_only():
    ids = {split: torch.arange(20_000) % 50 for split in ("train", "val", "test")}
    task = WordPTB(ids, vocab_size=50, maxlen=10, timerepeat=1, eval_batch_size=4,
                   mlm_probability=0.05, mlm_epochs=2)
    clean = torch.cat([x for x, _ in task.streams("train", 4)])
    everything = list  # take all batches
    for epoch in (0, 1):
        corrupted, _ = _inputs(task, everything, epoch)
        rate = (corrupted != clean).float().mean().item()
        assert 0.04 < rate < 0.06, rate  # 5% replaced, 1/50 of them by the same token
        targets = torch.cat([y for _, y in task.train_batches(4, torch.Generator().manual_seed(0))])
        assert torch.equal(targets, torch.cat([y for _, y in task.streams("train", 4)]))
    assert torch.equal(_inputs(task, everything, 2)[0], clean)
    # validation and test stay clean unless mlm_eval, as the reference's generators were not
    task.set_epoch(0)
    assert torch.equal(torch.cat([x for x, _ in task.eval_batches("val")]),
                       torch.cat([x for x, _ in task.streams("val", 4)]))
    task.mlm_eval = True
    assert not torch.equal(torch.cat([x for x, _ in task.eval_batches("val")]),
                           torch.cat([x for x, _ in task.streams("val", 4)]))


def test_mlm_corruption_is_reproducible_from_the_generator():
    ids = {split: torch.arange(2_000) % 50 for split in ("train", "val", "test")}
    task = WordPTB(ids, vocab_size=50, maxlen=10, timerepeat=1, mlm_probability=0.3)
    first, _ = _inputs(task, list, 0)
    second, _ = _inputs(task, list, 0)
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="mlm_probability"):
        WordPTB(ids, vocab_size=50, mlm_probability=1.5)
