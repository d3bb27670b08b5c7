"""The PTB loss and perplexity against what Keras reported for the reference's models (golden
``ptb_perplexity``: py-aromatics@347b2c8 advanced_losses.perplexity through AddMetricsLayer,
averaged over batches by model.evaluate; crosscheck/goldens/ptb_eval.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from crosscheck import golden
from lscrepro.tasks.base import add_totals
from lscrepro.tasks.language import WordPTB

G = golden.load("ptb_perplexity")
BATCH = 3
# float32 logits on both sides; Keras' and torch's log-softmax sum in different orders, and
# exp() of the largest batch (mean cross-entropy 6.4) multiplies the relative error by 6.4
RTOL = 1e-5


def port_metrics(evaluation: str) -> dict[str, float]:
    """The task's totals over the golden's batches, summed as tasks.base.evaluate sums them."""
    logits, targets = torch.as_tensor(G["logits"]), torch.as_tensor(G["targets"])
    vocab = logits.shape[-1]
    task = WordPTB({s: torch.zeros(10, dtype=torch.long) for s in ("train", "val", "test")}, vocab,
                   maxlen=logits.shape[1], timerepeat=1, eval_batch_size=BATCH, evaluation=evaluation)
    totals: dict[str, float] = {}
    for output, target in zip(logits.split(BATCH), targets.split(BATCH)):
        add_totals(totals, task.totals(output, target))
    return task.summarize(totals)


def test_reference_perplexity_is_the_mean_of_batch_perplexities():
    """``evaluation: reference`` (the default): Keras' mean over batches of exp(batch mean CE)."""
    metrics = port_metrics("reference")
    np.testing.assert_allclose(metrics["perplexity"], float(G["perplexity"]), rtol=6.4 * RTOL)
    np.testing.assert_allclose(metrics["loss"], float(G["loss"]), rtol=RTOL)


def test_full_perplexity_is_exp_of_the_mean_cross_entropy():
    """``evaluation: full``: exp of the token-mean cross-entropy, which the golden's loss is (equal
    batches); far below the reference's mean of batch perplexities on these uneven batches."""
    metrics = port_metrics("full")
    np.testing.assert_allclose(metrics["perplexity"], math.exp(float(G["loss"])), rtol=4 * RTOL)
    assert metrics["perplexity"] < 0.2 * float(G["perplexity"])


def test_batch_perplexities():
    """Each batch's exp(mean CE) as the reference's metric computes it."""
    task = WordPTB({s: torch.zeros(10, dtype=torch.long) for s in ("train", "val", "test")}, G["logits"].shape[-1],
                   maxlen=G["logits"].shape[1], timerepeat=1)
    ours = [task.totals(o, t)["batch_perplexity"] for o, t in
            zip(torch.as_tensor(G["logits"]).split(BATCH), torch.as_tensor(G["targets"]).split(BATCH))]
    np.testing.assert_allclose(ours, G["batch_perplexities"], rtol=6.4 * RTOL)


@pytest.mark.parametrize("evaluation", ["reference", "full"])
def test_loss_is_the_token_mean(evaluation):
    assert port_metrics(evaluation)["loss"] == pytest.approx(float(G["loss"]), rel=RTOL)
