"""Seconds per LSC step and per training step of each family on one device (used by
gpu_check.py): the paper's sizes, or small ones for a quick run on the CPU.

One LSC step is what each procedure repeats: FFN one hidden block's batched Jacobians, Ritz
radii, loss, backward and update (benchmarks/lsc_step.py); deep RNN every local Jacobian of
one time step of the PTB LSTM (benchmarks/rnn_lsc_step.py); ResLRU one lruLSC iteration
(radii of a block pair, rescale, shuffle, halves). One training step is a forward, the
cross-entropy, backward and an AdaBelief + Lookahead update on a training batch.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

import lsc_step
import rnn_lsc_step
from lscrepro.device import make_deterministic
from lscrepro.lsc.lru import pair_radii, rescale, shuffle_and_swap
from lscrepro.lsc.recurrent import RecurrentLSCSettings, cell_views
from lscrepro.models import build_model
from lscrepro.optim import adabelief_lookahead

VOCAB = {"paper": 10000, "small": 100}
SIZES = {  # the paper's: Figure 2's net, Figure 3's PTB depth-5 LSTM, Table 1's ResLRU
    "paper": {"ffn": {"depth": 30, "width": 128, "batch": 512},
              "rnn": {"widths": [500, 100, 500, 100, 300], "embedding": 300, "batch": 32, "lsc_batch": 8,
                      "steps": 200},
              "lru": {"depth": 6, "width": 256, "batch": 64, "lsc_batch": 8, "steps": 300}},
    "small": {"ffn": {"depth": 6, "width": 32, "batch": 64},
              "rnn": {"widths": [24, 12], "embedding": 12, "batch": 4, "lsc_batch": 4, "steps": 20},
              "lru": {"depth": 2, "width": 16, "batch": 8, "lsc_batch": 4, "steps": 20}},
}


def median_seconds(step, device: torch.device, repeats: int = 3) -> float:
    step()  # warm-up: allocation, kernel selection
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_step(model, optimizer, x, y):
    def step():
        model.train()
        logits = model(x)
        logits = logits[0] if isinstance(logits, tuple) else logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def ffn(size: dict, device, generator) -> dict:
    model = build_model({"name": "dense", "depth": size["depth"], "width": size["width"], "activation": "relu"},
                        {"in_features": 784, "num_classes": 10}, 0).to(device)
    optimizer = adabelief_lookahead(model.parameters(), 1e-4, 1e-4)
    x = torch.randn(size["batch"], 784, generator=generator, device=device)
    y = torch.randint(10, (size["batch"],), generator=generator, device=device)
    block = size["depth"] // 2
    lsc = median_seconds(lambda: lsc_step.batched_step(model, optimizer, x, block, "ritz"), device)
    return {"lsc_step_s": lsc, "train_step_s": median_seconds(train_step(model, optimizer, x, y), device),
            "shape": f"depth {size['depth']}, width {size['width']}, batch {size['batch']}"}


def rnn(size: dict, vocab: int, device, generator) -> dict:
    dims = {"vocab_size": vocab, "num_classes": vocab, "steps": size["steps"]}
    model = build_model({"name": "rnn", "cell": "LSTM", "depth": len(size["widths"]), "widths": size["widths"],
                         "embedding": size["embedding"]}, dims, 0).to(device)
    settings = RecurrentLSCSettings()
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay)
    tokens = torch.randint(vocab, (size["lsc_batch"],), generator=generator, device=device)
    states = [torch.randn(size["lsc_batch"], view.size(), generator=generator, device=device) * 0.3
              for view in cell_views(model)]
    lsc = median_seconds(lambda: rnn_lsc_step.batched_step(model, optimizer, tokens, states, settings,
                                                           generator), device)
    x = torch.randint(vocab, (size["batch"], size["steps"]), generator=generator, device=device)
    train = median_seconds(train_step(model, optimizer, x, torch.roll(x, -1, dims=1)), device)
    return {"lsc_step_s": lsc, "train_step_s": train,
            "shape": f"PTB LSTM {':'.join(map(str, size['widths']))}, LSC batch {size['lsc_batch']}, "
                     f"training batch {size['batch']} x {size['steps']} steps"}


def lru(size: dict, vocab: int, device, generator) -> dict:
    dims = {"vocab_size": vocab, "num_classes": vocab, "steps": size["steps"]}
    model = build_model({"name": "lru", "depth": size["depth"], "width": size["width"], "readout": "tied"},
                        dims, 0).to(device)
    goals = {"time": 1.0, "depth": 1.0}

    def lsc():
        model.eval()  # as pretrain_lru: no dropout inside the Jacobians
        with torch.no_grad():
            a_t, a_l = pair_radii(model, (0, 1), size["lsc_batch"], "eig", generator)
            rescale(model, (0, 1), a_t, a_l, goals, 0.05)
            shuffle_and_swap(model, (0, 1), True, True, generator)
    optimizer = adabelief_lookahead(model.parameters(), 3e-2, 0.0)
    x = torch.randint(vocab, (size["batch"], size["steps"]), generator=generator, device=device)
    train = median_seconds(train_step(model, optimizer, x, torch.roll(x, -1, dims=1)), device)
    return {"lsc_step_s": median_seconds(lsc, device), "train_step_s": train,
            "shape": f"ResLRU depth {size['depth']}, width {size['width']}, LSC batch {size['lsc_batch']}, "
                     f"training batch {size['batch']} x {size['steps']} steps"}


def time_families(device_name: str, scale: str) -> dict[str, dict]:
    """{family: {lsc_step_s, train_step_s, shape}} on ``device_name`` at ``scale``."""
    device = torch.device(device_name)
    make_deterministic(device)
    generator = torch.Generator(device=device).manual_seed(0)
    sizes, vocab = SIZES[scale], VOCAB[scale]
    return {"ffn": ffn(sizes["ffn"], device, generator),
            "rnn": rnn(sizes["rnn"], vocab, device, generator),
            "lru": lru(sizes["lru"], vocab, device, generator)}
