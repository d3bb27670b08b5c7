"""The LRU network: the whole-sequence recurrence (parallel scan and in-place loop)
against the step-by-step cell, values and gradients; the initialisation; ResLRUNet
shapes, seeding and state carry; torch.func on the step."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev, vmap

from lscrepro.models import MODELS, build_model
from lscrepro.models.lru import LRU, LinearRecurrence, ResLRUBlock, ResLRUNet, build, diagonal_linear_scan

LANGUAGE_DIMS = {"vocab_size": 13, "num_classes": 13, "steps": 9}
H = 8


def make_lru(method: str | None = None, seed: int = 0) -> LRU:
    return LRU(H, torch.Generator().manual_seed(seed), method=method)


@pytest.mark.parametrize("method", ["scan", "loop"])
@pytest.mark.parametrize("with_x0", [False, True])
def test_sequence_equals_stepwise_values_and_gradients(method, with_x0):
    lru = make_lru(method)
    generator = torch.Generator().manual_seed(1)
    u = torch.randn(3, 37, H, generator=generator, requires_grad=True)
    x0 = torch.randn(3, 4 * H, generator=generator, requires_grad=True) if with_x0 else None
    weights = torch.randn(3, 37, H, generator=generator)

    def run(forward):
        y, x_last = forward(u, x0)
        loss = (y * weights).sum() + x_last.square().sum()
        inputs = [u, *lru.parameters()] + ([x0] if with_x0 else [])
        return y.detach(), x_last.detach(), torch.autograd.grad(loss, inputs)

    y, x_last, grads = run(lru.forward)
    y_ref, x_ref, grads_ref = run(lru.forward_stepwise)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x_last, x_ref, atol=1e-5, rtol=1e-5)
    for grad, grad_ref in zip(grads, grads_ref):
        torch.testing.assert_close(grad, grad_ref, atol=1e-4, rtol=1e-4)


def _as_complex(z: torch.Tensor) -> torch.Tensor:
    n = z.shape[-1] // 2
    return torch.complex(z[..., :n], z[..., n:])


@pytest.mark.parametrize("method", ["scan", "loop"])
@pytest.mark.parametrize("in_place", [False, True])
def test_linear_recurrence_gradcheck(method, in_place):
    """The real-layout recurrence and its written-out backward, in float64; in place it
    overwrites its input and the incoming gradient, so both are fresh tensors here."""
    generator = torch.Generator().manual_seed(2)
    lam = 0.6 * torch.randn(5, dtype=torch.complex128, generator=generator)
    lam_re, lam_im = (p.clone().requires_grad_(True) for p in (lam.real, lam.imag))
    drive = torch.randn(2, 11, 10, dtype=torch.float64, generator=generator, requires_grad=True)
    x0 = torch.randn(2, 10, dtype=torch.float64, generator=generator, requires_grad=True)

    def recurrence(l_re, l_im, d, x):
        d = d * 1 if in_place else d
        return LinearRecurrence.apply(l_re, l_im, d, x, method, in_place) * 1
    assert torch.autograd.gradcheck(recurrence, (lam_re, lam_im, drive, x0))
    expected = diagonal_linear_scan(lam, _as_complex(drive.detach()), _as_complex(x0.detach()))
    torch.testing.assert_close(_as_complex(recurrence(lam_re, lam_im, drive, x0)), expected)


def complex_forward(lru: LRU, u: torch.Tensor, x0: torch.Tensor | None):
    """The LRU's sequence forward as it was before issue 26 (complex states, strided
    .real/.imag operands), by autograd through the reference doubling scan."""
    d = lru.d_hidden
    lam = torch.complex(*lru.lambda_parts())
    gamma = torch.exp(lru.gamma_log)
    drive = torch.complex(gamma * (u @ lru.B_re), gamma * (u @ lru.B_im))
    start = None if x0 is None else torch.complex(x0[..., :d], x0[..., d:])
    states = diagonal_linear_scan(lam, drive, start)
    y = states.real @ lru.C_re - states.imag @ lru.C_im + lru.D * u
    return y, torch.cat([states[:, -1].real, states[:, -1].imag], dim=-1)


@pytest.mark.parametrize("method", ["scan", "loop"])
@pytest.mark.parametrize("with_x0", [False, True])
def test_real_layout_equals_the_complex_forward_in_float64(method, with_x0):
    """The same maths as before: outputs, final state and every gradient to 1e-10."""
    lru = make_lru(method).double()
    generator = torch.Generator().manual_seed(4)
    u = torch.randn(3, 37, H, dtype=torch.float64, generator=generator, requires_grad=True)
    x0 = (torch.randn(3, 4 * H, dtype=torch.float64, generator=generator, requires_grad=True)
          if with_x0 else None)
    weights = torch.randn(3, 37, H, dtype=torch.float64, generator=generator)
    inputs = [u, *lru.parameters()] + ([x0] if with_x0 else [])
    results = []
    for forward in (lru.forward, lambda u_, x_: complex_forward(lru, u_, x_)):
        y, x_last = forward(u, x0)
        loss = (y * weights).sum() + x_last.square().sum()
        results.append((loss.detach(), y.detach(), x_last.detach(), *torch.autograd.grad(loss, inputs)))
    for new, old in zip(*results):
        torch.testing.assert_close(new, old, rtol=1e-10, atol=1e-10 * old.abs().max().item())


def test_init_ranges():
    lru = LRU(64, torch.Generator().manual_seed(3))
    assert lru.d_hidden == 128
    modulus = torch.exp(-torch.exp(lru.lambda_nu.detach()))
    assert modulus.min() >= 0.4 - 1e-6 and modulus.max() <= 0.99 + 1e-6
    theta = lru.lambda_theta.detach()
    assert theta.min() >= 0 and theta.max() <= 0.314 + 1e-6
    torch.testing.assert_close(torch.exp(lru.gamma_log.detach()), torch.sqrt(1 - modulus ** 2))
    limit = math.sqrt(3.0 / (64 + 128))
    for name in ("B_re", "B_im", "C_re", "C_im"):
        assert getattr(lru, name).abs().max() <= limit
    assert [name for name, _ in lru.named_parameters()] == [
        "C_re", "B_re", "C_im", "B_im", "D", "lambda_nu", "lambda_theta", "gamma_log"]


@pytest.mark.parametrize("depth", [3, 6])
def test_net_shapes(depth):
    model = build_model({"name": "lru", "depth": depth, "width": H}, LANGUAGE_DIMS, seed=0)
    assert isinstance(model, ResLRUNet) and len(model.cells()) == depth
    assert all(block.adapter is None for block in model.cells())
    tokens = torch.randint(0, 13, (4, 9))
    logits, state = model(tokens)
    assert logits.shape == (4, 9, 13)
    assert len(state) == depth and all(s[0].shape == (4, 4 * H) for s in state)
    assert model(tokens.unsqueeze(-1))[0].shape == (4, 9, 13)  # (B, T, 1) ids


def test_seeding_and_config_errors():
    first = build({"name": "lru", "depth": 2, "width": H, "dropout": 0.1}, LANGUAGE_DIMS, seed=5)
    second = build({"name": "lru", "depth": 2, "width": H}, LANGUAGE_DIMS, seed=5)
    other = build({"name": "lru", "depth": 2, "width": H}, LANGUAGE_DIMS, seed=6)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name
    assert not torch.equal(first.layers[0].lru.B_re, other.layers[0].lru.B_re)
    assert MODELS["lru"].builder == "lscrepro.models.lru:build"
    with pytest.raises(ValueError, match="'cell'"):
        build({"name": "lru", "depth": 2, "width": H, "cell": "LSTM"}, LANGUAGE_DIMS, seed=0)


def test_state_carry():
    model = build({"name": "lru", "depth": 3, "width": H}, LANGUAGE_DIMS, seed=0).eval()
    tokens = torch.randint(0, 13, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole, state_whole = model(tokens)
        first, state = model(tokens[:, :4])
        state = tuple(tuple(t.detach() for t in layer) for layer in state)
        second, state_end = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-5, rtol=1e-5)
    for a, b in zip(state_end, state_whole):
        torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)


def test_block_step_matches_forward():
    block = ResLRUBlock(5, H, torch.Generator().manual_seed(0)).eval()  # with adapter
    x = torch.randn(2, 6, 5)
    out, (x_last,) = block(x)
    state = block.initial_state(2)
    steps = []
    for t in range(6):
        o, state = block.step(x[:, t], state)
        steps.append(o)
    torch.testing.assert_close(torch.stack(steps, 1), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state[0], x_last, atol=1e-5, rtol=1e-5)


def test_step_under_vmap_jacrev():
    lru = make_lru()
    u = torch.randn(4, H)
    x = torch.randn(4, 4 * H)
    jac_u, jac_x = vmap(jacrev(lambda u_t, x_t: lru.step(u_t, x_t)[1], argnums=(0, 1)))(u, x)
    assert jac_u.shape == (4, 4 * H, H) and jac_x.shape == (4, 4 * H, 4 * H)
    # the state Jacobian is the real form of diag(lambda): [[Re, -Im], [Im, Re]]
    lam_re, lam_im = (p.detach() for p in lru.lambda_parts())
    expected = torch.cat([torch.cat([torch.diag(lam_re), -torch.diag(lam_im)], 1),
                          torch.cat([torch.diag(lam_im), torch.diag(lam_re)], 1)], 0)
    torch.testing.assert_close(jac_x[1], expected)
    # and it agrees with autograd on one sample
    reference = torch.autograd.functional.jacobian(lambda u_t: lru.step(u_t, x[2])[1], u[2])
    torch.testing.assert_close(jac_u[2], reference)


# --- the fused training path (LRUSequence, GatedTail) against the module-by-module one ---------
def recurrence_forward(lru: LRU, u: torch.Tensor, x0: torch.Tensor | None):
    """``LRU.forward`` as it was before LRUSequence: autograd through the drive's GEMM, the
    LinearRecurrence node, the readout's GEMM and D u."""
    lam_re, lam_im = lru.lambda_parts()
    gamma = torch.exp(lru.gamma_log)
    w_in = torch.cat([lru.B_re * gamma, lru.B_im * gamma], dim=1)
    w_out = torch.cat([lru.C_re, -lru.C_im], dim=0)
    states = LinearRecurrence.apply(lam_re, lam_im, u @ w_in, x0, lru.method, False)
    return states @ w_out + lru.D * u, states[:, -1]


def _block_and_reference(dtype):
    block = ResLRUBlock(H, H, torch.Generator().manual_seed(7), dropout=0.3).to(dtype).train()

    def reference(x, state):  # the modules one after another, LRU.forward as before
        adapted, u = block._head(x)
        y, x_last = recurrence_forward(block.lru, u, state)
        return block._tail(y, adapted), x_last
    return block, reference


@pytest.mark.parametrize("method", ["scan", "loop"])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_fused_block_equals_the_module_path(method, dtype, rtol):
    """Same weights and dropout masks (the same random numbers): the block's output, final
    state and every gradient as the module-by-module path computes them."""
    block, reference = _block_and_reference(dtype)
    block.lru.method = method
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(3, 29, H, generator=generator, dtype=dtype, requires_grad=True)
    x0 = torch.randn(3, 4 * H, generator=generator, dtype=dtype, requires_grad=True)
    weights = torch.randn(3, 29, H, generator=generator, dtype=dtype)
    inputs = [x, x0, *block.parameters()]
    results = []
    for forward in (lambda x_, s_: (lambda o: (o[0], o[1][0]))(block(x_, (s_,))), reference):
        torch.manual_seed(9)
        out, x_last = forward(x, x0)
        loss = (out * weights).sum() + x_last.square().sum()
        results.append((out.detach(), x_last.detach(), *torch.autograd.grad(loss, inputs)))
    for new, old in zip(*results):
        torch.testing.assert_close(new, old, rtol=rtol, atol=rtol * old.abs().max().item())


def test_fused_tail_draws_the_modules_masks_and_falls_back():
    from lscrepro.models import lru as lru_module
    from lscrepro.models.stack import UniformDropout
    dropout = UniformDropout(0.3).train()
    like = torch.ones(4, 5, 6)
    torch.manual_seed(3)
    expected = dropout(like)  # ones * mask
    torch.manual_seed(3)
    mask, scale = lru_module._uniform_dropout_masks(dropout, like=like)
    assert torch.equal(mask * scale, expected)
    assert lru_module._uniform_dropout_masks(dropout.eval(), like=like) is None
    assert lru_module._uniform_dropout_masks(UniformDropout(0.0), like=like) is None
    assert lru_module._uniform_dropout_masks(torch.nn.Dropout(0.3), like=like) is None


def test_sum_of_products_in_row_chunks():
    from lscrepro.models.lru import _sum_of_products
    generator = torch.Generator().manual_seed(5)
    a, b = (torch.randn(3, 23, 6, dtype=torch.float64, generator=generator) for _ in range(2))
    for rows in (5, 23, 2048):  # chunks with a short last one, one chunk, fewer rows than a chunk
        torch.testing.assert_close(_sum_of_products(a, b, rows=rows), (a * b).sum(dim=(0, 1)))
