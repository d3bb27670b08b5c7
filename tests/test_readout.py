"""The readout fused with the cross-entropy (lscrepro.models.readout): the same loss, totals
and gradients as F.cross_entropy of the full logits, without a (rows x classes) tensor, and
the PTB task's training step and evaluation through it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from lscrepro.models.readout import readout_cross_entropy
from lscrepro.models.rnn import build
from lscrepro.tasks.base import Task, evaluate
from lscrepro.tasks.language import WordPTB


def _problem(dtype, rows=300, width=16, classes=90, bias=True, seed=0):
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(rows, width, dtype=dtype, generator=generator).requires_grad_()
    weight = torch.randn(classes, width, dtype=dtype, generator=generator).requires_grad_()
    b = torch.randn(classes, dtype=dtype, generator=generator).requires_grad_() if bias else None
    return h, weight, b, torch.randint(classes, (rows,), generator=generator)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_loss_totals_and_gradients_equal_the_full_logits(dtype, tolerance, bias):
    h, weight, b, target = _problem(dtype, bias=bias)
    inputs = [t for t in (h, weight, b) if t is not None]
    logits = h @ weight.T + (0 if b is None else b)
    reference = F.cross_entropy(logits, target)
    expected = torch.autograd.grad(reference, inputs)
    # 300 rows in chunks of 64: the last chunk is partial
    mean, total, correct = readout_cross_entropy(h, weight, b, target, chunk_rows=64)
    grads = torch.autograd.grad(2.5 * mean, inputs)  # the upstream gradient scales them
    assert torch.allclose(mean, reference, rtol=tolerance, atol=0)
    assert total.dtype == torch.float64 and abs(total.item() - reference.item() * 300) < 300 * tolerance * 10
    assert correct.item() == (logits.argmax(dim=-1) == target).sum().item()
    for got, want in zip(grads, expected):
        assert torch.allclose(got, 2.5 * want, rtol=tolerance, atol=tolerance * want.abs().max().item())


class LargestTensor(TorchDispatchMode):
    """The largest number of elements of any tensor an op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        sizes = [t.numel() for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        self.largest = max([self.largest, *sizes])
        return out


def test_no_rows_by_classes_tensor_is_made_forward_or_backward():
    h, weight, b, target = _problem(torch.float32, rows=200, classes=50)
    with LargestTensor() as fused:
        readout_cross_entropy(h, weight, b, target, chunk_rows=20)[0].backward()
    with LargestTensor() as unfused:
        F.cross_entropy(h @ weight.T + b, target).backward()
    assert unfused.largest == 200 * 50  # what the mode sees of the old path
    # nothing larger than one chunk's logits or the inputs (h and its gradient)
    assert fused.largest == max(20 * 50, h.numel(), weight.numel())


def test_without_gradients_only_the_totals_are_computed():
    h, weight, b, target = _problem(torch.float64)
    with torch.no_grad():
        mean, total, correct = readout_cross_entropy(h, weight, b, target, chunk_rows=7)
    assert not mean.requires_grad
    assert torch.allclose(mean, F.cross_entropy(h @ weight.T + b, target), rtol=1e-10)


def test_bad_shapes_are_named():
    h, weight, b, target = _problem(torch.float32)
    with pytest.raises(ValueError, match="rows .* and targets"):
        readout_cross_entropy(h, weight, b, target[:-1])
    with pytest.raises(ValueError, match="do not fit a readout weight"):
        readout_cross_entropy(h, weight.T, b, target)
    with pytest.raises(ValueError, match="chunk_rows must be >= 1"):
        readout_cross_entropy(h, weight, b, target, chunk_rows=0)


def _ptb() -> WordPTB:
    ids = {split: torch.arange(2000) * 7 % 60 for split in ("train", "val", "test")}
    return WordPTB(ids, vocab_size=60, maxlen=10, timerepeat=2, eval_batch_size=4, evaluation="full")


@pytest.mark.parametrize("cell", ["GRU", "maLSNNb"])
def test_the_ptb_step_through_the_fused_loss_equals_the_logits_path(cell):
    """Loss, totals and every parameter's gradient (the tied embedding's two uses among
    them) as the task's loss and totals of the model's logits give them, in float64."""
    task = _ptb()
    model = build({"cell": cell, "depth": 2, "widths": [12, 8], "dropout": 0.0}, task.dims, seed=0).double()
    x, y = next(iter(task.train_batches(4, torch.Generator())))
    results = []
    for step in (task.batch_step, lambda *args: Task.batch_step(task, *args)):
        model.zero_grad()
        loss, totals, state = step(model, x, y, None)
        loss.backward()
        results.append((loss, totals, state, [p.grad.clone() for p in model.parameters()]))
    (loss, totals, state, grads), (loss_ref, totals_ref, state_ref, grads_ref) = results
    assert torch.allclose(loss, loss_ref, rtol=1e-10)
    assert totals.keys() == totals_ref.keys()
    for key in totals:
        assert torch.allclose(torch.as_tensor(totals[key]).double(), torch.as_tensor(totals_ref[key]).double(),
                              rtol=1e-10), key
    assert all(torch.equal(a, b) for a, b in zip(tree_leaves(state), tree_leaves(state_ref)))
    assert all(torch.allclose(a, b, rtol=1e-9, atol=1e-12) for a, b in zip(grads, grads_ref))


def test_ptb_evaluation_through_the_fused_loss_equals_the_logits_path(monkeypatch):
    task = _ptb()
    model = build({"cell": "GRU", "depth": 1, "width": 8}, task.dims, seed=0)
    fused = evaluate(model, task, "val")
    monkeypatch.setattr(WordPTB, "batch_step", Task.batch_step)
    logits = evaluate(model, task, "val")
    assert fused.keys() == logits.keys()
    assert all(abs(fused[k] - logits[k]) <= 1e-5 * abs(logits[k]) for k in fused), (fused, logits)


def test_a_tie_at_the_largest_logit_counts_the_target_correct():
    """Rows tie at the maximum: the target among the tied counts (deviation 40), a target
    below the maximum does not."""
    weight = torch.eye(4)
    h = torch.tensor([[1.0, 3.0, 3.0, 0.0], [1.0, 3.0, 3.0, 0.0], [5.0, 1.0, 0.0, 0.0]])
    target = torch.tensor([2, 1, 1])
    _, _, correct = readout_cross_entropy(h, weight, None, target)
    assert correct.item() == 2
