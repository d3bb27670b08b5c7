"""The recurrent layers' input projection and input dropout, old and new in one process:
grid_cost's model and random batch of each named training shape (default: four of the paper
grid's), training steps of either path alternating, the least CPU seconds of 6 each, one
thread, with the jobs' heap policy. ``--change`` picks what old and new differ in:

- ``time-major`` (lscrepro.models.stack.time_major_projection): the simple RNN and ALIF
  layers' projection batch-major (old) or time-major where that is free or cheaper (new);
- ``layouts`` (lscrepro.models.stack: input_projection, UniformDropout, SequenceStack.readout):
  the projection by autograd, as each layer wrote it before (old: ``x @ W + b``, the GRU's
  ``F.linear``), the data's dropout into a fresh tensor and the dense readout batch-major; or
  the projection through ``InputProjection``'s GEMM layouts, the data's dropout into its
  mask's buffer and the readout time-major (new).
- ``aligned`` (lscrepro.models.stack.aligned_width): the projection's GEMMs computing exactly
  ``width`` columns (old) or, where the width is not a multiple of 8, the next multiple of 16
  with zero weights (new).

``--parts`` instead times the parts alone: each projection GEMM of the grid's recurrent nets
in both layouts (forward: x against W or against a transposed W^T; W's gradient: x^T g or
g^T x) and with its columns aligned, in GFLOP/s of the unpadded product, and the data's
dropout at sl-MNIST's input, old and new.

    PYTHONPATH=. python benchmarks/input_projection.py [--change layouts] ["task=... net=... depth=... variant=..." ...]
    PYTHONPATH=. python benchmarks/input_projection.py --parts
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import yaml

import lscrepro.models.gru_sequence as gru_sequence
import lscrepro.models.rnn as rnn
import lscrepro.models.spiking as spiking
import lscrepro.models.stack as stack
from lscrepro.cost.floor import least_cpu_seconds
from lscrepro.cost.grid import describe_shape, grid_shapes, training_step
from lscrepro.cost.sizes import settle, task_sizes
from lscrepro.host_memory import keep_freed_memory
from lscrepro.models import build_model
from lscrepro.models.stack import UniformDropout, input_projection, time_major_projection

SHAPES = {"time-major": ("task=heidelberg net=rsimplernn depth=2 variant=lsc_half",
                         "task=sl_mnist net=maLSNN depth=2 variant=lsc_half",
                         "task=heidelberg net=maLSNN depth=5 variant=lsc_half",
                         "task=sl_mnist net=ssimplernn depth=5 variant=lsc_half"),
          "layouts": ("task=sl_mnist net=rsimplernn depth=2 variant=lsc_half",
                      "task=sl_mnist net=GRU depth=2 variant=lsc_half",
                      "task=sl_mnist net=maLSNN depth=2 variant=lsc_half",
                      "task=heidelberg net=rsimplernn depth=2 variant=lsc_half",
                      "task=heidelberg net=maLSNN depth=5 variant=lsc_half"),
          "aligned": ("task=sl_mnist net=GRU depth=2 variant=lsc_half",
                      "task=heidelberg net=GRU depth=2 variant=lsc_half",
                      "task=wordptb net=GRU depth=2 variant=lsc_half",
                      "task=wordptb net=rsimplernn depth=2 variant=lsc_half",
                      "task=sl_mnist net=maLSNN depth=2 variant=lsc_half")}


def autograd_projection(x, weight, bias=None):
    """The projections as the layers wrote them before InputProjection: the GRU's (its
    weight a transposed view) F.linear, the others x @ W (+ b)."""
    if not weight.is_contiguous():
        return F.linear(x, weight.T, bias)
    return x @ weight if bias is None else x @ weight + bias


def dropout_out_of_place(self, x):
    """UniformDropout.forward before the data's product went into the mask's buffer."""
    if not self.draws_uniform(x):
        return F.dropout(x, self.p, self.training)
    return x * self.keep_mask(x).mul_(1 / (1 - self.p))


NEW_DROPOUT = UniformDropout.forward
BATCH_MAJOR = lambda x, project, width: project(x)  # noqa: E731
PATHS = {"time-major": {"old": dict(time_major=BATCH_MAJOR),
                        "new": dict(time_major=time_major_projection)},
         "layouts": {"old": dict(projection=autograd_projection, dropout=dropout_out_of_place,
                                 readout=BATCH_MAJOR),
                     "new": dict(projection=input_projection, dropout=NEW_DROPOUT, readout=time_major_projection)},
         "aligned": {"old": dict(aligned_width=lambda width: width),
                     "new": dict(aligned_width=stack.aligned_width)}}


# (rows B x T, n_in, width) of the grid's input projections: sl-MNIST (simple RNN / ALIF, GRU),
# Heidelberg (batch 100 and 32; the GRU's 3 x 117), a 128-wide layer's, a 256-wide one's, PTB's
GEMMS = ((51200, 784, 128), (51200, 784, 159), (50000, 700, 256), (16000, 700, 256), (50000, 700, 351),
         (51200, 128, 128), (51200, 53, 159), (50000, 256, 256), (50000, 117, 351), (6400, 1300, 300),
         (6400, 625, 1875), (6400, 1300, 1300))


def parts() -> None:
    """The GEMM layouts and the data's dropout, each alone (least CPU seconds of 3 and 7)."""
    print("| rows x n_in -> width | forward x W | forward x (W^T)^T | W grad x^T g | W grad (g^T x)^T "
          "| forward x W, aligned columns |")
    print("|---|---:|---:|---:|---:|---:|")
    for rows, n_in, width in GEMMS:
        x, grad, weight = torch.rand(rows, n_in), torch.rand(rows, width), torch.rand(n_in, width)
        weight_t, flop = weight.T.contiguous(), 2 * rows * n_in * width
        rates = [flop / least_cpu_seconds(call, 3) / 1e9 for call in (
            lambda: x @ weight, lambda: x @ weight_t.T, lambda: x.T @ grad, lambda: grad.T @ x,
            lambda: stack.aligned_matmul(x, weight))]
        print(f"| {rows} x {n_in} -> {width} | " + " | ".join(f"{rate:.0f}" for rate in rates) + " |")
    dropout, data = UniformDropout(0.3), (torch.rand(256, 200, 784) < 0.05).float()
    for name, forward in (("old", dropout_out_of_place), ("new", NEW_DROPOUT)):
        print(f"the data's dropout, sl-MNIST's input, {name}: {least_cpu_seconds(lambda: forward(dropout, data), 7):.3f} s")


def use(path: dict) -> None:
    if "aligned_width" in path:
        stack.aligned_width = path["aligned_width"]  # the one aligned_matmul calls
    if "time_major" in path:
        rnn.time_major_projection = spiking.time_major_projection = path["time_major"]
    if "projection" in path:
        rnn.input_projection = spiking.input_projection = gru_sequence.input_projection = path["projection"]
        UniformDropout.forward = path["dropout"]
        stack.time_major_projection = path["readout"]  # the one SequenceStack.readout calls


def compare(spec: dict, paths: dict, rounds: int = 6) -> dict[str, float]:
    dims, _ = task_sizes(spec)
    torch.manual_seed(0)
    model = build_model(spec["model"], dims, 0)
    step, _ = training_step(model, spec, dims, torch.Generator().manual_seed(0))
    for path in paths.values():
        use(path)
        settle(step)
    times = {name: [] for name in paths}
    for i in range(rounds):
        for name in paths if i % 2 == 0 else reversed(list(paths)):
            use(paths[name])
            start = time.process_time()
            step()
            times[name].append(time.process_time() - start)
    return {name: min(seconds) for name, seconds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--change", choices=list(PATHS), default="time-major")
    parser.add_argument("--parts", action="store_true", help="time the GEMM layouts and the dropout alone")
    parser.add_argument("shapes", nargs="*")
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(1)
    if args.parts:
        return parts()
    config = yaml.safe_load(open("config/config.yaml"))
    shapes = {describe_shape(s): s for s in grid_shapes(config) if s.rule == "train_rnn"}
    print(f"change: {args.change}")
    print("| training step | old s | new s | speed-up |")
    print("|---|---:|---:|---:|")
    for name in args.shapes or SHAPES[args.change]:
        seconds = compare(shapes[name].spec, PATHS[args.change])
        print(f"| {name} | {seconds['old']:.3f} | {seconds['new']:.3f} | {seconds['old'] / seconds['new']:.2f}x |")
    for path in PATHS[args.change]["new"], PATHS["time-major"]["new"]:
        use(path)


if __name__ == "__main__":
    main()
