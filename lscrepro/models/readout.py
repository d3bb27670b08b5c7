"""The readout and the cross-entropy in one pass over row chunks: the language tasks' loss
without a (rows x vocabulary) logits tensor.

The maths is the full softmax: for rows h_i (N, d), logits h_i W^T + b over C classes
and targets t_i, the loss is the mean of logsumexp(logits_i) - logits_i[t_i], as
``F.cross_entropy(h @ W.T + b, t)``. What changes is where the numbers live: the logits
of ``chunk_rows`` rows at a time are written into one buffer that every chunk reuses, and
the loss's gradient (softmax - one-hot, per chunk) is taken in the same pass, so the
backward is the scaling of two saved gradients. The unfused path allocates three
N x C tensors per step (the logits, their log-softmax and its gradient: 256 MB each for
PTB's 6,400 rows x 10,000 words) and on this CPU pays for their page faults every time.

The pass also counts the rows whose target has the largest logit (the accuracy), so a
task's metrics need no logits either. That is argmax's count except on exact ties of the
largest logit, where a target among the tied counts as correct.
"""

from __future__ import annotations

import torch

# rows per chunk: 256 x 10,000 float32 logits are 10 MB, under glibc's mmap threshold
# after its first growth, so the buffer comes from the heap (no fresh page faults), and the
# chunk GEMMs still run at the full GEMM rate (benchmarks/rnn_train_step.py)
CHUNK_ROWS = 256


def chunked_pass(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor,
                 chunk_rows: int, with_grad: bool) -> tuple:
    """(summed loss in float64, correct rows, and with ``with_grad`` the summed loss's
    gradients to h, weight and bias, else Nones) of (N, d) rows, a (C, d) weight and (N,)
    targets, one chunk of rows at a time into one reused logits buffer."""
    rows = h.shape[0]
    buffer = h.new_empty(min(chunk_rows, rows), weight.shape[0])
    loss_sum = torch.zeros((), dtype=torch.float64, device=h.device)
    correct = torch.zeros((), dtype=torch.int64, device=h.device)
    grad_h = torch.empty_like(h) if with_grad else None
    grad_weight = torch.zeros_like(weight) if with_grad else None
    grad_bias = torch.zeros_like(bias) if with_grad and bias is not None else None
    for begin in range(0, rows, chunk_rows):
        h_chunk, t_chunk = h[begin:begin + chunk_rows], target[begin:begin + chunk_rows, None]
        logits = buffer[:len(h_chunk)]
        if bias is None:
            torch.mm(h_chunk, weight.T, out=logits)
        else:
            torch.addmm(bias, h_chunk, weight.T, out=logits)
        # amax without indices: a third of max(dim)'s time on this CPU; a row is correct when its
        # target's logit is the row's maximum (argmax's first index differs only on exact ties)
        best = logits.amax(dim=1)
        picked = logits.gather(1, t_chunk)[:, 0]
        correct += (picked == best).sum()
        exps = logits.sub_(best[:, None]).exp_()  # in place: the buffer now holds exp(l - max)
        sums = exps.sum(dim=1)
        loss_sum += (sums.log() + best - picked).sum(dtype=torch.float64)
        if with_grad:  # d(loss of a row)/d(its logits) = softmax - one-hot
            probabilities = exps.div_(sums[:, None])
            probabilities.scatter_add_(1, t_chunk, probabilities.new_full(t_chunk.shape, -1.0))
            torch.mm(probabilities, weight, out=grad_h[begin:begin + chunk_rows])
            grad_weight.addmm_(probabilities.T, h_chunk)
            if grad_bias is not None:
                grad_bias += probabilities.sum(dim=0)
    return loss_sum, correct, grad_h, grad_weight, grad_bias


class ChunkedReadoutCE(torch.autograd.Function):
    """(mean loss, summed loss in float64, correct rows) of the logits h W^T + b against
    ``target``; only the mean loss carries a gradient (to h, W and b), taken in the
    forward pass and scaled in the backward."""

    @staticmethod
    def forward(ctx, h, weight, bias, target, chunk_rows):
        loss_sum, correct, *grads = chunked_pass(h, weight, bias, target, chunk_rows, with_grad=True)
        ctx.rows = h.shape[0]
        ctx.save_for_backward(*grads)
        ctx.mark_non_differentiable(loss_sum, correct)
        return (loss_sum / ctx.rows).to(h.dtype), loss_sum, correct

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_mean, _grad_sum, _grad_correct):
        scale = grad_mean / ctx.rows
        grads = [None if g is None or not needed else g * scale
                 for g, needed in zip(ctx.saved_tensors, ctx.needs_input_grad)]
        return (*grads, None, None)


def readout_cross_entropy(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          target: torch.Tensor, chunk_rows: int = CHUNK_ROWS):
    """Mean cross-entropy of the logits ``h @ weight.T + bias`` ((..., d) rows, (C, d)
    weight) against ``target`` (...,), with the summed cross-entropy (float64) and the
    number of rows whose argmax is the target, all 0-dim tensors on h's device; no
    (rows x C) tensor is made (module docstring)."""
    if chunk_rows < 1:
        raise ValueError(f"readout_cross_entropy: chunk_rows must be >= 1, got {chunk_rows}")
    if h.shape[:-1] != target.shape:
        raise ValueError(f"readout_cross_entropy: rows {tuple(h.shape[:-1])} and targets "
                         f"{tuple(target.shape)} must have the same shape")
    if h.shape[-1] != weight.shape[1]:
        raise ValueError(f"readout_cross_entropy: rows of width {h.shape[-1]} do not fit a "
                         f"readout weight of shape {tuple(weight.shape)} (classes x width)")
    flat, target = h.reshape(-1, h.shape[-1]).contiguous(), target.reshape(-1)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (h, weight, bias))
    if needs_grad:
        return ChunkedReadoutCE.apply(flat, weight, bias, target, chunk_rows)
    loss_sum, correct, *_ = chunked_pass(flat, weight, bias, target, chunk_rows, with_grad=False)
    return (loss_sum / len(target)).to(h.dtype), loss_sum, correct
