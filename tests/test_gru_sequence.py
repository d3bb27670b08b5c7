"""GRUSequence (lscrepro/models/gru_sequence.py): the hand-written GRU backward through time
against gradcheck and against nn.GRU, alone and as GRULayer.forward, and under the device audit."""

import pytest
import torch
from torch import nn
from torch.nn.functional import linear

from lscrepro.models.gru_sequence import GRUSequence, gru_sequence
from lscrepro.models.rnn import GRULayer

TOLERANCES = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


def random_gru(n_in: int, n: int, dtype: torch.dtype, seed: int = 0) -> nn.GRU:
    """An nn.GRU with every parameter, biases too, drawn wide enough to saturate some gates."""
    gru = nn.GRU(n_in, n, batch_first=True).to(dtype)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in gru.parameters():
            p.copy_(1.6 * torch.rand(p.shape, generator=generator, dtype=dtype) - 0.8)
    return gru


def sequence_forward(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Through gru_sequence: the projection time-major or batch-major, the backward overwriting."""
    out = gru_sequence(x, gru.weight_ih_l0, gru.bias_ih_l0, gru.weight_hh_l0, gru.bias_hh_l0, h0)
    return out, out[:, -1]


def kept_forward(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GRUSequence as its defaults: a batch-major projection, the factors kept."""
    out = GRUSequence.apply(linear(x, gru.weight_ih_l0, gru.bias_ih_l0), gru.weight_hh_l0, gru.bias_hh_l0, h0)
    return out, out[:, -1]


def fused_forward(gru: nn.GRU, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out, h = gru(x, h0.unsqueeze(0))
    return out, h[0]


def outputs_and_grads(forward, gru, segments, h0):
    """Runs ``forward`` over the segments, each starting from the previous one's final state
    (a carried state, not detached), and differentiates a loss of every output and the last
    state by the inputs, the initial state and all parameters."""
    generator = torch.Generator().manual_seed(5)
    h, loss, outputs = h0, 0, []
    for x in segments:
        out, h = forward(gru, x, h)
        weights = torch.randn(out.shape, generator=generator, dtype=out.dtype)
        loss = loss + (out * weights).sum()
        outputs.append(out)
    loss = loss + 3 * h.square().sum()
    grads = torch.autograd.grad(loss, [*segments, h0, *gru.parameters()])
    return outputs, h, grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("lengths", [(9,), (1,), (6, 5)], ids=["one", "single-step", "carried"])
@pytest.mark.parametrize("n_in, forward", [(4, sequence_forward), (25, sequence_forward), (4, kept_forward)],
                         ids=["time-major", "batch-major", "kept"])
def test_matches_nn_gru(dtype, lengths, n_in, forward):
    gru = random_gru(n_in, 7, dtype)  # 25 inputs > 3 x 7: gru_sequence projects batch-major
    generator = torch.Generator().manual_seed(1)
    segments = [(2 * torch.randn(3, t, n_in, generator=generator, dtype=dtype)).requires_grad_()
                for t in lengths]
    h0 = torch.randn(3, 7, generator=generator, dtype=dtype).requires_grad_()  # nonzero
    got = outputs_and_grads(forward, gru, segments, h0)
    expected = outputs_and_grads(fused_forward, gru, segments, h0)
    for a, b in zip(got[0], expected[0]):
        assert_close_at_scale(a, b)
    assert_close_at_scale(got[1], expected[1])
    for a, b in zip(got[2], expected[2]):
        assert b.abs().max() > 0
        assert_close_at_scale(a, b)


def assert_close_at_scale(got: torch.Tensor, expected: torch.Tensor) -> None:
    """``TOLERANCES`` with the absolute one taken relative to the tensor's largest element: a
    gradient element summed from terms that cancel keeps the rounding of the terms (float32:
    8.9e-6 on one element of a weight gradient whose largest is 27.6, on an AMD EPYC, where
    oneDNN's nn.GRU and these GEMMs sum in different orders)."""
    tolerance = dict(TOLERANCES[expected.dtype])
    tolerance["atol"] *= max(1.0, expected.abs().max().item())
    torch.testing.assert_close(got, expected, **tolerance)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_gradcheck(steps):
    generator = torch.Generator().manual_seed(steps)

    def draw(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=generator, dtype=torch.float64)).requires_grad_()

    n = 3
    inputs = (draw(2, steps, 3 * n, scale=2.0), draw(3 * n, n), draw(3 * n), draw(2, n))
    assert torch.autograd.gradcheck(GRUSequence.apply, inputs)


def test_without_grad_the_same_outputs_and_nothing_kept():
    gru = random_gru(4, 7, torch.float32)
    x, h0 = torch.randn(3, 6, 4), torch.randn(3, 7)
    with_grad = sequence_forward(gru, x, h0)[0]
    with torch.no_grad():
        without = sequence_forward(gru, x, h0)[0]
    assert with_grad.requires_grad and not without.requires_grad
    assert torch.equal(with_grad, without)


def test_an_overwriting_backward_runs_once():
    gru = random_gru(4, 7, torch.float64)
    x, h0 = torch.randn(3, 6, 4, dtype=torch.float64), torch.zeros(3, 7, dtype=torch.float64)
    out, _ = sequence_forward(gru, x, h0)
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="runs once per forward"):
        out.sum().backward()


def test_gru_layer_forward_matches_nn_gru_with_carried_state():
    """GRULayer.forward (GRUSequence) against forward_fused (nn.GRU) on the same parameters."""
    layer = GRULayer(5, 6, torch.Generator().manual_seed(0))
    with torch.no_grad():  # Keras' zero biases would leave the bias gradients' paths untested
        layer.fused.bias_ih_l0.uniform_(-0.5, 0.5)
        layer.fused.bias_hh_l0.uniform_(-0.5, 0.5)
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(4, 8, 5, generator=generator).requires_grad_()
    weights = torch.randn(4, 8, 6, generator=generator)
    results = []
    for forward in (layer.forward, layer.forward_fused):
        state = layer.initial_state(4)
        first, state = forward(x[:, :3], state)
        second, state = forward(x[:, 3:], state)
        out = torch.cat([first, second], dim=1)
        loss = (out * weights).sum() + state[0].square().sum()
        results.append((out, state[0], torch.autograd.grad(loss, [x, *layer.parameters()])))
    (out, final, grads), (out_ref, final_ref, grads_ref) = results
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(final, final_ref, rtol=1e-5, atol=1e-6)
    for got, expected in zip(grads, grads_ref):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_carried_state_is_a_copy():
    """The final state must not be a view of the output (it would pin the whole sequence)."""
    layer = GRULayer(3, 4, torch.Generator().manual_seed(0))
    out, (h,) = layer(torch.randn(2, 5, 3))
    assert torch.equal(h, out[:, -1]) and h.untyped_storage().data_ptr() != out.untyped_storage().data_ptr()


def test_forward_takes_the_sequence_on_the_cpu():
    layer = GRULayer(3, 4, torch.Generator().manual_seed(0))
    out, _ = layer(torch.randn(2, 5, 3))
    assert type(out.grad_fn).__name__ == "GRUSequenceBackward"


def test_the_sequence_on_a_device_without_violations(monkeypatch):
    """Off the CPU forward takes nn.GRU; here the audit's device runs GRUSequence instead:
    every tensor made on the input's device, no host sync."""
    from lscrepro.device_audit import audit_family
    applied, apply = [], GRUSequence.apply

    def counted(*args):
        applied.append(args[0].device)
        return apply(*args)

    monkeypatch.setattr(GRUSequence, "apply", counted)
    monkeypatch.setattr(GRULayer, "forward_fused", GRULayer.forward_sequence)
    report = audit_family("GRU")
    assert not report.violations, report.summary()
    assert applied and all(device.type != "cpu" for device in applied)
