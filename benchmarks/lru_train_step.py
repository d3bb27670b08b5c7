"""One training step of Table 1's depth-6 ResLRU, the old LRU beside the new, in one run.

The shape is config/config.yaml's ``train_lru`` setup=table1 depth=6 (reslruffn, width
256, batch 64 x 300 steps, PTB's 10,000 words, tied readout, dropout on), built and fed
as ``lscrepro.cost.grid`` times it (random token ids, AdaBelief + Lookahead), one thread:

old     the LRU before issue 26 (complex states, GEMMs on strided ``.real``/``.imag``
        operands; kept below as ``old_forward``), dropout's Bernoulli masks (nn.Dropout),
        the logits' ``F.cross_entropy``: the step that docs/grid_cost.json timed;
new     the LRU in the real ``[Re | Im]`` layout (``lscrepro.models.lru``), dropout's
        masks from the uniform sampler (``UniformDropout``), the same loss;
fused   new, with the readout and the cross-entropy fused in row chunks
        (``lscrepro.models.readout``, as ``WordPTB.batch_step`` trains) where that module is.

First the old and new losses and gradients are compared (same weights, same dropout
masks, ``--check-batch`` rows). Then each repeat runs one step of each path in turn
(interleaved: a shared machine's load falls on all of them), after one warm-up each.
Prints the median wall and CPU seconds, the load average, and "speed-up: N.Nx": old over
the path the training loop takes (fused where it exists).

    python benchmarks/lru_train_step.py [--repeats 3] [--threads 1] [--check-batch 8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from lscrepro.cost.grid import grid_shapes
from lscrepro.cost.sizes import random_batch, task_sizes
from lscrepro.models import build_model
from lscrepro.models import lru as lru_module
from lscrepro.models.stack import UniformDropout
from lscrepro.optim import adabelief_lookahead

try:
    from lscrepro.models.readout import readout_cross_entropy
except ImportError:  # before the fused readout landed
    readout_cross_entropy = None

ROOT = Path(__file__).resolve().parents[1]


# --- the old path, as lscrepro/models/lru.py had it (commit 1ba05a1) ----------------------------
def _old_recur_inplace(lam, x, method, reverse=False):
    steps = x.shape[1]
    if method == "scan":
        negligible = torch.finfo(x.real.dtype).tiny ** 0.5
        power, shift = lam, 1
        while shift < steps:
            if reverse:
                x[:, :-shift] += power * x[:, shift:]
            else:
                x[:, shift:] += power * x[:, :-shift]
            power = power * power
            power = torch.where(power.abs() < negligible, torch.zeros_like(power), power)
            shift *= 2
    else:
        order = range(steps - 2, -1, -1) if reverse else range(1, steps)
        offset = 1 if reverse else -1
        for t in order:
            x[:, t] += lam * x[:, t + offset]
    return x


class OldLinearRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lam, drive, x0, method):
        x = drive.clone()
        if x0 is not None:
            x[:, 0] += lam * x0
        _old_recur_inplace(lam, x, method)
        ctx.method = method
        ctx.has_x0 = x0 is not None
        ctx.save_for_backward(lam, x, x0)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):
        lam, x, x0 = ctx.saved_tensors
        lam_conj = lam.conj()
        grad_drive = _old_recur_inplace(lam_conj, grad_x.clone(), ctx.method, reverse=True)
        grad_lam = grad_x0 = None
        if ctx.needs_input_grad[0]:
            grad_lam = (grad_drive[:, 1:] * x[:, :-1].conj()).sum(dim=(0, 1))
            if ctx.has_x0:
                grad_lam = grad_lam + (grad_drive[:, 0] * x0.conj()).sum(dim=0)
        if ctx.has_x0 and ctx.needs_input_grad[2]:
            grad_x0 = grad_drive[:, 0] * lam_conj
        return grad_lam, grad_drive, grad_x0, None


def old_forward(self, u, x0=None):
    d = self.d_hidden
    lam = torch.complex(*self.lambda_parts())
    gamma = torch.exp(self.gamma_log)
    drive = torch.complex(gamma * (u @ self.B_re), gamma * (u @ self.B_im))
    start = None if x0 is None else torch.complex(x0[..., :d], x0[..., d:])
    method = self.method or lru_module.default_method(u.device)
    states = OldLinearRecurrence.apply(lam, drive, start, method)
    y = states.real @ self.C_re - states.imag @ self.C_im + self.D * u
    last = states[:, -1]
    return y, torch.cat([last.real, last.imag], dim=-1)


@contextlib.contextmanager
def old_lru():
    """Every LRU runs the old forward inside the block, and dropout draws its mask with
    the Bernoulli sampler (nn.Dropout), as before issue 26."""
    new_forward = lru_module.LRU.forward
    lru_module.LRU.forward = old_forward
    try:
        with bernoulli_dropout():
            yield
    finally:
        lru_module.LRU.forward = new_forward


@contextlib.contextmanager
def bernoulli_dropout():
    """Dropout as nn.Dropout inside the block: the same masks for both paths."""
    draws_uniform = UniformDropout.draws_uniform
    UniformDropout.draws_uniform = lambda self, x: False  # forward falls back to nn.Dropout's
    try:
        yield
    finally:
        UniformDropout.draws_uniform = draws_uniform


# --- the step ------------------------------------------------------------------------------------
def table1_depth6_spec(config_path: Path) -> dict:
    config = yaml.safe_load(config_path.read_text())
    for shape in grid_shapes(config):
        run = shape.spec["run"]
        if shape.rule == "train_lru" and run.get("setup") == "table1" and run.get("depth") == 6:
            return shape.spec
    raise SystemExit(f"{config_path} has no train_lru job with setup=table1, depth=6")


def loss_of(model, x, y, path: str) -> torch.Tensor:
    """The batch's mean cross-entropy, as the path computes it."""
    if path == "fused":
        weight, bias = model.readout_weights()
        return readout_cross_entropy(model.features(x)[0], weight, bias, y)[0]
    with old_lru() if path == "old" else contextlib.nullcontext():
        logits = model(x)[0]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def max_relative_gaps(model, x, y, seed: int = 0) -> tuple[float, float]:
    """(loss gap, largest gradient gap) of new against old, each relative to old's largest
    magnitude, for the same weights and dropout masks."""
    results = []
    for path in ("old", "new"):
        torch.manual_seed(seed)  # the same dropout masks
        model.zero_grad(set_to_none=True)
        with bernoulli_dropout():
            loss = loss_of(model, x, y, path)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (loss_old, grads_old), (loss_new, grads_new) = results
    loss_gap = ((loss_new - loss_old).abs() / loss_old.abs()).item()
    grad_gap = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(grads_new, grads_old))
    return loss_gap, grad_gap


def timed_step(model, optimizer, x, y, path: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one training step: forward, loss, backward, optimiser step."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.train()
    loss = loss_of(model, x, y, path)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check-batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = table1_depth6_spec(Path(args.config))
    dims, _ = task_sizes(spec)
    model = build_model(spec["model"], dims, 0)
    generator = torch.Generator().manual_seed(0)
    batch = spec["train"]["batch_size"]
    x, y = random_batch(dims, batch, generator)
    print(f"train_lru table1 depth 6: {spec['model']}, batch {batch} x {dims['steps']} steps, "
          f"{dims['num_classes']} classes, {args.threads} thread(s)")

    loss_gap, grad_gap = max_relative_gaps(model, x[:args.check_batch], y[:args.check_batch])
    print(f"new vs old at batch {args.check_batch} (float32): loss {loss_gap:.1e}, "
          f"gradients {grad_gap:.1e} (largest gap / largest old magnitude, over the parameters)")

    paths = ["old", "new"] + (["fused"] if readout_cross_entropy is not None else [])
    optimizer = adabelief_lookahead(model.parameters(), 1e-3, 0.0)
    load_before = os.getloadavg()
    times = {path: [] for path in paths}
    for repeat in range(args.repeats + 1):
        for path in paths:
            measured = timed_step(model, optimizer, x, y, path)
            if repeat:  # the first round warms up
                times[path].append(measured)
    print(f"load average (1 min) {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"on {os.cpu_count()} CPUs; median of {args.repeats}, interleaved")
    median = {path: statistics.median(wall for wall, _ in times[path]) for path in paths}
    for path in paths:
        cpu = statistics.median(c for _, c in times[path])
        print(f"  {path:6s} {median[path]:7.2f} s wall, {cpu:7.2f} s CPU  "
              f"(walls: {', '.join(f'{w:.2f}' for w, _ in times[path])})")
    if "fused" in median:
        print(f"new / old (the LRU alone, same loss): {median['old'] / median['new']:.1f}x")
    print(f"speed-up: {median['old'] / median[paths[-1]]:.1f}x ({paths[-1]} over old)")


if __name__ == "__main__":
    main()
