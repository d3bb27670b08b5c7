"""Training throughput of the project's recurrent networks against plain baselines.

(a) the LSTM DeepRNN (one fused nn.LSTM per layer, dropout before each) against a bare
    multi-layer nn.LSTM + Linear of the same size and the same dropouts (dropout is not
    free on a CPU: ~10 ms per call at the default sizes); the target is a ratio within 10%;
(b) the maLSNN DeepRNN against the most obvious per-step Python loop a researcher would
    write (everything recomputed at every step), with the same weights.

Each train step is forward + cross-entropy over all steps + backward + a plain SGD step.
The two models of a pair are timed alternately, step by step, and the median step time
is reported, so a slow moment of the machine hits both alike.

    PYTHONPATH=. python benchmarks/rnn_throughput.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from lscrepro.models.rnn import build


class BareLSTM(nn.Module):
    """The baseline: one multi-layer nn.LSTM and a Linear readout, with the same dropouts
    as the reference graph (on the input, and between layers inside nn.LSTM)."""

    def __init__(self, n_in: int, width: int, depth: int, classes: int, dropout: float):
        super().__init__()
        self.input_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(n_in, width, num_layers=depth, dropout=dropout, batch_first=True)
        self.readout = nn.Linear(width, classes)

    def forward(self, x):
        return self.readout(self.lstm(self.input_dropout(x))[0]), None


class NaiveSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * 0.5 / (1 + torch.abs(2 * v)) ** 2


class NaiveALIF(nn.Module):
    """A straightforward ALIF stack: per step, per layer, all terms written out."""

    def __init__(self, model):
        super().__init__()
        self.layers = nn.ModuleList()
        for cell in model.cells():  # copy the weights so both nets compute the same thing
            layer = nn.Module()
            for name in ("input_weights", "recurrent_weights", "tau", "tau_adaptation", "thr", "beta"):
                setattr(layer, name, nn.Parameter(getattr(cell, name).detach().clone()))
            self.layers.append(layer)
        self.readout = nn.Linear(model.width, model.num_classes)
        self.readout.load_state_dict(model.dense_readout.state_dict())
        self.dropout = nn.Dropout(model.dropout.p)

    def forward(self, x):
        batch, steps, _ = x.shape
        h = x
        for layer in self.layers:
            h = self.dropout(h)
            n = layer.tau.shape[0]
            z = torch.zeros(batch, n)
            v = torch.zeros(batch, n)
            a = torch.zeros(batch, n)
            outputs = []
            for t in range(steps):
                current = h[:, t] @ layer.input_weights + z @ (layer.recurrent_weights * (1 - torch.eye(n)))
                rho = torch.exp(-1 / layer.tau_adaptation)
                a = rho * a + (1 - rho) * z
                threshold = layer.thr + layer.beta * a
                v = torch.exp(-1 / layer.tau) * v + current - (threshold * z).detach()
                z = NaiveSpike.apply(v - threshold)
                outputs.append(z)
            h = torch.stack(outputs, dim=1)
        return self.readout(h), None


def step_seconds(model, optimiser, x, y) -> float:
    start = time.perf_counter()
    logits, _ = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return time.perf_counter() - start


def compare(name: str, ours, theirs, x, y, warmup: int, steps: int) -> None:
    optimisers = [torch.optim.SGD(m.parameters(), lr=1e-3) for m in (ours, theirs)]
    times: list[list[float]] = [[], []]
    for i in range(warmup + steps):
        for k, model in enumerate((ours, theirs)):
            seconds = step_seconds(model, optimisers[k], x, y)
            if i >= warmup:
                times[k].append(seconds)
    batch, length = y.shape
    medians = [statistics.median(t) for t in times]
    print(f"\n{name}")
    for label, median in zip(("project", "baseline"), medians):
        print(f"  {label:9s} {median * 1e3:9.1f} ms/step  {batch / median:9.1f} samples/s  "
              f"{batch * length / median:11.1f} tokens/s")
    print(f"  throughput ratio project/baseline: {medians[1] / medians[0]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps-in-time", "-T", type=int, default=200, dest="time_steps")
    parser.add_argument("--in-features", type=int, default=100)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--timed", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dims = {"in_features": args.in_features, "num_classes": args.classes, "steps": args.time_steps}
    config = {"depth": args.depth, "width": args.width, "dropout": 0.3}
    x = torch.rand(args.batch, args.time_steps, args.in_features)
    y = torch.randint(args.classes, (args.batch, args.time_steps))
    print(f"width {args.width}, depth {args.depth}, batch {args.batch}, T {args.time_steps}, "
          f"in {args.in_features}, threads {torch.get_num_threads()}, "
          f"{args.warmup} warm-up + {args.timed} timed steps each")

    lstm = build({**config, "cell": "LSTM"}, dims, seed=0)
    bare = BareLSTM(args.in_features, args.width, args.depth, args.classes, 0.3)
    compare("(a) LSTM: DeepRNN vs bare nn.LSTM + Linear", lstm, bare, x, y, args.warmup, args.timed)

    alif = build({**config, "cell": "maLSNN"}, dims, seed=0)
    naive = NaiveALIF(alif)
    with torch.no_grad():  # same weights, so both must give the same logits (eval: no dropout)
        gap = (alif.eval()(x)[0] - naive.eval()(x)[0]).abs().max().item()
    alif.train(), naive.train()
    print(f"\nmaLSNN project vs naive max |logit difference| (eval): {gap:.2e}")
    compare("(b) maLSNN: DeepRNN vs naive per-step loop", alif, naive, x, y, args.warmup, args.timed)


if __name__ == "__main__":
    main()
