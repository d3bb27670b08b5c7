"""The Linear Recurrent Unit network (``reslruffn``): a stack of residual LRU blocks.

Reference: ``LinearRecurrentUnitCell`` / ``LinearRecurrentUnitFFN`` / ``ResLRUFFN`` in
LuCeHe/lru_unofficial (``lruun/tf/linear_recurrent_unit.py``, the GEGLU of ``geglu.py``
with ``comments='onlyglu'``) and stable_drnn's ``equivalence_and_save``, which builds

    token ids -> embedding E -> (Dropout -> ResLRUFFN) x depth -> readout

as stable_spike's full model trains it: a dropout before each block at the rate of the
comments' ``dropout:`` (0 in Figure 4, 0.2 / 0.1 in Table 1), two more inside each block
at the fixed ``dop=0.1``, and the readout tied to the embedding (``embproj``, Table 1) or
a Dense layer (Figure 4). The reference's ``reslruffn`` is one of stable_spike's
``non_recurrent_models``: every window starts from a zero state, in training and in
evaluation, which wordptb's ``carry_state: false`` reproduces (``forward(x)``, no state
in); ``forward(x, state)`` continues from a given state, for a task that carries it.

The LRU (N = 2H complex states, one per pair of real state entries)::

    lambda = exp(-exp(nu) + i theta),   gamma = exp(gamma_log)
    x_t = lambda * x_{t-1} + gamma * (u_t B),   y_t = Re(x_t C) + D * u_t

``LRU.forward`` computes a whole sequence at once, in one autograd node with its backward
written out (``LRUSequence``): the input projection of all steps, then the diagonal
recurrence by a log-depth parallel scan (Hillis-Steele doubling; lambda is the same at every
step so the "a" half of the scan pair is just lambda^(2^k)) on accelerators, or by an
in-place loop over time on the CPU, where it is faster; then the readout of all steps.
It holds the complex states as real tensors, ``[Re x | Im x]`` along the last axis, so
both projections are single GEMMs on contiguous operands (complex tensors made them GEMMs
on strided ``.real``/``.imag`` views, copied first, and a complex loop's copies; issue 26,
benchmarks/lru_train_step.py). ``LRU.step`` is the one-step cell on real tensors, the
state stored as the reference stores it, ``[Re x, Im x]`` (2N real entries), so that
torch.func can differentiate it. States at every API boundary use that real layout.
Training on the CPU, ``ResLRUBlock`` runs its GELU, dropouts, gated unit and residual as
one node too (``GatedTail``, with UniformDropout's masks drawn as the modules draw them);
in evaluation and on other devices it calls the modules in turn.

Initialisation draws from one torch.Generator seeded with the model seed, so the same
seed gives bit-identical weights on CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .spiking import glorot_uniform
from .stack import SequenceStack, UniformDropout

CONFIG_KEYS = ("name", "depth", "width", "dropout", "block_dropout", "readout")
READOUTS = ("tied", "dense")
R_MIN, R_MAX = 0.4, 0.99  # modulus range of lambda at init
MAX_PHASE = 3.14 / 10  # the reference's reduced_phase: theta ~ U[0, 3.14/10]
LAYER_NORM_EPS = 1e-3  # Keras LayerNormalization default
State = tuple[torch.Tensor, ...]


def _uniform(shape: tuple[int, ...], limit: float, generator: torch.Generator,
             low: float | None = None) -> torch.Tensor:
    low = -limit if low is None else low
    return torch.empty(shape).uniform_(low, limit, generator=generator)


def diagonal_linear_scan(lam: torch.Tensor, drive: torch.Tensor,
                         x0: torch.Tensor | None = None) -> torch.Tensor:
    """All states of x_t = lam * x_{t-1} + drive_t (t = 0..T-1, x_{-1} = x0 or 0), by
    autograd through the doubling rounds (a reference for ``LinearRecurrence``).

    lam (N,) and drive (B, T, N), complex (or real); returns (B, T, N). Hillis-Steele
    doubling: after round k, entry t holds sum_{j<2^k, j<=t} lam^j drive_{t-j}, so
    ceil(log2 T) rounds of elementwise work give the whole recurrence. This is the
    associative scan of the pairs (a, b) with (a_i, b_i) . (a_j, b_j) = (a_j a_i,
    a_j b_i + b_j) (the reference's ``binary_operator_diag``) specialised to a_t = lam.
    """
    if x0 is not None:
        drive = torch.cat([drive[:, :1] + lam * x0.unsqueeze(1), drive[:, 1:]], dim=1)
    steps = drive.shape[1]
    power, shift = lam, 1
    while shift < steps:
        drive = torch.cat([drive[:, :shift], drive[:, shift:] + power * drive[:, :-shift]], dim=1)
        power = power * power
        shift *= 2
    return drive


def _loop(lam_re: torch.Tensor, lam_im: torch.Tensor, x: torch.Tensor, reverse: bool) -> None:
    """x (B, T, 2N) = [Re | Im] <- the states of x_t = lam x_{t-1} + x_t (x_{t+1} when
    ``reverse``), in place: four multiply-adds on (B, N) slices per step, no temporaries."""
    n, steps = lam_re.shape[0], x.shape[1]
    re, im = x[..., :n], x[..., n:]
    neg_lam_im = -lam_im
    order = range(steps - 2, -1, -1) if reverse else range(1, steps)
    offset = 1 if reverse else -1
    for t in order:
        s = t + offset
        re[:, t].addcmul_(re[:, s], lam_re).addcmul_(im[:, s], neg_lam_im)
        im[:, t].addcmul_(im[:, s], lam_re).addcmul_(re[:, s], lam_im)


def _scan(lam_re: torch.Tensor, lam_im: torch.Tensor, x: torch.Tensor, reverse: bool) -> None:
    """As ``_loop``, by the Hillis-Steele doubling (ceil(log2 T) rounds over the whole
    tensor: the parallel form, for accelerators and long sequences)."""
    n, steps = lam_re.shape[0], x.shape[1]
    re, im = x[..., :n], x[..., n:]
    # lam^(2^k) below sqrt(tiny) is set to 0: those terms are below the float's resolution
    # of the sum, and products with them would be (slow) subnormals
    negligible = torch.finfo(x.dtype).tiny ** 0.5
    power_re, power_im, shift = lam_re, lam_im, 1
    while shift < steps:
        target, source = (slice(None, -shift), slice(shift, None)) if reverse else \
            (slice(shift, None), slice(None, -shift))
        src_re, src_im = re[:, source], im[:, source]
        add_re = power_re * src_re - power_im * src_im  # from the old values: the slices overlap
        add_im = power_re * src_im + power_im * src_re
        re[:, target] += add_re
        im[:, target] += add_im
        power_re, power_im = power_re * power_re - power_im * power_im, 2 * power_re * power_im
        small = power_re.square() + power_im.square() < negligible ** 2
        power_re, power_im = (torch.where(small, torch.zeros_like(p), p) for p in (power_re, power_im))
        shift *= 2


def _recur_inplace(lam_re: torch.Tensor, lam_im: torch.Tensor, x: torch.Tensor, method: str,
                   reverse: bool = False) -> torch.Tensor:
    """x (B, T, 2N) = [Re x | Im x] <- the states of x_t = lam x_{t-1} + x_t (x_{t+1} when
    ``reverse``), in place, no autograd. ``"scan"``: the doubling (``_scan``); ``"loop"``:
    T small in-place steps (fewer passes over memory: faster on a CPU)."""
    if method == "scan":
        _scan(lam_re, lam_im, x, reverse)
    elif method == "loop":
        _loop(lam_re, lam_im, x, reverse)
    else:
        raise ValueError(f"unknown recurrence method {method!r}; valid: 'scan', 'loop'")
    return x


def _reverse_loop_with_lambda_grad(lam_re, lam_im, grad, x):
    """``_loop(conj lam, grad, reverse)`` in place, summing the lambda gradient
    sum_{t>=1} g_t conj(x_{t-1}) (real and imaginary parts, per channel) on the way, while
    each g_t is in cache: (grad_lam_re (N,), grad_lam_im (N,))."""
    n, steps = lam_re.shape[0], x.shape[1]
    re, im = grad[..., :n], grad[..., n:]
    x_re, x_im = x[..., :n], x[..., n:]
    same = grad.new_zeros(grad.shape[0], 2 * n)  # [g_re x_re | g_im x_im]
    cross = grad.new_zeros(grad.shape[0], n)  # g_im x_re - g_re x_im
    neg_lam_im = -lam_im
    for t in range(steps - 1, 0, -1):  # g_t is final here
        same.addcmul_(grad[:, t], x[:, t - 1])
        cross.addcmul_(im[:, t], x_re[:, t - 1]).addcmul_(re[:, t], x_im[:, t - 1], value=-1)
        re[:, t - 1].addcmul_(re[:, t], lam_re).addcmul_(im[:, t], lam_im)
        im[:, t - 1].addcmul_(im[:, t], lam_re).addcmul_(re[:, t], neg_lam_im)
    same = same.sum(dim=0)
    return same[:n] + same[n:], cross.sum(dim=0)


def _conj_product_sum(g: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sum of g conj(x) over all but the last axis, for g, x (..., 2N) = [Re | Im]: its
    (real, imaginary) parts, each (N,)."""
    n = x.shape[-1] // 2
    dims = tuple(range(x.dim() - 1))
    same = (g * x).sum(dim=dims)
    cross = (g[..., n:] * x[..., :n] - g[..., :n] * x[..., n:]).sum(dim=dims)
    return same[:n] + same[n:], cross


def _times_lambda(lam_re, lam_im, z: torch.Tensor) -> torch.Tensor:
    """lam * z for z (..., 2N) = [Re | Im], in the same layout."""
    n = lam_re.shape[0]
    z_re, z_im = z[..., :n], z[..., n:]
    return torch.cat([lam_re * z_re - lam_im * z_im, lam_re * z_im + lam_im * z_re], dim=-1)


def _recur_from(lam_re, lam_im, x: torch.Tensor, x0: torch.Tensor | None, method: str) -> None:
    """x (B, T, 2N) holding the drive becomes the states x_t = lam x_{t-1} + drive_t, in place,
    from x_{-1} = x0 (or 0)."""
    if x0 is not None:
        x[:, 0] += _times_lambda(lam_re, lam_im, x0)
    _recur_inplace(lam_re, lam_im, x, method)


class LinearRecurrence(torch.autograd.Function):
    """x_t = lam * x_{t-1} + drive_t (x_{-1} = x0 or 0) over a sequence, on real tensors in
    the ``[Re | Im]`` layout (drive (B, T, 2N), lam as (Re, Im), each (N,)): contiguous
    operands for the matmuls before and after. The backward is written out: the reverse
    recurrence g_t <- g_t + conj(lam) g_{t+1}, grad lam = sum_t g_t conj(x_{t-1}) (PyTorch's
    conjugate-Wirtinger convention, as real and imaginary parts) and grad x0 = conj(lam) g_0.
    Both passes update one buffer in place, instead of an autograd graph of every round.

    ``in_place``: the recurrence overwrites ``drive`` and its backward the incoming
    gradient (for callers whose drive and state gradient are their own fresh tensors:
    two (B, T, 2N) allocations fewer per layer and step); otherwise both are copied."""

    @staticmethod
    def forward(ctx, lam_re, lam_im, drive, x0, method, in_place=False):
        if in_place:
            ctx.mark_dirty(drive)
            x = drive
        else:
            x = drive.clone()
        _recur_from(lam_re, lam_im, x, x0, method)
        ctx.method, ctx.in_place = method, in_place
        ctx.save_for_backward(lam_re, lam_im, x, x0)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_x):
        lam_re, lam_im, x, x0 = ctx.saved_tensors
        own = ctx.in_place and grad_x.is_contiguous()
        grad = grad_x if own else grad_x.clone(memory_format=torch.contiguous_format)
        grad_re, grad_im, grad_x0 = _recurrence_backward(lam_re, lam_im, grad, x, x0, ctx.method,
                                                         ctx.needs_input_grad[3])
        return grad_re, grad_im, grad, grad_x0, None, None


def _recurrence_backward(lam_re, lam_im, grad, x, x0, method, need_x0):
    """The backward of x_t = lam x_{t-1} + drive_t given the states x: the state gradient
    ``grad`` (B, T, 2N) becomes the drive's, in place; returns (grad Re lam, grad Im lam,
    grad x0 or None)."""
    if method == "loop":
        grad_re, grad_im = _reverse_loop_with_lambda_grad(lam_re, lam_im, grad, x)
    else:
        _recur_inplace(lam_re, -lam_im, grad, method, reverse=True)
        grad_re, grad_im = _conj_product_sum(grad[:, 1:], x[:, :-1])
    grad_x0 = None
    if x0 is not None:  # the first step's lam * x0: g_0 conj(x0) and conj(lam) g_0
        more_re, more_im = _conj_product_sum(grad[:, 0], x0)
        grad_re, grad_im = grad_re + more_re, grad_im + more_im
        grad_x0 = _times_lambda(lam_re, -lam_im, grad[:, 0]) if need_x0 else None
    return grad_re, grad_im, grad_x0


def _sum_of_products(a: torch.Tensor, b: torch.Tensor, rows: int = 2048) -> torch.Tensor:
    """sum over all but the last axis of a * b, for contiguous a, b (..., H): accumulated in a
    (rows, H) buffer that stays in cache, where (a * b).sum() would write and read back a
    temporary as large as a."""
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    rows = min(rows, a.shape[0])
    total = torch.mul(a[:rows], b[:rows])
    for start in range(rows, a.shape[0], rows):
        stop = min(start + rows, a.shape[0])
        total[:stop - start].addcmul_(a[start:stop], b[start:stop])
    return total.sum(dim=0)


class LRUSequence(torch.autograd.Function):
    """The LRU over a sequence in one node: u (B, T, H) -> drive u @ w_in (B, T, 2N) -> the
    recurrence (as ``LinearRecurrence``, in place) -> y = states @ w_out + D u, and the final
    state. Written out so that the backward needs no elementwise temporaries as large as u:
    grad u = grad_states @ w_in^T + D grad_y is one GEMM and one in-place addcmul (autograd
    made grad_y * D and the sum of the two as new tensors), grad D accumulates in cache
    (``_sum_of_products``), and the state gradient from the readout's GEMM is updated in
    place. Inputs: u, w_in (H, 2N), w_out (2N, H), D (H,), lam_re, lam_im (N,), x0 (B, 2N)
    or None, method; outputs (y, x_T)."""

    @staticmethod
    def forward(ctx, u, w_in, w_out, d, lam_re, lam_im, x0, method):
        batch, steps, width = u.shape
        u = u.contiguous()
        states = torch.mm(u.view(-1, width), w_in).view(batch, steps, -1)
        _recur_from(lam_re, lam_im, states, x0, method)
        y = torch.mm(states.view(batch * steps, -1), w_out).view(batch, steps, width).addcmul_(u, d)
        ctx.method = method
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(u, w_in, w_out, d, lam_re, lam_im, states, x0)
        return y, states[:, -1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y, grad_last):
        u, w_in, w_out, d, lam_re, lam_im, states, x0 = ctx.saved_tensors
        batch, steps, width = u.shape
        if grad_y is None:
            grad_y = torch.zeros_like(u)
        grad_y = grad_y.contiguous()
        flat_y, flat_u, flat_states = grad_y.view(-1, width), u.view(-1, width), states.view(batch * steps, -1)
        grad = torch.mm(flat_y, w_out.T).view(states.shape)  # this node's own: updated in place
        if grad_last is not None:
            grad[:, -1] += grad_last
        grad_lam_re, grad_lam_im, grad_x0 = _recurrence_backward(lam_re, lam_im, grad, states, x0,
                                                                 ctx.method, ctx.needs_input_grad[6])
        flat_grad = grad.view(batch * steps, -1)
        grad_u = grad_w_in = grad_w_out = grad_d = None
        if ctx.needs_input_grad[0]:
            grad_u = torch.mm(flat_grad, w_in.T).view(u.shape).addcmul_(grad_y, d)
        if ctx.needs_input_grad[1]:
            grad_w_in = flat_u.T @ flat_grad
        if ctx.needs_input_grad[2]:
            grad_w_out = flat_states.T @ flat_y
        if ctx.needs_input_grad[3]:
            grad_d = _sum_of_products(grad_y, u)
        return grad_u, grad_w_in, grad_w_out, grad_d, grad_lam_re, grad_lam_im, grad_x0, None


def default_method(device: torch.device) -> str:
    """The doubling scan on accelerators, the in-place time loop on the CPU."""
    return "loop" if device.type == "cpu" else "scan"


class LRU(nn.Module):
    """``LinearRecurrentUnitCell(H)`` with N = 2H. Parameters carry the reference names
    and order: C_re, B_re, C_im, B_im, D, lambda_nu, lambda_theta, gamma_log."""

    def __init__(self, n: int, generator: torch.Generator, method: str | None = None):
        super().__init__()
        self.n = n
        self.method = method  # "scan", "loop" or None: by device (see default_method)
        self.d_hidden = d = 2 * n
        # VarianceScaling(0.5, fan_avg, uniform): limit sqrt(3 * 0.5 / ((n + d) / 2))
        limit = math.sqrt(3.0 / (n + d))
        self.C_re = nn.Parameter(_uniform((d, n), limit, generator))
        self.B_re = nn.Parameter(_uniform((n, d), limit, generator))
        self.C_im = nn.Parameter(_uniform((d, n), limit, generator))
        self.B_im = nn.Parameter(_uniform((n, d), limit, generator))
        self.D = nn.Parameter(torch.randn(n, generator=generator))
        nu_min, nu_max = math.log(-math.log(R_MAX)), math.log(-math.log(R_MIN))
        self.lambda_nu = nn.Parameter(_uniform((d,), nu_max, generator, low=nu_min))
        self.lambda_theta = nn.Parameter(_uniform((d,), MAX_PHASE, generator, low=0.0))
        with torch.no_grad():
            modulus = torch.exp(-torch.exp(self.lambda_nu))
            gamma_log = torch.log(torch.sqrt(1 - modulus ** 2))
        self.gamma_log = nn.Parameter(gamma_log)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> torch.Tensor:
        """The zero state in the real ``[Re x, Im x]`` layout, (batch, 2N)."""
        return torch.zeros(batch, 2 * self.d_hidden, device=device, dtype=dtype)

    def lambda_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Re lambda, Im lambda), each (N,)."""
        modulus = torch.exp(-torch.exp(self.lambda_nu))
        return modulus * torch.cos(self.lambda_theta), modulus * torch.sin(self.lambda_theta)

    def step(self, u_t: torch.Tensor, x: torch.Tensor):
        """One step on real tensors: u_t (..., H), x (..., 2N) = [Re, Im] ->
        (y_t (..., H), x_new (..., 2N)). Works unbatched, so under torch.func.vmap."""
        d = self.d_hidden
        x_re, x_im = x[..., :d], x[..., d:]
        lam_re, lam_im = self.lambda_parts()
        gamma = torch.exp(self.gamma_log)
        new_re = lam_re * x_re - lam_im * x_im + gamma * (u_t @ self.B_re)
        new_im = lam_re * x_im + lam_im * x_re + gamma * (u_t @ self.B_im)
        y = new_re @ self.C_re - new_im @ self.C_im + self.D * u_t
        return y, torch.cat([new_re, new_im], dim=-1)

    def forward(self, u: torch.Tensor, x0: torch.Tensor | None = None):
        """u (B, T, H), x0 (B, 2N) or None (zeros) -> (y (B, T, H), x_T (B, 2N)), the
        recurrence over the whole sequence at once (``LRUSequence``), on real tensors
        in the ``[Re | Im]`` layout: one GEMM gives the drive's both parts (gamma folded into
        [B_re | B_im]), one reads out Re(x C) = [Re x | Im x] @ [C_re; -C_im]."""
        lam_re, lam_im = self.lambda_parts()
        gamma = torch.exp(self.gamma_log)
        w_in = torch.cat([self.B_re * gamma, self.B_im * gamma], dim=1)  # (H, 2N)
        w_out = torch.cat([self.C_re, -self.C_im], dim=0)  # (2N, H)
        method = self.method or default_method(u.device)
        return LRUSequence.apply(u, w_in, w_out, self.D, lam_re, lam_im, x0, method)

    def forward_stepwise(self, u: torch.Tensor, x0: torch.Tensor | None = None):
        """``forward`` by a Python loop over ``step`` (reference for tests/benchmarks)."""
        x = self.initial_state(u.shape[0], u.device, u.dtype) if x0 is None else x0
        outputs = []
        for t in range(u.shape[1]):
            y, x = self.step(u[:, t], x)
            outputs.append(y)
        return torch.stack(outputs, dim=1), x


def _dense(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """Keras Dense(n_out): glorot_uniform kernel, zero bias."""
    linear = nn.Linear(n_in, n_out)
    with torch.no_grad():
        linear.weight.copy_(glorot_uniform((n_in, n_out), generator).T)
        linear.bias.zero_()
    return linear


def _uniform_dropout_masks(*dropouts: nn.Module, like: torch.Tensor) -> tuple | None:
    """The keep masks (1 kept, 0 dropped) that the ``UniformDropout`` modules would draw for
    tensors like ``like``, in order (the same random numbers: ``keep_mask``), and their scales
    1 / (1 - p): (mask, ..., scale, ...). None unless every one is a UniformDropout that
    draws its mask (``draws_uniform``: training on the CPU). ``GatedTail`` folds the scales into small factors, which spares a
    pass over each mask."""
    for dropout in dropouts:
        if not (isinstance(dropout, UniformDropout) and dropout.draws_uniform(like)):
            return None
    masks = tuple(d.keep_mask(like) for d in dropouts)
    return masks + tuple(1 / (1 - d.p) for d in dropouts)


class GatedTail(torch.autograd.Function):
    """``ResLRUBlock``'s tail in one node: h = m1 gelu(y) / (1 - p1); [a | b] = h [W1; W3]^T
    + [b1; b3] (one GEMM); out = adapted + m2 sigmoid(a) b / (1 - p2), with m1, m2 the 0/1
    dropout masks. The elementwise steps run in place on this node's own tensors (autograd
    gave each one a new tensor as large as y, forward and backward: 8 each way, here 3 and
    2), the dropout scales ride on the weights, the addcmul and the small gradients (not on
    the masks), and the backward's GEMMs take the two Dense layers at once. Inputs: y,
    weight (2H, H), bias (2H,), adapted, mask_1, mask_2 (as y), scale_1, scale_2; output: out."""

    @staticmethod
    def forward(ctx, y, weight, bias, adapted, mask_1, mask_2, scale_1, scale_2):
        width = y.shape[-1]
        y = y.contiguous()
        h = F.gelu(y).mul_(mask_1)  # the dropout's output / scale_1
        gates = torch.addmm(bias, h.view(-1, width), weight.T, alpha=scale_1)  # [a | b]
        sig, lin = gates[:, :width].sigmoid_(), gates[:, width:].mul_(mask_2.view(-1, width))
        out = torch.addcmul(adapted, sig.view(y.shape), lin.view(y.shape), value=scale_2)
        ctx.scales = scale_1, scale_2
        ctx.save_for_backward(y, weight, h, gates, mask_1, mask_2)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        y, weight, h, gates, mask_1, mask_2 = ctx.saved_tensors
        scale_1, scale_2 = ctx.scales
        width = y.shape[-1]
        flat = grad_out.contiguous().view(-1, width)
        sig, lin = gates[:, :width], gates[:, width:]  # sigmoid(a), m2 b
        grad_gates = torch.empty_like(gates)  # the gates' gradient / scale_2
        grad_a, grad_b = grad_gates[:, :width], grad_gates[:, width:]
        torch.mul(flat, lin, out=grad_a)
        torch.ops.aten.sigmoid_backward.grad_input(grad_a, sig, grad_input=grad_a)
        torch.mul(flat, mask_2.view(-1, width), out=grad_b).mul_(sig)
        grad_h = torch.mm(grad_gates, weight * (scale_1 * scale_2)).mul_(mask_1.view(-1, width))
        grad_y = torch.ops.aten.gelu_backward.grad_input(grad_h, y.view(-1, width), approximate="none",
                                                        grad_input=grad_h)
        grad_weight = torch.mm(grad_gates.T, h.view(-1, width)).mul_(scale_1 * scale_2)
        grad_bias = grad_gates.sum(dim=0).mul_(scale_2)
        return grad_y.view(y.shape), grad_weight, grad_bias, grad_out, None, None, None, None


class ResLRUBlock(nn.Module):
    """``ResLRUFFN(H)``: a = adapter(x) (Dense only if in_dim != H); u = LayerNorm(a);
    y = Dropout(GELU(LRU(u))); y = Dropout(sigmoid(W1 y + b1) * (W3 y + b3)); out = y + a."""

    def __init__(self, n_in: int, n: int, generator: torch.Generator, dropout: float = 0.1):
        super().__init__()
        self.n = n
        self.lru = LRU(n, generator)
        self.norm = nn.LayerNorm(n, eps=LAYER_NORM_EPS)
        self.w_1 = _dense(n, n, generator)
        self.w_3 = _dense(n, n, generator)
        self.adapter = _dense(n_in, n, generator) if n_in != n else None
        self.dropout_1 = UniformDropout(dropout)
        self.dropout_2 = UniformDropout(dropout)

    def initial_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        return (self.lru.initial_state(batch, device, dtype),)

    def _head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        adapted = x if self.adapter is None else self.adapter(x)
        return adapted, self.norm(adapted)

    def _tail(self, y: torch.Tensor, adapted: torch.Tensor) -> torch.Tensor:
        y = self.dropout_1(F.gelu(y))
        y = torch.sigmoid(self.w_1(y)) * self.w_3(y)
        return self.dropout_2(y) + adapted

    def step(self, x_t: torch.Tensor, state: State):
        """One step: x_t (..., n_in), state (x,) -> (out_t, (x_new,))."""
        adapted, u = self._head(x_t)
        y, x_new = self.lru.step(u, state[0])
        return self._tail(y, adapted), (x_new,)

    def forward(self, x: torch.Tensor, state: State | None = None):
        adapted, u = self._head(x)
        y, x_last = self.lru(u, None if state is None else state[0])
        masks = _uniform_dropout_masks(self.dropout_1, self.dropout_2, like=y)
        if masks is None:  # evaluation, no dropout, another device: the modules in turn
            return self._tail(y, adapted), (x_last,)
        weight = torch.cat([self.w_1.weight, self.w_3.weight])
        bias = torch.cat([self.w_1.bias, self.w_3.bias])
        return GatedTail.apply(y, weight, bias, adapted, *masks), (x_last,)


class ResLRUNet(SequenceStack):
    """embedding -> (Dropout -> ResLRUBlock) x ``depth`` -> readout at every step.
    ``forward(x, state) -> (logits (B, T, C), final state)``; the state is one ``(x,)``
    per block (x the LRU's final [Re, Im] state), None meaning zeros."""

    def __init__(self, depth: int, width: int, dims: dict, seed: int, dropout: float = 0.1,
                 block_dropout: float = 0.1, readout: str = "tied"):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.depth, self.width = depth, width
        self.language = "vocab_size" in dims
        self.num_classes = dims["num_classes"]
        tied = self.language and readout == "tied"
        if tied and dims["num_classes"] != dims["vocab_size"]:
            raise ValueError("the tied readout needs num_classes == vocab_size, got "
                             f"{dims['num_classes']} and {dims['vocab_size']}")
        if self.language:
            self.embedding = nn.Parameter(glorot_uniform((dims["vocab_size"], width), generator))
            n_in = width
        else:
            self.embedding = None
            n_in = dims["in_features"]
        self.layers = nn.ModuleList()
        for _ in range(depth):
            self.layers.append(ResLRUBlock(n_in, width, generator, block_dropout))
            n_in = width
        self.dropout = UniformDropout(dropout)
        self.dense_readout = None if tied else _dense(width, self.num_classes, generator)

    def layer_input(self, h: torch.Tensor) -> torch.Tensor:
        return self.dropout(h)  # before each block, as stable_spike's full model

    @torch.no_grad()
    def reinitialise_embedding(self, generator: torch.Generator) -> None:
        """What the reference's LSC save path does (``equivalence_and_save``): a fresh
        Keras ``Embedding`` (U(-0.05, 0.05)) and, without ``embproj``, a fresh Dense
        readout replace the trained model's."""
        if self.embedding is not None:
            fresh = torch.empty(self.embedding.shape).uniform_(-0.05, 0.05, generator=generator)
            self.embedding.copy_(fresh.to(self.embedding.device))
        if self.dense_readout is not None:
            fresh = _dense(self.width, self.num_classes, generator)
            self.dense_readout.load_state_dict(fresh.to(self.dense_readout.weight.device).state_dict())



def build(config: dict, dims: dict, seed: int) -> ResLRUNet:
    """From the model config (depth, width, dropout) and the task's sizes."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown lru config key(s) {', '.join(map(repr, unknown))}; "
                         f"valid keys: {', '.join(CONFIG_KEYS)}")
    for key in ("depth", "width"):
        if key not in config:
            raise ValueError(f"lru config needs {key!r}")
    depth, width = config["depth"], config["width"]
    if not (isinstance(depth, int) and depth >= 1 and isinstance(width, int) and width >= 1):
        raise ValueError(f"lru depth and width must be positive integers, got {depth!r}, {width!r}")
    rates = {key: float(config.get(key, 0.1)) for key in ("dropout", "block_dropout")}
    for key, rate in rates.items():
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"lru {key} must be in [0, 1), got {rate}")
    readout = config.get("readout", "tied")
    if readout not in READOUTS:
        raise ValueError(f"lru readout must be one of {READOUTS} (tied: the reference's embproj), "
                         f"got {readout!r}")
    return ResLRUNet(depth, width, dims, seed, readout=readout, **rates)
