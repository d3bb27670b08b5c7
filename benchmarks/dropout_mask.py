"""UniformDropout's mask on the CPU, the old sampler and the new one in the same run:
old = one float32 uniform per element, kept where >= p; new = four 16-bit lanes of each
64-bit integer draw, kept where >= ceil(p 2^16) - 2^15 (lscrepro/models/stack.py).

- the mask alone and the dropout's forward (mask, scale, product) at sl-MNIST's input
  (256 x 200 x 784) and Heidelberg's (100 x 500 x 700);
- one training step (grid_cost's model and random batch, lscrepro.cost.grid.training_step)
  of sl-MNIST's rsimplernn and Heidelberg's GRU, depth 2, with either mask, old and new
  alternating step by step.

CPU seconds (time.process_time), the least of a few calls after a warm-up; one thread.

    PYTHONPATH=. python benchmarks/dropout_mask.py
"""

from __future__ import annotations

import time

import torch
import yaml

from lscrepro.cost.floor import least_cpu_seconds
from lscrepro.cost.grid import describe_shape, grid_shapes, training_step
from lscrepro.cost.sizes import settle, task_sizes
from lscrepro.host_memory import keep_freed_memory
from lscrepro.models import build_model
from lscrepro.models.stack import UniformDropout

INPUTS = {"sl-MNIST input": (256, 200, 784), "Heidelberg input": (100, 500, 700)}
STEPS = ("task=sl_mnist net=rsimplernn depth=2 variant=lsc_half",
         "task=heidelberg net=GRU depth=2 variant=lsc_half")


class FloatUniformDropout(UniformDropout):
    """The previous mask: a float32 uniform per element, kept where >= p."""

    def keep_mask(self, like: torch.Tensor) -> torch.Tensor:
        return torch.rand_like(like).ge_(self.p)


def cpu_seconds(call, warmup: int = 3, timed: int = 5) -> float:
    for _ in range(warmup):
        call()
    return least_cpu_seconds(call, timed)


def mask_rows() -> None:
    print("| tensor | old mask s | new mask s | ratio | old dropout s | new dropout s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, shape in INPUTS.items():
        x = torch.randn(shape)
        old, new = FloatUniformDropout(0.3), UniformDropout(0.3)
        masks = [cpu_seconds(lambda d=d: d.keep_mask(x)) for d in (old, new)]
        forwards = [cpu_seconds(lambda d=d: d(x)) for d in (old, new)]
        print(f"| {name} {tuple(shape)} | {masks[0]:.4f} | {masks[1]:.4f} | {masks[0] / masks[1]:.2f}x "
              f"| {forwards[0]:.4f} | {forwards[1]:.4f} | {forwards[0] / forwards[1]:.2f}x |")


def step_rows(rounds: int = 5) -> None:
    config = yaml.safe_load(open("config/config.yaml"))
    shapes = {describe_shape(s): s for s in grid_shapes(config) if s.rule == "train_rnn"}
    print("\n| training step | old s | new s | ratio |")
    print("|---|---:|---:|---:|")
    for name in STEPS:
        spec = shapes[name].spec
        dims, _ = task_sizes(spec)
        torch.manual_seed(0)
        model = build_model(spec["model"], dims, 0)
        step, _ = training_step(model, spec, dims, torch.Generator().manual_seed(0))
        dropouts = {"old": FloatUniformDropout(model.dropout.p), "new": model.dropout}
        times = {"old": [], "new": []}
        for path in ("old", "new"):
            model.dropout = dropouts[path]
            settle(step)
        for i in range(rounds):
            for path in ("old", "new") if i % 2 == 0 else ("new", "old"):
                model.dropout = dropouts[path]
                start = time.process_time()
                step()
                times[path].append(time.process_time() - start)
        old, new = min(times["old"]), min(times["new"])
        print(f"| {name} | {old:.3f} | {new:.3f} | {old / new:.2f}x |")


def main() -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    mask_rows()
    step_rows()


if __name__ == "__main__":
    main()
