"""The narrow recurrent cells' forward time loop: the hand-written eager sequence functions the
training steps run (``GRUSequence``, ``ALIFSequence``) beside the same loop with each step's
elementwise work compiled into one kernel by ``torch.compile`` (Inductor's C++ backend, this
machine's compiler), the recurrent GEMM eager in both. Issue 26 names a compiled or fused
cell as the way to the narrow shapes' 35%: this measures whether Inductor's fused kernel is
faster per step on this CPU.

Sizes: sl-MNIST's GRU (width 53) and maLSNN (width 128) at batch 256 and 200 steps, and
Heidelberg's maLSNN depth 5 (width 256, batch 32, 500 steps). The compiled loop writes the
same buffers the eager one does (the GRU's backward factors included) and its outputs are
checked against the eager ones first. Per size: compile seconds, then the least of 5 runs of
the whole forward loop in microseconds per step, one thread, the jobs' heap policy.

    PYTHONPATH=. python benchmarks/compiled_cell.py
"""

from __future__ import annotations

import time

import torch

from lscrepro.cost.floor import least_cpu_seconds
from lscrepro.host_memory import keep_freed_memory
from lscrepro.models.gru_sequence import GRUSequence
from lscrepro.models.spiking import ALIFLayer, ALIFSequence

SIZES = {  # name: (cell, width, batch, steps)
    "sl-MNIST GRU 53": ("GRU", 53, 256, 200),
    "sl-MNIST maLSNN 128": ("ALIF", 128, 256, 200),
    "Heidelberg maLSNN 256 (batch 32)": ("ALIF", 256, 32, 500),
}


def gru_gates(hidden, x_t, h, z_out, h_out, factors_out):
    """One GRU step after its recurrent GEMM (``hidden`` = h W_hh^T + b_hh), as GRUSequence
    computes it: z, h' and the backward's factors (h_n, r, z, x_n) written into their slices."""
    n = h.shape[-1]
    rz = hidden[:, :2 * n] + x_t[:, :2 * n]
    r, z, h_n = torch.sigmoid(rz[:, :n]), torch.sigmoid(rz[:, n:]), hidden[:, 2 * n:]
    candidate = torch.tanh(torch.addcmul(x_t[:, 2 * n:], r, h_n))
    gap = h - candidate
    z_out.copy_(z)
    h_out.copy_(candidate + gap * z)
    f_n = (1 - candidate * candidate) * (1 - z)
    factors_out.copy_(torch.cat([f_n * r, f_n * h_n * r * (1 - r), gap * z * (1 - z), f_n], -1))


def alif_cell(recurrent, input_t, z, v, a, alpha, rho, thr, beta, v_out, a_out, threshold_out, z_out):
    """One ALIF step after its recurrent GEMM (``recurrent`` = z W_rec), as ALIFSequence."""
    a_new = rho * a + (1 - rho) * z
    threshold = beta * a_new + thr
    v_new = alpha * v + (recurrent + input_t) - threshold * z
    a_out.copy_(a_new)
    threshold_out.copy_(threshold)
    v_out.copy_(v_new)
    z_out.copy_((v_new > threshold).to(v_new.dtype))


def gru_case(width: int, batch: int, steps: int, generator: torch.Generator):
    """(eager loop, compiled-cell loop) of a GRU layer's forward, each returning its outputs."""
    projected = torch.rand(batch, steps, 3 * width, generator=generator).requires_grad_()
    weight = (0.2 * torch.rand(3 * width, width, generator=generator)).requires_grad_()
    bias, h0 = torch.zeros(3 * width).requires_grad_(), torch.zeros(batch, width)
    gates = torch.compile(gru_gates, dynamic=False, fullgraph=True)

    def eager():
        return GRUSequence.apply(projected, weight, bias, h0, True, True)

    def compiled():
        with torch.no_grad():
            x_seq, weight_t = projected.transpose(0, 1), weight.T
            h_all = torch.empty(steps + 1, batch, width)
            z_all, factors = torch.empty(steps, batch, width), torch.empty(steps, batch, 4 * width)
            hidden = torch.empty(batch, 3 * width)
            h_all[0] = h0
            for t in range(steps):
                torch.addmm(bias, h_all[t], weight_t, out=hidden)
                gates(hidden, x_seq[t], h_all[t], z_all[t], h_all[t + 1], factors[t])
            return h_all[1:].transpose(0, 1)
    return eager, compiled


def alif_case(width: int, batch: int, steps: int, generator: torch.Generator):
    """(eager loop, compiled-cell loop) of an ALIF layer's forward, each returning its spikes."""
    layer = ALIFLayer(width, width, steps / 2, generator)
    currents = 3 * torch.rand(batch, steps, width, generator=generator) * (2 / width) ** 0.5
    w_rec, alpha, rho = (c.detach() for c in layer._constants())
    thr, beta = layer.thr.detach(), layer.beta.detach()
    state = layer.initial_state(batch)
    cell = torch.compile(alif_cell, dynamic=False, fullgraph=True)

    def eager():
        with torch.no_grad():
            return ALIFSequence.apply(currents, w_rec, alpha, rho, thr, beta, *state)[0]

    def compiled():
        with torch.no_grad():
            inputs = currents.transpose(0, 1)
            z_all, v_all, a_all = (torch.empty(steps + 1, batch, width) for _ in range(3))
            thresholds, recurrent = torch.empty(steps, batch, width), torch.empty(batch, width)
            z_all[0], v_all[0], a_all[0] = state
            for t in range(steps):
                torch.mm(z_all[t], w_rec, out=recurrent)
                cell(recurrent, inputs[t], z_all[t], v_all[t], a_all[t], alpha, rho, thr, beta,
                     v_all[t + 1], a_all[t + 1], thresholds[t], z_all[t + 1])
            return z_all[1:].transpose(0, 1)
    return eager, compiled


def main() -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    print("| forward loop | steps | compile s | eager µs/step | compiled µs/step | eager / compiled | outputs |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, (cell, width, batch, steps) in SIZES.items():
        case = gru_case if cell == "GRU" else alif_case
        eager, compiled = case(width, batch, steps, torch.Generator().manual_seed(0))
        start = time.perf_counter()
        got = compiled()  # compiles
        compile_s = time.perf_counter() - start
        expected = eager()
        differ = (got != expected).double().mean().item()
        agree = ("equal" if not differ else f"{differ:.1e} of them differ, by at most "
                 f"{(got - expected).abs().max().item():.1e}")
        seconds = {label: least_cpu_seconds(loop, 5) for label, loop in (("eager", eager), ("compiled", compiled))}
        per_step = {label: 1e6 * s / steps for label, s in seconds.items()}
        print(f"| {name} | {steps} | {compile_s:.1f} | {per_step['eager']:.0f} | {per_step['compiled']:.0f} | "
              f"{seconds['eager'] / seconds['compiled']:.2f}x | {agree} |")


if __name__ == "__main__":
    main()
