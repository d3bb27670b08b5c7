"""A new model or task is one module plus one registry/config entry: a toy model and a
toy task, registered only here, run through the same jobs as the paper's families."""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from lscrepro.io import read_json
from lscrepro.jobs.pretrain import pretrain
from lscrepro.jobs.train import train_run
from lscrepro.lsc.sites import LSCSite
from lscrepro.models import register_model
from lscrepro.tasks import register_task
from lscrepro.tasks.base import Task


class ParityTask(Task):
    """Is the sum of the first two inputs positive? Generated from a seed, no files."""

    metrics = {"loss": "min", "accuracy": "max"}

    def __init__(self, size: int, device):
        g = torch.Generator().manual_seed(0)
        self.x = {s: torch.randn(size, 4, generator=g).to(device) for s in ("train", "val", "test")}
        self.y = {s: (x[:, 0] + x[:, 1] > 0).long() for s, x in self.x.items()}
        self.dims = {"inputs": 4}
        self.device = device

    @classmethod
    def from_config(cls, config, data, device):
        return cls(config["size"], device)

    def train_batches(self, batch_size, generator) -> Iterator:
        order = torch.randperm(len(self.x["train"]), generator=generator, device=self.device)
        for begin in range(0, len(order), batch_size):
            idx = order[begin:begin + batch_size]
            yield self.x["train"][idx], self.y["train"][idx]

    def eval_batches(self, split):
        yield self.x[split], self.y[split]

    def lsc_inputs(self, batch_size, generator, split="train"):
        yield from (x for x, _ in self.train_batches(batch_size, generator)) if split == "train" \
            else [self.x[split][:batch_size]]

    def loss(self, output, target):
        return nn.functional.cross_entropy(output, target)

    def totals(self, output, target):
        return {"loss": nn.functional.cross_entropy(output, target, reduction="sum").item(),
                "correct": (output.argmax(1) == target).sum().item(), "count": len(target)}

    def summarize(self, totals):
        return {"loss": totals["loss"] / totals["count"], "accuracy": totals["correct"] / totals["count"]}


class TanhNet(nn.Module):
    """Two tanh layers and a readout; its one LSC site is the hidden-to-hidden layer."""

    def __init__(self, inputs: int, width: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.first, self.second, self.readout = nn.Linear(inputs, width), nn.Linear(width, width), nn.Linear(width, 2)

    def forward(self, x):
        return self.readout(torch.tanh(self.second(torch.tanh(self.first(x)))))

    def lsc_sites(self):
        def rescale(radius, target):
            self.second.weight.data.mul_(target / radius)
            return target / radius

        return [LSCSite("second", inputs=lambda x: torch.tanh(self.first(x)),
                        function=lambda h: torch.tanh(self.second(h)),
                        params=(self.second.weight, self.second.bias), rescale=rescale,
                        shuffled=(self.second.weight,))]


def spec(kind: str) -> dict:
    section = {"lsc": {"epochs": 3, "batch_size": 64, "measure_batches": 1}} if kind == "pretrain" \
        else {"train": {"lr": 3e-2, "epochs": 15, "batch_size": 64}}
    return {"family": "toy", "kind": kind, "device": "cpu", "seed": 0, "run": {"seed": 0},
            "task": {"name": "parity", "size": 512}, "data": {},
            "model": {"name": "tanh_net", "width": 8}, "pretrained": kind == "train", **section}


def test_a_toy_model_and_task_run_through_both_jobs(tmp_path):
    register_task("parity", ParityTask)
    register_model("tanh_net", lambda config, dims, seed: TanhNet(dims["inputs"], config["width"], seed))
    weights, report = tmp_path / "weights.pt", tmp_path / "pretrain.json"
    pretrain(spec("pretrain"), weights, report)
    result = read_json(report)["result"]
    assert result["steps"] > 0 and set(result["radius_after_per_site"]) == {"second"}
    assert abs(result["radius_after_mean"] - 1) < abs(result["radius_before_mean"] - 1)

    metrics = train_run(spec("train"), tmp_path / "metrics.json", tmp_path / "history.csv", weights=weights)
    assert metrics["result"]["test"]["accuracy"] > 0.8
    assert metrics["settings"]["model"]["name"] == "tanh_net"
    environment = metrics["result"]["environment"]
    assert environment["torch"] == torch.__version__ and environment["git_commit"] and environment["device"] == "cpu"
    assert (tmp_path / "history.csv").read_text().startswith("epoch,")
