"""Small in-memory tasks and nets for unit tests."""

from __future__ import annotations


import torch

from lscrepro.models.dense import DenseStack
from lscrepro.data.prepared import Prepared
from lscrepro.tasks.images import ImageTask

CPU = torch.device("cpu")


def toy_task(seed=0, n=600, d=10, classes=3) -> ImageTask:
    """Gaussian clusters, one per class, split into train / val / test."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g) * 2

    def split(m):
        y = torch.randint(classes, (m,), generator=g)
        return (centers[y] + torch.randn(m, d, generator=g)).numpy(), y.numpy()

    (xt, yt), (xv, yv), (xs, ys) = split(n), split(n // 5), split(n // 5)
    arrays = {"x_train": xt, "y_train": yt, "x_val": xv, "y_val": yv, "x_test": xs, "y_test": ys}
    return ImageTask(Prepared("toy", "toy", arrays, {"num_classes": classes}), CPU)


def toy_net(seed=0, d=10, width=16, depth=3, classes=3, activation="relu") -> DenseStack:
    return DenseStack(d, width, depth, classes, activation, seed=seed)


def quiet(_line):
    pass


class Interrupt(Exception):
    """Stands for a kill in the middle of a run."""


def interrupt_after(epochs):
    """A log that interrupts the run once epoch ``epochs`` is logged (its checkpoint written)."""
    def log(line):
        if line.startswith(f"epoch {epochs}:"):
            raise Interrupt
    return log
