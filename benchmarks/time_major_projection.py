"""The simple RNN and ALIF layers' input projection, batch-major (old) and time-major where
that is free or cheaper (new, lscrepro.models.stack.time_major_projection), in one process:
grid_cost's model and random batch of each named training shape (default: four of the
paper grid's), training steps of either path alternating, the least CPU seconds of 6 each,
one thread, with the jobs' heap policy.

    PYTHONPATH=. python benchmarks/time_major_projection.py ["task=... net=... depth=... variant=..." ...]
"""

from __future__ import annotations

import sys
import time

import torch
import yaml

import lscrepro.models.rnn as rnn
import lscrepro.models.spiking as spiking
from lscrepro.cost.grid import describe_shape, grid_shapes, training_step
from lscrepro.cost.sizes import settle, task_sizes
from lscrepro.host_memory import keep_freed_memory
from lscrepro.models import build_model
from lscrepro.models.stack import time_major_projection

SHAPES = ("task=heidelberg net=rsimplernn depth=2 variant=lsc_half",
          "task=sl_mnist net=maLSNN depth=2 variant=lsc_half",
          "task=heidelberg net=maLSNN depth=5 variant=lsc_half",
          "task=sl_mnist net=ssimplernn depth=5 variant=lsc_half")
PATHS = {"old": lambda x, project, width: project(x), "new": time_major_projection}


def use(path: str) -> None:
    rnn.time_major_projection = spiking.time_major_projection = PATHS[path]


def compare(spec: dict, rounds: int = 6) -> dict[str, float]:
    dims, _ = task_sizes(spec)
    torch.manual_seed(0)
    model = build_model(spec["model"], dims, 0)
    step, _ = training_step(model, spec, dims, torch.Generator().manual_seed(0))
    for path in PATHS:
        use(path)
        settle(step)
    times = {path: [] for path in PATHS}
    for i in range(rounds):
        for path in PATHS if i % 2 == 0 else reversed(list(PATHS)):
            use(path)
            start = time.process_time()
            step()
            times[path].append(time.process_time() - start)
    return {path: min(seconds) for path, seconds in times.items()}


def main() -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    config = yaml.safe_load(open("config/config.yaml"))
    shapes = {describe_shape(s): s for s in grid_shapes(config) if s.rule == "train_rnn"}
    print("| training step | old s | new s | speed-up |")
    print("|---|---:|---:|---:|")
    for name in sys.argv[1:] or SHAPES:
        seconds = compare(shapes[name].spec)
        print(f"| {name} | {seconds['old']:.3f} | {seconds['new']:.3f} | {seconds['old'] / seconds['new']:.2f}x |")
    use("new")


if __name__ == "__main__":
    main()
