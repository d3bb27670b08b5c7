"""One training step of the deep RNNs of Figure 3, the old path and the new one in the same
run (issue 26 item 3):

- PTB (GRU and maLSNNb, depth 5 at the paper's widths, batch 32, 100 words x timerepeat 2):
  old = the model's (rows x 10,000) logits, then F.cross_entropy and the totals from them
  (``Task.batch_step``), with nn.Dropout; new = the readout and the cross-entropy fused in
  row chunks (``WordPTB.batch_step``, lscrepro.models.readout), with UniformDropout;
- the readout and the cross-entropy alone at PTB's rows (32 x 200, width 300) and Table 1's
  (64 x 300, width 256): old = F.cross_entropy of the full logits, new = the fused pass;
- sl-MNIST (maLSNN 128, LSTM 42, GRU 53, depth 2, batch 256, 784 channels x 200 steps):
  old = nn.Dropout (the CPU's one-element-at-a-time Bernoulli sampler on the 256 x 200 x
  784 input), new = UniformDropout; the loss is the same F.cross_entropy in both.

A step is forward, loss, backward and the project's optimiser step. Old and new alternate
step by step on the same model (the machine is shared, so a slow moment hits both), and the
medians are reported, with each step's GFLOP (torch.utils.flop_counter) and its share of the
same run's GEMM rate (a 2048^3 float32 matmul).

    PYTHONPATH=. python benchmarks/rnn_train_step.py --threads 1 [--only ptb|sl_mnist]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lscrepro.models.readout import readout_cross_entropy
from lscrepro.models.rnn import build
from lscrepro.models.stack import UniformDropout
from lscrepro.optim import adabelief_lookahead
from lscrepro.tasks.base import Task
from lscrepro.tasks.language import WordPTB
from lscrepro.tasks.sequences import step_loss

PTB_WIDTHS = {"GRU": [625, 125, 625, 125, 300], "maLSNNb": [1300, 260, 1300, 260, 300]}
SL_MNIST_WIDTHS = {"maLSNN": 128, "LSTM": 42, "GRU": 53}


def gemm_rate(size: int = 2048, repeats: int = 3) -> float:
    """GFLOP/s of a float32 (size x size) matmul, the best of ``repeats``."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = min(_seconds(lambda: a @ b) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def ptb_case(cell: str, seed: int = 0):
    """(model, old step, new step) of a PTB training step at the paper's sizes."""
    vocab, batch, maxlen, timerepeat = 10_000, 32, 100, 2
    generator = torch.Generator().manual_seed(seed)
    ids = {split: torch.randint(vocab, (batch * (maxlen * 3 + 1),), generator=generator)
           for split in ("train", "val", "test")}
    task = WordPTB(ids, vocab, maxlen=maxlen, timerepeat=timerepeat, eval_batch_size=batch)
    model = build({"cell": cell, "depth": 5, "widths": PTB_WIDTHS[cell], "embedding": 300},
                  task.dims, seed)
    x, y = next(iter(task.train_batches(batch, generator)))

    def old():
        return Task.batch_step(task, model, x, y, None)[0]

    def new():
        return task.batch_step(model, x, y, None)[0]
    return model, old, new


def sl_mnist_case(cell: str, seed: int = 0):
    """(model, old step, new step) of an sl-MNIST training step at the paper's sizes."""
    batch, steps, channels = 256, 200, 784
    generator = torch.Generator().manual_seed(seed)
    dims = {"in_features": channels, "num_classes": 10, "steps": steps}
    model = build({"cell": cell, "depth": 2, "width": SL_MNIST_WIDTHS[cell]}, dims, seed)
    # sl-MNIST spikes: each pixel once in 100 steps, each step twice
    x = (torch.rand(batch, steps, channels, generator=generator) < 0.01).float()
    y = torch.randint(10, (batch, 1), generator=generator).expand(-1, steps)

    def loss():
        return step_loss(model(x)[0], y)
    return model, loss, loss


class Readout(nn.Module):
    """Only the tied readout and its loss: rows (N, d) of a fixed h, the embedding E."""

    def __init__(self, rows: int, width: int, vocab: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.h = nn.Parameter(torch.randn(rows, width, generator=generator))
        self.embedding = nn.Parameter(torch.randn(vocab, width, generator=generator) * 0.05)
        self.target = torch.randint(vocab, (rows,), generator=generator)
        self.dropout = nn.Dropout(0.0)


def readout_case(rows: int, width: int = 300, vocab: int = 10_000):
    """(model, old, new) of the readout and cross-entropy alone: F.cross_entropy of the
    full logits against the fused, chunked pass."""
    model = Readout(rows, width, vocab)

    def old():
        return F.cross_entropy(model.h @ model.embedding.T, model.target)

    def new():
        return readout_cross_entropy(model.h, model.embedding, None, model.target)[0]
    return model, old, new


def time_pair(model, old, new, warmup: int, timed: int) -> dict:
    """Median seconds of old and new steps, alternated; old runs with nn.Dropout."""
    optimizer = adabelief_lookahead(model.parameters(), 1e-4, 0.0)
    dropouts = {"old": nn.Dropout(model.dropout.p), "new": UniformDropout(model.dropout.p)}
    times: dict[str, list[float]] = {"old": [], "new": []}
    model.train()

    def step(path: str, loss_of) -> None:
        model.dropout = dropouts[path]
        loss = loss_of()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(warmup + timed):
        for path, loss_of in (("old", old), ("new", new)) if i % 2 == 0 else (("new", new), ("old", old)):
            seconds = _seconds(lambda: step(path, loss_of))
            if i >= warmup:
                times[path].append(seconds)
    with FlopCounterMode(display=False) as counter:  # the old path: standard ops only (the
        step("old", old)  # counter misses the fused pass's in-place addmm_)
    return {"old": statistics.median(times["old"]), "new": statistics.median(times["new"]),
            "gflop": counter.get_total_flops() / 1e9}


def report(name: str, result: dict, rate: float) -> None:
    old, new, gflop = result["old"], result["new"], result["gflop"]
    counted = gflop >= 1  # the flop counter does not see oneDNN's fused LSTM/GRU kernels
    print(f"{name}: " + (f"{gflop:.0f} GFLOP/step" if counted else "GFLOP not counted (oneDNN RNN)"))
    for label, seconds in (("old", old), ("new", new)):
        share = f"  {gflop / seconds:6.1f} GFLOP/s  {gflop / seconds / rate:5.0%} of the GEMM rate" if counted else ""
        print(f"  {label}  {seconds:7.2f} s/step{share}")
    print(f"  speed-up: {old / new:.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="1: what a job uses")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timed", type=int, default=3)
    parser.add_argument("--only", choices=("readout", "ptb", "sl_mnist"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rate = gemm_rate()
    print(f"threads {args.threads}, {args.warmup} warm-up + {args.timed} timed steps per path, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, GEMM rate {rate:.0f} GFLOP/s")
    cases = []
    if args.only in (None, "readout"):  # PTB's 32 x 200 rows at width 300; Table 1's 64 x 300 at 256
        cases += [("readout + cross-entropy alone, 6,400 x 300 -> 10,000", readout_case, (6400,)),
                  ("readout + cross-entropy alone, 19,200 x 256 -> 10,000", readout_case, (19200, 256))]
    if args.only in (None, "ptb"):
        cases += [(f"PTB {cell} depth 5 {PTB_WIDTHS[cell]}", ptb_case, (cell,)) for cell in PTB_WIDTHS]
    if args.only in (None, "sl_mnist"):
        cases += [(f"sl-MNIST {cell} width {w} depth 2", sl_mnist_case, (cell,))
                  for cell, w in SL_MNIST_WIDTHS.items()]
    for name, make, make_args in cases:
        report(name, time_pair(*make(*make_args), args.warmup, args.timed), rate)
    print(f"load average at the end {os.getloadavg()[0]:.1f}; GEMM rate {gemm_rate():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
