"""Spike-latency MNIST (``sl_mnist``): each pixel spikes at most once, early if bright.

The reference (py-aromatics ``mnist.getMNIST(spike_latency=True)`` and
``mnist_generators.SeqMNIST``) computes in float32: x = p/255 * 50; if x > 0.2 the spike
step is round(500 ln(x / (x - 0.2))) (half to even), else none; steps above 100 are
none, and step 0 would be masked too. Only pixels p >= 6 spike, at steps 2 (p=255) to
93 (p=6), so all spikes fall in the 100 steps. Here "none" is stored as 255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lscrepro.data.formats import read_idx

STEPS = 100  # the reference's sequence length; also its "max latency"
PIXELS = 28 * 28
NUM_CLASSES = 10
NO_SPIKE = 255
TRAIN_SPLIT = 0.8  # train = the first 80% of the MNIST training set, val = the rest
ENCODINGS = ("transpose", "reshape")


def _latency_table() -> np.ndarray:
    """Spike step of each pixel value 0..255, computed with the reference's float32 steps."""
    x = np.arange(256, dtype=np.float32)
    x /= 255
    x = x * np.float32(50.0)  # tau_eff
    steps = np.full_like(x, -1.0)
    fires = x > np.float32(0.2)  # thr
    steps[fires] = np.float32(50.0) * np.log(x[fires] / (x[fires] - np.float32(0.2))) * np.float32(10)
    steps = steps.round(0)
    steps[steps > STEPS] = -1
    table = np.where(steps > 0, steps, NO_SPIKE)  # the reference masks steps <= 0 (none is -1)
    return table.astype(np.uint8)


LATENCY_TABLE = _latency_table()


def spike_latencies(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, 784) -> uint8 spike steps (N, 784), 255 where a pixel never spikes."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"spike_latencies takes uint8 pixels, got {pixels.dtype}")
    return LATENCY_TABLE[pixels]


def prepare_arrays(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Prepared-cache arrays {train,val,test}_{latencies,labels} from the verified MNIST
    files (keys of ``ensure_files("mnist", ...)``)."""
    train_x = read_idx(files["train_images"]).reshape(-1, PIXELS)
    train_y = read_idx(files["train_labels"]).astype(np.int64)
    test_x = read_idx(files["test_images"]).reshape(-1, PIXELS)
    test_y = read_idx(files["test_labels"]).astype(np.int64)
    cut = int(TRAIN_SPLIT * len(train_x))  # 48000 of 60000, as the reference
    parts = {"train": (train_x[:cut], train_y[:cut]), "val": (train_x[cut:], train_y[cut:]),
             "test": (test_x, test_y)}
    arrays = {}
    for split, (x, y) in parts.items():
        arrays[f"{split}_latencies"] = spike_latencies(x)
        arrays[f"{split}_labels"] = y
    return arrays, {"steps": STEPS, "channels": PIXELS, "num_classes": NUM_CLASSES}


def latency_batch(latencies, steps: int = STEPS, encoding: str = "transpose"):
    """Spike tensors float32 (B, steps, 784) from uint8 latencies (B, 784), on their device.

    "transpose": pixel j's spike is at [b, latency_j, j]. "reshape" reproduces the
    reference exactly: the one-hot (B, 784, steps) is *reshaped* to (B, steps, 784),
    which scrambles pixels and steps. Latencies >= steps (255: none) give no spike.
    """
    import torch

    if encoding not in ENCODINGS:
        raise ValueError(f"unknown sl_mnist encoding {encoding!r}; valid: {', '.join(ENCODINGS)}")
    batch, pixels = latencies.shape
    # a comparison, not an index from nonzero: no host sync per batch on a GPU
    spike_times = torch.arange(steps, device=latencies.device)
    onehot = (latencies.long().unsqueeze(-1) == spike_times).to(torch.float32)
    if encoding == "reshape":
        return onehot.reshape(batch, steps, pixels)
    return onehot.transpose(1, 2).contiguous()
