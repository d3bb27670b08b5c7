"""Per-sample Jacobians (torch.func, batched) and their spectral radii.

The LSC loss needs rho(J) = max |eig(J)| for every sample of a batch and its gradient
with respect to the weights. Two ways to get it:

``eig``   torch.linalg.eigvals on the whole batch: exact, what the reference does, and
          slow: about 10 ms per 128x128 matrix on a 2-core CPU, plus its backward.
``ritz``  (default) a dominant-subspace method. Without autograd, repeated squaring
          J^(2^m) (rescaled at every step) exposes the dominant right and left invariant
          subspaces and, by Gelfand's formula, an estimate of rho. A two-sided
          (oblique) Rayleigh-Ritz projection of J onto those subspaces gives a small
          p x p matrix whose eigenvalues are eigenvalues of J; its eigvals are
          differentiable, and because the projection is two-sided the gradient is the
          exact eigenvalue gradient u^H dJ v / u^H v. Only batched matmuls, QR of n x p
          blocks and p x p eigensolves, so it is several times faster than ``eig``.
          The radius is the largest converged Ritz value not above the Gelfand bound.
          A sample whose Ritz values fail the residual test (ring spectra) gets one
          shifted inverse iteration from its largest Ritz value (one real LU of
          (J - sI)(J - conj(s)I) from the kept J^2 where s lies off the real axis, else
          one or two complex LUs of J - sI); the eigenpair it finds is kept if it
          converged, lies in the Gelfand window and carries J^(2^12) nearly alone.
          Other samples (near-equal moduli the rank cannot separate, about 0.1% of
          samples of fresh nets) go to the exact path
          (``exact_radius``): eigenvalues only, the gradient from the dominant
          eigenvalue's left and right eigenvectors by inverse iteration, not from the
          backward of a full eig.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch.func import jacrev, vmap

RadiusMethod = Literal["eig", "ritz"]
SquaringPrecision = Literal["auto", "float32", "bfloat16"]
# the fallback's gradient: from the dominant eigenvectors, or eigvals' own (a full eig)
ExactGradient = Literal["eigenvectors", "eig"]
_TINY = 1e-30
# ||a||_F below which the squarings divide a by its norm: a squaring shrinks it to no less
# than rho(a)^2, so from 1e-8 the entries stay far above float32's smallest normal (1e-38)
_RESCALE_BELOW = 1e-8


def batched_jacobian(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """Jacobians d fn(x_b) / d x_b for every row x_b of ``inputs``: shape (B, out, in).

    ``fn`` maps one sample (in,) to (out,). Parameters that ``fn`` closes over keep
    their autograd graph, so a loss on the result back-propagates into them.
    """
    return vmap(jacrev(fn))(inputs)


def square_block(jac: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Cut a (B, m, n) Jacobian to a random square (B, k, k) block, k = min(m, n).

    The spectral radius needs a square matrix; the reference takes a random subset of
    the longer axis, kept in its original order.
    """
    m, n = jac.shape[-2:]
    if m == n:
        return jac
    k = min(m, n)
    keep = torch.randperm(max(m, n), generator=generator, device=jac.device)[:k].sort().values
    return jac[..., keep, :] if m > n else jac[..., :, keep]


# The early check: after _CHECK_AFTER squarings, the share of a = J^(2^k) that a rank-p
# probe basis captures, and its growth over the squaring before, extrapolated to the last
# squaring, give how many directions would still share the dominant subspace then
# (_leftover). Measured on real Jacobians after 3 squarings: at most 19 on 3 x 1,044 fresh
# 128-wide FFN blocks and on PTB LSTM, GRU and rsimplernn (depth 5) and ssimplernn (depth
# 2, widths 260-1300) blocks that the Ritz check later trusts; 600 on the ring spectra of
# the 1300-wide ssimplernn rec Jacobians (sigmoid slopes nearly constant times an
# orthogonal matrix) and 1,200 on the 2600-wide maLSNN ones.
_CHECK_AFTER = 3
_LEFTOVER_LIMIT = 100.0


# The squarings after this many run in bfloat16 where low precision pays. bfloat16's
# rounding of J^(2^m) moves J's eigenvalues by at most 2^-8 / 2^m relative, so rounding every
# power from J^(2^k) on moves them by 2^-7 / 2^k: 4.9e-4 after 4 float32 squarings, below the
# 1.0e-3 gap between the two largest moduli of the 1300-wide ssimplernn rings (the least of
# 3 x 32 samples). After 3 (9.8e-4, the gap itself) 2 of those 3 batches sent a sample to eigvals.
LOW_PRECISION_FROM = 4
# Squarings of at least this size are worth bfloat16 (where the hardware has fast bfloat16
# products): below it they are a small part of the LSC step.
_LOW_PRECISION_SIZE = 512


def low_precision_pays(jac: torch.Tensor) -> bool:
    """Whether "auto" squares in bfloat16: float32 matrices of at least _LOW_PRECISION_SIZE
    rows on hardware whose bfloat16 products run at least twice as fast as float32's, one
    thread at n = 1300: a CPU with AMX tiles (6x) or AVX512-BF16 (2.2-2.7x), a CUDA device
    with bfloat16. Elsewhere bfloat16 products are emulated, slower than float32's."""
    if jac.dtype != torch.float32 or jac.shape[-1] < _LOW_PRECISION_SIZE:
        return False
    if jac.device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return jac.device.type == "cpu" and (torch.cpu._is_amx_tile_supported()
                                         or torch.cpu._is_avx512_bf16_supported())


def thin_product(matrix: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """matrix @ block for a (K, n, n) batch and a thin (n, p) or (K, n, p) block, as (block^T
    matrix^T)^T: MKL's batched GEMM with p = 2-4 columns reads the matrices at a half to a
    fifth of the speed it does with p rows (16 x 1300^2 float32, one thread: 55-57 ms a
    product on column-major matrices, as the LSC's Jacobians come, 33 on row-major ones,
    against 11-19 ms either way, about the memory floor)."""
    return (block.mT @ matrix.mT).mT


def _captured(a: torch.Tensor, probe: torch.Tensor) -> torch.Tensor:
    """Share of ||a||_F^2 in the span of a @ probe: near 1 once a is dominated by rank p."""
    basis = torch.linalg.qr(thin_product(a, probe)).Q
    return (basis.mT @ a).square().sum((-2, -1)) / a.square().sum((-2, -1)).clamp_min(_TINY)


def _leftover(before: torch.Tensor, now: torch.Tensor, rank: int, remaining: int) -> torch.Tensor:
    """Directions sharing the dominant subspace after ``remaining`` more squarings, if the
    captured share keeps growing by the factor it grew in the last one."""
    growth = (now / before.clamp_min(_TINY)).clamp_min(1.0)
    return rank / now.clamp_min(_TINY) / growth ** remaining


def _squarings(a: torch.Tensor, log_scale: torch.Tensor, steps: int, spare: torch.Tensor):
    """``steps`` squarings of a = J^(2^k) / exp(log_scale), each into the other buffer: (a,
    log_scale, ||a||_F, the spare buffer). Two buffers: a fresh 32 MB result per squaring
    (batch 512, n = 128) cost as much again as the products, in page faults."""
    norm = torch.ones_like(log_scale)
    for _ in range(steps):
        a, spare = torch.matmul(a, a, out=spare), a
        a, log_scale, norm = _rescaled(a, 2 * log_scale)
    return a, log_scale, norm, spare


def _rescaled(a: torch.Tensor, log_scale: torch.Tensor):
    """(a, log_scale, ||a||_F) after a squaring. Once ||a||_F <= 1, squaring cannot overflow
    (||a a|| <= ||a||^2), so a is divided by its norm (in place) only when it would
    underflow soon: the division is a third of a squaring's time, the norm a tenth of it.
    The scale stays float32 (or float64) when a is bfloat16."""
    # in a's dtype: a bfloat16 norm (or division) by a float32 one costs half a squaring
    own = torch.linalg.matrix_norm(a)
    norm = own.to(log_scale.dtype)
    if not bool((norm > _RESCALE_BELOW).all()):
        # a is divided by the very (rounded) value added to the scale: no error enters
        own = own.clamp_min(_TINY)
        log_scale = log_scale + own.to(log_scale.dtype).log()
        a.div_(own[:, None, None])
        norm = torch.ones_like(norm)
    return a, log_scale, norm


def _square_in_layout(a: torch.Tensor) -> torch.Tensor:
    """a @ a in a's memory layout: jacrev's Jacobians come column-major, and the real LU
    (_real_lu) adds J^2 to J without a transposing copy (11 ms a 1300-wide sample)."""
    if a.mT.is_contiguous() and not a.is_contiguous():
        return torch.matmul(a.mT, a.mT).mT
    return torch.matmul(a, a)


def _separating(a, log_scale, probe, squarings: int, spare, done: int):
    """The squarings up to _CHECK_AFTER (``done`` of them done) and the early check: (a,
    log_scale, norm, spare, whether each sample's spectrum is expected to separate by the
    last squaring)."""
    a, log_scale, _, spare = _squarings(a, log_scale, _CHECK_AFTER - 1 - done, spare)
    before = _captured(a, probe)
    a, log_scale, norm, spare = _squarings(a, log_scale, 1, spare)
    rank = probe.shape[-1]
    leftover = _leftover(before, _captured(a, probe), rank, squarings - _CHECK_AFTER)
    return a, log_scale, norm, spare, leftover <= _LEFTOVER_LIMIT


@torch.no_grad()
def _dominant_subspaces(jac: torch.Tensor, squarings: int, rank: int, generator,
                        check: bool = True, low_precision: bool = False):
    """Orthonormal bases (K, n, p) of the dominant right and left invariant subspaces, the
    Gelfand estimate of the spectral radius from J^(2^squarings), the indices (K,) of
    the samples they belong to (with ``check``, those whose spectrum the early check
    expects to separate: the others' squarings are skipped), J^(2^squarings) itself,
    scaled (K, n, n), and J^2 (K, n, n), from the first squaring, in J's precision
    (for _real_eigenvectors). With ``low_precision`` the squarings from LOW_PRECISION_FROM on run
    in bfloat16 (from a contiguous copy: jacrev's Jacobians come transposed in memory,
    where bfloat16 products leave oneDNN's kernels for a loop 100x slower)."""
    a = jac if jac.dtype == torch.float64 else jac.float()
    probe = torch.randn(a.shape[-1], rank, generator=generator, dtype=a.dtype, device=a.device)
    kept = torch.arange(len(a), device=a.device)
    norm = torch.linalg.matrix_norm(a).clamp_min(_TINY)
    log_scale = norm.log()
    a = torch.div(a, norm[:, None, None])
    # J^2 = square * exp(square_log_scale), kept for the real LU (_real_lu): the second squaring
    # writes into J's scaled copy, the later ones alternate that buffer with a fresh one
    square, log_scale, norm = _rescaled(_square_in_layout(a), 2 * log_scale)
    square_log_scale, done = log_scale, 1
    if squarings > 1:
        a, log_scale, norm, _ = _squarings(square, log_scale, 1, a)
        spare, done = torch.empty_like(a), 2
    else:
        a, spare = square.clone(), a
    if check and squarings > _CHECK_AFTER:
        a, log_scale, norm, spare, separating = _separating(a, log_scale, probe, squarings, spare,
                                                            done)
        done = _CHECK_AFTER
        if not bool(separating.all()):
            a, log_scale, kept, square, square_log_scale = (
                t[separating] for t in (a, log_scale, kept, square, square_log_scale))
            spare = torch.empty_like(a)
    in_full = min(LOW_PRECISION_FROM, squarings) if low_precision else squarings
    a, log_scale, norm, spare = _squarings(a, log_scale, max(in_full - done, 0), spare)
    if in_full < squarings:
        a = a.to(torch.bfloat16, memory_format=torch.contiguous_format)
        a, log_scale, norm, _ = _squarings(a, log_scale, squarings - max(in_full, done),
                                           torch.empty_like(a))
        a = a.to(log_scale.dtype)
    gelfand = torch.exp((log_scale + norm.clamp_min(_TINY).log()) / 2**squarings)
    right = torch.linalg.qr(thin_product(a, probe)).Q
    # x^T A, not A^T x: the transposed product of a batched matrix by a thin block runs at
    # a tenth of the speed (57 vs 5 ms at B = 8, n = 1024) on CPU.
    left = torch.linalg.qr((probe.mT @ a).mT).Q
    square = square.mul_(square_log_scale.exp()[:, None, None]).to(jac.dtype)
    return right, left, gelfand, kept, a, square


@torch.no_grad()
def _refine(jac: torch.Tensor, right: torch.Tensor, left: torch.Tensor, refine: int):
    """A few subspace iterations in ``jac``'s precision remove the rounding that squaring
    leaves in the bases; the eigenvalue gradient needs both bases accurate."""
    right, left = right.to(jac.dtype), left.to(jac.dtype)
    for _ in range(refine):
        right = torch.linalg.qr(thin_product(jac, right)).Q
        left = torch.linalg.qr((left.mT @ jac).mT).Q
    return right, left


# A Ritz pair whose residual ||J x - theta x|| exceeds this (relative to rho) has not
# converged: spurious values from directions that squaring nearly wiped out sit far above.
_RESIDUAL_TOL = 1e-2
# A trusted Ritz pair whose residual (relative to rho) exceeds this has vectors, and so a
# gradient, about as far off: 2.5e-4 and 7.3e-4 of the gradient's largest entry on the PTB
# ssimplernn's 1300-wide rings, up to 1.1e-3 and 1.5e-3 on fresh 128-wide ReLU FFN blocks,
# against 1e-6 at float32's floor; the float32 path confirms those by inverse iteration.
_SETTLED = 1e-5
# No eigenvalue exceeds the Gelfand bound ||J^k||_F^(1/k); the slack only covers rounding.
_ABOVE_GELFAND = 1e-5
# The bound overestimates rho by < 1e-3 at 12 squarings (measured on 15,660 fresh depth-30
# Jacobians), so a pick further below it than this may be a non-dominant eigenvalue.
_BELOW_GELFAND = 9e-4


@torch.no_grad()
def _pick_ritz(moduli: torch.Tensor, vectors: torch.Tensor, residual_basis: torch.Tensor,
               gelfand: torch.Tensor):
    """Index of the dominant Ritz value of each sample, whether it can be trusted, the
    index of the largest Ritz value not above the Gelfand bound, converged or not (the
    shift that _refined_radius starts from where the residual test fails), and whether the
    pick's residual is below _SETTLED.

    ``residual_basis`` is J V - V T for the right basis V and projected matrix T, so the
    residual of the pair (theta, V y) is ||(J V - V T) y|| (V orthonormal, ||y|| = 1).
    """
    residual = (residual_basis.to(vectors.dtype) @ vectors).norm(dim=-2) / gelfand[:, None]
    below = moduli <= gelfand[:, None] * (1 + _ABOVE_GELFAND)
    candidate = (residual < _RESIDUAL_TOL) & below
    # Near-equal moduli leave several converged values close to the Gelfand estimate; the
    # closest one need not be the dominant one, the largest one is.
    pick = torch.where(candidate, moduli, -1.0).argmax(dim=-1)
    picked = moduli.gather(-1, pick[:, None]).squeeze(-1)
    trusted = candidate.any(dim=-1) & (picked >= gelfand * (1 - _BELOW_GELFAND))
    settled = residual.gather(-1, pick[:, None]).squeeze(-1) <= _SETTLED
    return pick, trusted, torch.where(below, moduli, -1.0).argmax(dim=-1), settled


def spectral_radius(
    jac: torch.Tensor,
    method: RadiusMethod = "ritz",
    *,
    squarings: int = 12,
    rank: int = 4,
    refine: int = 4,
    generator: torch.Generator | None = None,
    early_exit: bool = False,
    exact_gradient: ExactGradient = "eigenvectors",
    rescue: bool = True,
    squaring_precision: SquaringPrecision = "auto",
) -> torch.Tensor:
    """Spectral radius of each square matrix in a (B, n, n) batch; differentiable.

    ``early_exit=False, exact_gradient="eig", rescue=False, squaring_precision="float32"``
    is the former "ritz" path (every sample squared 12 times in float32; no
    inverse-iteration rescue; the fallback's gradient from the backward of a full eig),
    kept to time against. ``squaring_precision``: "bfloat16" runs the squarings from
    LOW_PRECISION_FROM on in bfloat16 and takes every sample's radius and gradient from
    inverse iteration on J (_confirmed for the samples the Ritz check trusts, the rescue
    for the others); "auto" (the default) does so where the hardware makes it faster
    (low_precision_pays); "float32" never does, and confirms by inverse iteration only the
    trusted samples whose Ritz pair has not settled (_SETTLED)."""
    if jac.shape[-1] != jac.shape[-2]:
        raise ValueError(f"spectral_radius needs square matrices, got shape {tuple(jac.shape)}")
    if squarings < 1:
        raise ValueError(f"spectral_radius needs at least one squaring, got squarings={squarings}")
    if method == "eig":
        return torch.linalg.eigvals(jac).abs().amax(dim=-1)
    if method != "ritz":
        raise ValueError(f"unknown radius method {method!r}; use 'eig' or 'ritz'")
    if exact_gradient not in ("eigenvectors", "eig"):
        raise ValueError(f"unknown exact_gradient {exact_gradient!r}; use 'eigenvectors' or 'eig'")
    if squaring_precision not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"unknown squaring_precision {squaring_precision!r}; use 'auto', "
                         "'float32' or 'bfloat16'")
    low = squaring_precision == "bfloat16" or (squaring_precision == "auto" and low_precision_pays(jac))
    rank = min(rank, jac.shape[-1])
    right, left, gelfand, kept, power, square = _dominant_subspaces(
        jac.detach(), squarings, rank, generator, check=early_exit, low_precision=low)
    # bfloat16's rounding leaves the Ritz vectors about 1e-3 off (the gradient 1% off): there
    # the Ritz value is only the shift (no graph), the radius and its gradient come from
    # inverse iteration on J itself (_confirmed, or the rescue)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not low):
        radius, trusted, shift, bound, settled = _ritz_radius(jac, right, left, gelfand, kept,
                                                              refine, precise=not low)
    if low or rescue:
        # bfloat16: every trusted sample; float32: those whose Ritz pair has not settled
        confirm = trusted if low else trusted & ~settled
        radius, trusted = _confirmed(jac, radius, trusted, confirm, shift, bound, square, kept)
        radius, trusted = _rescued(jac, radius, trusted, shift, bound, (power, square), kept)
    # The samples the early check gave up on, those whose projection is unusable or whose
    # subspaces missed the dominant eigenvalue (too many near-equal moduli for the rank) go
    # through the exact eigensolver instead.
    exact = (~trusted).nonzero().squeeze(1)
    if len(exact):
        radius = radius.clone()
        radius[exact] = exact_radius(jac[exact], exact_gradient)
    return radius


def _ritz_radius(jac, right, left, gelfand, kept, refine: int, precise: bool = True):
    """The dominant Ritz value's modulus of every sample in ``kept``, whether it can be
    trusted, the largest Ritz value below the Gelfand bound (complex; NaN where the
    projection is unusable), the bound and whether the pick's residual is below _SETTLED,
    as (B,) tensors (samples not kept: 0, untrusted, NaN, 0, unsettled). ``precise``: the
    projection in float64, where its vectors give the gradient (it is cheap, B n^2 p, and
    float32 loses the gradient when the coupling between the two subspaces is poorly
    conditioned); else, the Ritz value only a shift, in ``jac``'s precision."""
    whole = len(kept) == len(jac)
    matrices = _take(jac, kept).to(torch.float64 if precise else jac.dtype)
    right, left = _refine(matrices.detach(), right, left, refine)
    jac_right = thin_product(matrices, right)
    projected = torch.linalg.solve_ex(left.mT @ right, left.mT @ jac_right).result
    # A (near) singular coupling, e.g. a rank-deficient ReLU Jacobian, leaves no usable
    # projection; non-finite Jacobians (a diverged net) neither.
    usable = projected.isfinite().flatten(1).all(dim=1) & (gelfand > 0)
    eye = torch.eye(right.shape[-1], dtype=projected.dtype, device=projected.device)
    values, vectors = torch.linalg.eig(torch.where(usable[:, None, None], projected,
                                                   eye.expand_as(projected)))
    moduli = values.abs()
    pick, trusted, loose, settled = _pick_ritz(moduli.detach(), vectors.detach(),
                                      (jac_right - right @ projected).detach(), gelfand.double())
    radius = moduli.gather(-1, pick[:, None]).squeeze(-1).to(jac.dtype)
    trusted = usable & trusted
    # the shift: the pick where it is trusted (_confirmed), else the largest below the bound
    shift = values.detach().gather(-1, torch.where(trusted, pick, loose)[:, None]).squeeze(-1)
    shift = shift.to(_complex(jac.dtype))
    shift = torch.where(usable, shift, torch.full_like(shift, float("nan")))
    if whole:
        return radius, trusted, shift, gelfand.to(jac.dtype), settled
    zeros = torch.zeros(len(jac), dtype=radius.dtype, device=radius.device)
    return (zeros.index_copy(0, kept, radius),
            torch.zeros_like(zeros, dtype=torch.bool).index_copy(0, kept, trusted),
            torch.full_like(zeros, float("nan"), dtype=shift.dtype).index_copy(0, kept, shift),
            zeros.index_copy(0, kept, gelfand.to(zeros.dtype)),
            torch.zeros_like(zeros, dtype=torch.bool).index_copy(0, kept, settled))


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


# A refined eigenpair is converged when both residuals, ||J v - lam v|| and
# ||J^T u - conj(lam) u|| (unit u, v), are below this share of |lam|: float32's rounding
# leaves about 1e-6 on 1300-wide Jacobians; an unconverged pair is far above.
_REFINED_TOL = 1e-4
# Solves from the Ritz shift, before the Rayleigh quotient's shift takes over.
_REFINE_ITERATIONS = 4


def _rayleigh(jac: torch.Tensor, right: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """The two-sided Rayleigh quotient u^H J v / u^H v of each sample."""
    return (left.conj() * _times(jac, right)).sum(-1) / (left.conj() * right).sum(-1)


def _residual(jac, right, left, value, jac_right=None) -> torch.Tensor:
    """max(||J v - lam v||, ||J^T u - conj(lam) u||) of each sample (unit u, v); ``jac_right``:
    J v where the caller has it."""
    jac_right = _times(jac, right) if jac_right is None else jac_right
    return torch.maximum((jac_right - value[:, None] * right).norm(dim=-1),
                         (_times(jac.mT, left) - value.conj()[:, None] * left).norm(dim=-1))


# A pair whose residual is within this factor of the rounding floor (eps ||J||_F) needs no
# second shift: on the 1300-wide rings the Ritz shift's 4 solves reach the floor (8e-7 of
# |lam| in float32), as the second shift's would.
_AT_FLOOR = 10.0


@torch.no_grad()
def _inverse_iteration(jac: torch.Tensor, shift: torch.Tensor, square: torch.Tensor):
    """Right and left eigenvectors for the eigenvalue nearest each Ritz ``shift``. Where the
    shift lies off the real axis, 4 solves in real arithmetic from J^2 (``square``,
    _real_eigenvectors) first; the samples whose pair they leave above the rounding floor,
    and those near the axis, take the complex LU (_complex_inverse_iteration)."""
    floor = _AT_FLOOR * torch.finfo(jac.dtype).eps * torch.linalg.matrix_norm(jac)
    right = torch.empty(jac.shape[:-1], dtype=shift.dtype, device=jac.device)
    left = torch.empty_like(right)
    rest = torch.ones(len(jac), dtype=torch.bool, device=jac.device)
    real = (shift.imag.abs() >= _REAL_FROM * shift.abs()).nonzero().squeeze(1)
    if len(real):
        matrices = _take(jac, real)
        real_right, real_left = _real_eigenvectors(matrices, _take(square, real), shift[real])
        right[real], left[real] = real_right, real_left
        value = _rayleigh(matrices, real_right, real_left)
        rest[real] = _residual(matrices, real_right, real_left, value) > floor[real]
    rest = rest.nonzero().squeeze(1)
    if len(rest):
        right[rest], left[rest] = _complex_inverse_iteration(_take(jac, rest), shift[rest],
                                                             floor[rest])
    return right, left


def _complex_inverse_iteration(jac: torch.Tensor, shift: torch.Tensor, floor: torch.Tensor):
    """4 complex solves with each ``shift``, then, where the pair is not yet at the rounding
    ``floor``, 3 more with its Rayleigh quotient as the shift (one more LU): the gradient
    needs the eigenvectors, which converge only linearly in the shift's distance to lam
    over the next eigenvalue's."""
    right, left = _dominant_eigenvectors(jac, shift, _REFINE_ITERATIONS)
    value = _rayleigh(jac, right, left)
    again = (_residual(jac, right, left, value) > floor).nonzero().squeeze(1)
    if len(again):
        right, left = right.clone(), left.clone()
        right[again], left[again] = _dominant_eigenvectors(
            jac[again], value[again], _INVERSE_ITERATIONS, start=(right[again], left[again]))
    return right, left


# Inverse iteration tries real arithmetic first (_real_eigenvectors) where the shift's
# imaginary part is at least this share of its modulus. Nearer the axis M = (J - s I)(J -
# conj(s) I) barely separates lam from conj(lam)'s neighbours (M's eigenvalues there are
# about (mu - s) 2 Im(s)), and for a real shift it is (J - s I)^2.
_REAL_FROM = 0.1


def _take(batch: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """batch[rows] for sorted distinct ``rows``; where they are all of the batch, the batch
    itself: indexing copies it (108 MB at 16 x 1300^2 float32) and its backward scatters
    the gradient into zeros of that size."""
    return batch if len(rows) == len(batch) else batch[rows]


def _kept_rows(kept: torch.Tensor, rows: torch.Tensor, batch: int) -> torch.Tensor:
    """Where the batch's ``rows`` sit among the ``kept`` samples (sorted indices), whose
    powers the squarings returned."""
    return rows if len(kept) == batch else torch.searchsorted(kept, rows)


def _rescued(jac, radius, trusted, shift, bound, powers, kept):
    """Radii and trust after giving each untrusted sample with a usable projection one
    shifted inverse iteration from its largest Ritz value (_refined_radius): a Ritz value
    can fail the residual test on a ring spectrum (no gap for the squarings to open)
    while sitting within about 1e-4 of the dominant eigenvalue. ``powers``: J^(2^12) and
    J^2 of the samples in ``kept``."""
    retry = (~trusted & shift.isfinite()).nonzero().squeeze(1)
    if not len(retry):
        return radius, trusted
    rows = _kept_rows(kept, retry, len(jac))
    refined, converged = _refined_radius(_take(jac, retry), shift[retry], bound[retry],
                                         *(_take(t, rows) for t in powers))
    rescued = retry[converged]
    radius, trusted = radius.clone(), trusted.clone()
    radius[rescued] = refined[converged]
    trusted[rescued] = True
    return radius, trusted


def _confirmed(jac, radius, trusted, confirm, shift, bound, square, kept):
    """Radii and trust after inverse iteration at the Ritz value of each trusted sample in
    ``confirm``, whose Ritz vectors are off (bfloat16 squarings leave them about 1e-3 off;
    an unsettled pair, _SETTLED, as far as its residual): its radius and gradient come from
    the eigenpair found, kept where it converged inside the same Gelfand window (the Ritz
    check has already vouched that the value is the dominant one); the others go to the
    rescue. ``square``: J^2 of the samples in ``kept``."""
    rows = confirm.nonzero().squeeze(1)
    if not len(rows):
        return radius, trusted
    squares = _take(square, _kept_rows(kept, rows, len(jac)))
    modulus, converged, _ = _inverse_radius(_take(jac, rows), shift[rows], bound[rows], squares)
    radius, trusted = radius.clone(), trusted.clone()
    radius[rows[converged]] = modulus[converged]
    trusted[rows[~converged]] = False
    return radius, trusted


def _inverse_radius(jac: torch.Tensor, shift: torch.Tensor, bound: torch.Tensor,
                    square: torch.Tensor):
    """|lam| of the eigenvalue nearest each ``shift`` by inverse iteration (one or two LUs
    per sample), differentiable like _eigenvector_radius; whether both residuals converged
    with |lam| inside the Gelfand window that a Ritz pick must meet; and (right, left, lam)."""
    right, left = _inverse_iteration(jac.detach(), shift, square)
    jac_right = _times(jac, right)
    rayleigh = (left.conj() * jac_right).sum(-1) / (left.conj() * right).sum(-1)
    with torch.no_grad():
        value = rayleigh.detach()
        modulus = value.abs()
        converged = ((_residual(jac.detach(), right, left, value, jac_right.detach()) <= _REFINED_TOL * modulus)
                     & (modulus >= bound * (1 - _BELOW_GELFAND))
                     & (modulus <= bound * (1 + _ABOVE_GELFAND)))
    return rayleigh.abs().to(jac.dtype), converged, (right, left, value)


def _refined_radius(jac: torch.Tensor, shift: torch.Tensor, bound: torch.Tensor,
                    power: torch.Tensor, square: torch.Tensor):
    """_inverse_radius's |lam| and whether it can be trusted: converged in the window, and
    lam (with its conjugate) carrying J^(2^12) (``power``) nearly alone, so that no
    eigenvalue of larger or near-equal modulus hides beside it."""
    modulus, converged, (right, left, value) = _inverse_radius(jac, shift, bound, square)
    with torch.no_grad():
        converged = converged & (_deflated_share(power, right, left, value) <= _DEFLATED_SHARE)
    return modulus, converged


# The share of ||J^m||_F (m = 2^12) left outside lam's spectral projector. Another
# eigenvalue mu keeps about (|mu| / |lam|)^m of it: 0.1 lets through only |mu| below
# |lam| (1 - 5.6e-4); near-equal moduli (within 1e-4, tests/test_jacobians.py) leave 0.7.
_DEFLATED_SHARE = 0.1


@torch.no_grad()
def _deflated_share(power: torch.Tensor, right: torch.Tensor, left: torch.Tensor,
                    value: torch.Tensor) -> torch.Tensor:
    """||P - R||_F / ||P||_F for each power P = J^m and R = P E, E the spectral projector of
    the eigenvalue (v u^H / u^H v), plus its conjugate's for a complex eigenvalue: R = f
    Re(w u^H), w = P v / u^H v, f = 2 for a complex pair, else 1. In closed form, from two
    thin products instead of K dense n x n differences: ||P - R||^2 = ||P||^2 -
    2 f Re(w^T P conj(u)) + f^2 (||w||^2 ||u||^2 + Re(sum(w^2) sum(conj(u)^2))) / 2, in
    float64 (the difference cancels to 1e-2 of ||P||^2 at the threshold)."""
    w = _times(power, right) / (left.conj() * right).sum(-1)[:, None]  # P v / u^H v
    factor = (1 + (value.imag != 0).to(torch.float64))
    p_u = _times(power, left.conj()).to(torch.complex128)
    w, u = w.to(torch.complex128), left.to(torch.complex128)
    cross = (w * p_u).sum(-1).real
    r_squared = (w.abs().square().sum(-1) * u.abs().square().sum(-1)
                 + (w.square().sum(-1) * u.conj().square().sum(-1)).real) / 2
    p_squared = torch.linalg.vector_norm(power, dim=(-2, -1), dtype=torch.float64).square()
    deflated = (p_squared - 2 * factor * cross + factor.square() * r_squared).clamp_min(0)
    return (deflated / p_squared.clamp_min(_TINY)).sqrt().to(power.dtype)


def exact_radius(jac: torch.Tensor, gradient: ExactGradient = "eigenvectors") -> torch.Tensor:
    """max |eig(J)| of each (n, n) matrix of ``jac`` by LAPACK; NaN where J is not finite
    (LAPACK must not see inf/NaN). The gradient: ``eigenvectors`` from the dominant
    eigenvalue's left and right eigenvectors (_eigenvector_radius), ``eig`` from the
    backward of a full eig (eigvals' own)."""
    finite = jac.detach().isfinite().flatten(1).all(dim=1)
    radius = torch.full(finite.shape, float("nan"), dtype=jac.dtype, device=jac.device)
    rows = jac[finite]
    if gradient == "eig" or not rows.requires_grad:
        radius[finite] = torch.linalg.eigvals(rows).abs().amax(dim=-1)
    else:
        radius[finite] = _eigenvector_radius(rows)
    return radius


def _eigenvector_radius(jac: torch.Tensor) -> torch.Tensor:
    """max |eig(J)| from eigenvalues only; the gradient from the dominant eigenvalue lam's
    right and left eigenvectors v, u: d|lam| = Re(conj(lam)/|lam| u^H dJ v / u^H v).

    Of a complex-conjugate pair (equal moduli), the first LAPACK lists is taken: for a
    real J both give the same gradient. Distinct eigenvalues whose moduli tie exactly at
    the maximum (e.g. +r and -r) make the radius non-differentiable; there amax's
    backward averages their gradients, so those rows keep eigvals' own backward."""
    values = torch.linalg.eigvals(jac.detach())
    moduli = values.abs()
    radius = moduli.amax(dim=-1)
    pick = moduli.argmax(dim=-1)  # the first of exact ties
    dominant = values.gather(-1, pick[:, None]).squeeze(-1)
    ties = (moduli == radius[:, None]).sum(dim=-1)
    tied = (ties > 1 + (dominant.imag != 0).long()).nonzero().squeeze(1)
    right, left = _dominant_eigenvectors(jac.detach(), dominant)
    # u^H J v / u^H v with u, v held fixed equals lam, and its derivative in J is lam's
    rayleigh = (left.conj() * _times(jac, right)).sum(-1) / (left.conj() * right).sum(-1)
    radius = radius.to(jac.dtype) + (rayleigh.abs() - rayleigh.abs().detach())
    if len(tied):
        radius = radius.clone()
        radius[tied] = torch.linalg.eigvals(jac[tied]).abs().amax(dim=-1)
    return radius


def _times(jac: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """J v for a real (K, n, n) J and complex (K, n) v, differentiable in J."""
    parts = torch.stack([vectors.real, vectors.imag], dim=-1)
    product = thin_product(jac, parts)
    return torch.complex(product[..., 0], product[..., 1])


# Inverse iteration with the eigenvalue LAPACK returned as the shift gains a factor
# |lam - lam_computed| / (distance to the next eigenvalue) per solve: rounding over a
# spacing of 1e-3 rho (the 1300-wide rings) in float32, so three solves reach the precision.
_INVERSE_ITERATIONS = 3


@torch.no_grad()
def _dominant_eigenvectors(jac: torch.Tensor, dominant: torch.Tensor,
                           iterations: int = _INVERSE_ITERATIONS, start=None):
    """Right and left unit eigenvectors (K, n) of each J for the eigenvalue nearest
    ``dominant`` (the shift), by ``iterations`` solves of inverse iteration from
    ``start`` (right and left (K, n) vectors; by default one fixed vector)."""
    n = jac.shape[-1]
    if start is None:
        # a fixed start, no random draw: generically not orthogonal to any eigenvector
        fixed = torch.cos(torch.arange(n, device=jac.device, dtype=jac.dtype) * 2.39996)
        fixed = fixed.to(dominant.dtype).expand(len(jac), n)
        start = (fixed, fixed)
    rights, lefts = [], []
    # One matrix at a time: MKL's batched getrf on 2 threads fails (?LASWP parameter 6)
    for matrix, shift, right, left in zip(jac, dominant, *start):
        shifted = matrix.to(dominant.dtype, copy=True)
        shifted.diagonal().sub_(shift)  # J - shift I without an n x n identity (a fifth of the LU)
        lu, pivots, _ = torch.linalg.lu_factor_ex(shifted)
        _lift_zero_pivots(lu, torch.finfo(jac.dtype).eps * matrix.abs().max().clamp_min(_TINY))
        right, left = right[:, None], left[:, None]
        for _ in range(iterations):
            right = torch.linalg.lu_solve(lu, pivots, right)
            right = right / right.norm()
            left = torch.linalg.lu_solve(lu, pivots, left, adjoint=True)
            left = left / left.norm()
        rights.append(right[:, 0])
        lefts.append(left[:, 0])
    if not rights:
        empty = jac.new_zeros(0, n, dtype=dominant.dtype)
        return empty, empty
    return torch.stack(rights), torch.stack(lefts)


@torch.no_grad()
def _real_eigenvectors(jac: torch.Tensor, square: torch.Tensor, shift: torch.Tensor):
    """Right and left unit eigenvectors (K, n) for the eigenvalue nearest each complex
    ``shift`` s, by _REFINE_ITERATIONS solves in real arithmetic: M = J^2 - 2 Re(s) J +
    |s|^2 I = (J - s I)(J - conj(s) I) amplifies lam and conj(lam) alike, so two real
    vectors iterated with M^-1 (and M^-T) converge to their real invariant subspace, from
    which a 2 x 2 projection takes lam's eigenvector. M's LU is real, a quarter of the
    flops of J - s I's complex one (25 against 75-95 ms at n = 1300, float32, one thread);
    the last solve is refined once against M applied in float64 (_refined_solve), as the
    rounding of J^2 otherwise costs the gradient up to 50x the complex LU's error."""
    n = jac.shape[-1]
    # fixed starts, no random draw: generically not orthogonal to any eigenvector
    angle = torch.arange(n, device=jac.device, dtype=jac.dtype) * 2.39996
    start = torch.stack([angle.cos(), angle.sin()], dim=-1)
    rights, lefts = [], []
    for matrix, squared, value in zip(jac, square, shift):
        lu, pivots = _real_lu(matrix, squared, value)
        right, left = start, start
        for _ in range(_REFINE_ITERATIONS - 1):
            right = torch.linalg.qr(torch.linalg.lu_solve(lu, pivots, right)).Q
            left = torch.linalg.qr(torch.linalg.lu_solve(lu, pivots, left, adjoint=True)).Q
        precise = matrix.to(torch.float64)
        right = torch.linalg.qr(_refined_solve(lu, pivots, right, precise, value)).Q
        left = torch.linalg.qr(_refined_solve(lu, pivots, left, precise.mT, value, True)).Q
        rights.append(_nearest_eigenvector(matrix, right, value))
        lefts.append(_nearest_eigenvector(matrix.mT, left, value.conj()))
    if not rights:
        empty = jac.new_zeros(0, n, dtype=shift.dtype)
        return empty, empty
    return torch.stack(rights), torch.stack(lefts)


def _refined_solve(lu, pivots, rhs: torch.Tensor, precise: torch.Tensor, shift: torch.Tensor,
                   adjoint: bool = False) -> torch.Tensor:
    """M^-1 rhs (M^-T rhs with ``adjoint``) up to scale, from M's float32 LU and one step of
    iterative refinement against M = (J - s I)(J - conj(s) I) applied in float64 from J
    (``precise``, float64; J^T with ``adjoint``): M is nearly singular, so the solve is
    normalised and the residual taken against the right-hand side at its fitted scale."""
    solved = torch.linalg.lu_solve(lu, pivots, rhs, adjoint=adjoint)
    solved = (solved / solved.norm()).to(torch.float64)
    product = thin_product(precise, solved)
    applied = (thin_product(precise, product) - 2 * shift.real.double() * product
               + shift.abs().double() ** 2 * solved)
    target = rhs.to(torch.float64)
    scale = (target * applied).sum() / (target * target).sum()
    correction = torch.linalg.lu_solve(lu, pivots, (scale * target - applied).to(lu.dtype),
                                       adjoint=adjoint)
    return solved.to(lu.dtype) + correction


def _real_lu(matrix: torch.Tensor, squared: torch.Tensor, shift: torch.Tensor):
    """LU (with pivots) of M = J^2 - 2 Re(s) J + |s|^2 I, its zero pivots lifted to the
    rounding floor (lam exact in the working precision can leave one)."""
    # J^2 and J share a layout (_square_in_layout): M comes in it, and the LU copies it as is
    shifted = squared.addcmul(matrix, -2 * shift.real.to(matrix.dtype))
    shifted.diagonal().add_(shift.abs().square().to(matrix.dtype))
    lu, pivots, _ = torch.linalg.lu_factor_ex(shifted)
    _lift_zero_pivots(lu, torch.finfo(matrix.dtype).eps * lu.diagonal().abs().max().clamp_min(_TINY))
    return lu, pivots


def _lift_zero_pivots(lu: torch.Tensor, floor: torch.Tensor) -> None:
    """Raise the LU's pivots below the (positive) ``floor`` to it, in place: lam exact in the
    working precision can leave an exactly zero pivot."""
    pivot = lu.diagonal()
    pivot.copy_(torch.where(pivot.abs() < floor, floor.to(pivot.dtype), pivot))


def _nearest_eigenvector(matrix: torch.Tensor, basis: torch.Tensor, shift: torch.Tensor):
    """The unit eigenvector, within the span of the orthonormal (n, 2) ``basis``, of the
    eigenvalue of basis^T J basis nearest ``shift``."""
    values, vectors = torch.linalg.eig(basis.mT @ thin_product(matrix, basis))
    pick = (values - shift).abs().argmin(dim=-1, keepdim=True)
    vector = basis.to(vectors.dtype) @ vectors.index_select(-1, pick)[:, 0]
    return vector / vector.norm()
