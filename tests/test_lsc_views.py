"""The recurrent layers' LSC views (lscrepro/lsc/views.py): the closed-form Jacobians
of the gated and simple cells against torch.func on the same step, gradients to the
weights included, and a cell that exists only in this test, LSC-pre-trained without any
edit to lscrepro/lsc/."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lscrepro.lsc.recurrent import (RecurrentLSCSettings, cell_views, local_jacobians,
                                    pretrain_recurrent)
from lscrepro.models import build_model
from lscrepro.lsc.views import RecurrentLSCView
from lscrepro.catalog.cells import CELLS, CellEntry
from lscrepro.models.rnn import make_layer
from lscrepro.models.spiking import glorot_uniform

from test_catalog import demo_config, validated
from test_recurrent_lsc import NoiseSpikes, _quiet, one_thread  # noqa: F401 (fixture)

CLOSED_FORM = ("LSTM", "GRU", "rsimplernn", "ssimplernn")


def _autograd_jacobians(view, x, s):
    return RecurrentLSCView.jacobians(view, x, s)


@pytest.mark.parametrize("cell", CLOSED_FORM)
def test_closed_form_jacobians_and_their_weight_gradients_equal_torch_func(cell):
    generator = torch.Generator().manual_seed(3)
    layer = make_layer(cell, 5, 6, generator, activation="relu", steps=10).double()
    with torch.no_grad():  # non-zero biases, so every bias term of the formulas matters
        for name, p in layer.named_parameters():
            if "bias" in name:
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    view = layer.lsc_view()
    assert type(view).jacobians is not RecurrentLSCView.jacobians, "no closed form to test"
    x = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    s = torch.randn(4, view.size(), generator=generator, dtype=torch.float64) * 0.7
    weights = [torch.randn(4, view.size(), k, generator=generator, dtype=torch.float64)
               for k in (view.size(), 5)]
    results = []
    for jacobians in (view.jacobians, lambda x, s: _autograd_jacobians(view, x, s)):
        rec, inp = jacobians(x, s)
        loss = (rec * weights[0]).sum() + (inp * weights[1]).sum()
        trained = [p for p in layer.parameters() if p.requires_grad]  # not the LSTM's bias_hh
        grads = torch.autograd.grad(loss, trained, allow_unused=True)
        results.append((rec, inp, grads))
    (rec, inp, grads), (rec_ref, inp_ref, grads_ref) = results
    torch.testing.assert_close(rec, rec_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(inp, inp_ref, rtol=1e-10, atol=1e-12)
    assert rec.abs().sum() > 0 and inp.abs().sum() > 0
    for (name, _), grad, grad_ref in zip([(n, p) for n, p in layer.named_parameters() if p.requires_grad], grads,
                                         grads_ref):
        grad = torch.zeros_like(grad_ref) if grad is None else grad
        torch.testing.assert_close(grad, grad_ref, rtol=1e-9, atol=1e-11, msg=name)


class ToyTanhLayer(nn.Module):
    """h' = tanh(x W + h U): a cell this test alone defines, with no closed-form Jacobian."""

    def __init__(self, n_in: int, n: int, generator: torch.Generator):
        super().__init__()
        self.n = n
        self.w = nn.Parameter(glorot_uniform((n_in, n), generator))
        self.u = nn.Parameter(glorot_uniform((n, n), generator) * 2.0)

    def initial_state(self, batch, device=None, dtype=torch.float32):
        return (torch.zeros(batch, self.n, device=device, dtype=dtype),)

    def step(self, x_t, state):
        h = torch.tanh(x_t @ self.w + state[0] @ self.u)
        return h, (h,)

    def forward(self, x, state=None):
        state = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        outputs = []
        for t in range(x.shape[1]):
            h, state = self.step(x[:, t], state)
            outputs.append(h)
        return torch.stack(outputs, dim=1), state

    def lsc_view(self):
        return ToyView(self)


class ToyView(RecurrentLSCView):
    def step(self, x, s):
        return self.layer.step(x, (s,))[0]

    def rescale_groups(self, biases=True):
        return [self.layer.w], [self.layer.u]


def test_a_cell_registered_in_a_test_is_lsc_pre_trained(monkeypatch, tmp_path):
    # one catalog entry: the config validation accepts it, as the model builds it
    monkeypatch.setitem(CELLS, "toy", CellEntry("toy", lambda n_in, n, g, **_: ToyTanhLayer(n_in, n, g)))
    assert validated(demo_config(nets=["LSTM", "toy"]), tmp_path)["rnn"]["nets"] == ["LSTM", "toy"]
    task = NoiseSpikes(steps=15)
    model = build_model({"name": "rnn", "cell": "toy", "depth": 2, "width": 16}, task.dims, 0)
    assert all(isinstance(v, ToyView) for v in cell_views(model))
    settings = RecurrentLSCSettings(target=0.5, batch_size=8, measure_batches=1)
    result = pretrain_recurrent(model, task, settings, seed=0, device=torch.device("cpu"), log=_quiet)
    assert result.steps == 30
    for kind, gain in (("rec", 0.1), ("depth", 0.1), ("enc", 0.0)):
        before, after = (sum(v["mean"] for v in per_kind[kind].values()) / len(per_kind[kind])
                         for per_kind in (result.radius_before_per_kind, result.radius_after_per_kind))
        assert abs(after - 0.5) < abs(before - 0.5) - gain, (kind, before, after)


@pytest.mark.parametrize("cell, c_path", [("LSTM", True), ("LSTM", False), ("GRU", True),
                                          ("maLSNN", True)])
def test_the_compact_depth_jacobian_has_the_same_radius_and_gradient(cell, c_path):
    task = NoiseSpikes()
    model = build_model({"name": "rnn", "cell": cell, "depth": 2, "width": 8}, task.dims, 0).double()
    views = cell_views(model)
    generator = torch.Generator().manual_seed(2)
    x = task.data["train"][:3, 4].double()
    states = [torch.randn(3, v.size(), generator=generator, dtype=torch.float64) * 0.5 for v in views]
    results = []
    for compact in (False, True):
        jacobians, _ = local_jacobians(model, views, x, states, with_dec=False, lstm_c_path=c_path,
                                       compact_depth=compact)
        depth = jacobians["depth", 1]
        radius = torch.linalg.eigvals(depth).abs().amax(dim=-1)
        trained = [p for p in model.parameters() if p.requires_grad]  # not the LSTM's bias_hh
        grads = torch.autograd.grad(radius.sum(), trained, allow_unused=True)
        results.append((depth.shape[-1], radius, grads))
    (full_n, full, full_grads), (compact_n, compact, compact_grads) = results
    assert compact_n == views[0].n < full_n == views[0].size() or compact_n == full_n == views[0].n
    torch.testing.assert_close(compact, full, rtol=1e-9, atol=1e-12)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    for name, a, b in zip(names, compact_grads, full_grads):
        if b is not None:
            torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10, msg=name)
