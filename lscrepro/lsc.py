"""LSC pre-training of a dense stack: drive the spectral radius of the per-sample
Jacobian between consecutive layers towards a target (1 for feed-forward nets).

One step: pick a random block i, take a training batch through blocks < i without
gradient, compute the batch of Jacobians d h_{i+1} / d h_i (torch.func), their
spectral radii, and the loss mean((rho - target)^2); one AdaBelief+Lookahead step on
that block's weights. Then the reference's two heuristics, each by chance:
``rescale`` (its "wmultiplier") multiplies the block's kernel by target / rho clipped
to [0.85, 1.15], and ``shuffle`` (its "wshuff") permutes the entries of every weight.
A moving average of rho decides which weights are kept and when to stop.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .jacobians import RadiusMethod, batched_jacobian, spectral_radius, square_block
from .models import DenseStack
from .optim import adabelief_lookahead


@dataclass(frozen=True)
class LSCSettings:
    target: float = 1.0
    epochs: int = 100
    batch_size: int = 512
    steps_per_epoch: int | None = None  # None: one pass over the training set
    lr: float = 1e-4
    weight_decay: float = 1e-4
    sync_period: int = 6
    slow_step: float = 0.5
    tolerance: float = 0.02  # stop once the moving-average radius stays this close ...
    patience: int = 10  # ... for more than this many steps
    rescale: bool = True
    rescale_probability: float = 1 / 3
    shuffle: bool = True
    shuffle_probability: float = 0.2
    radius_method: RadiusMethod = "ritz"
    measure_batches: int = 2  # batches per block for the before/after measurement
    max_seconds: float | None = None


@dataclass
class LSCResult:
    radius_before_mean: float
    radius_before_std: float
    radius_after_mean: float
    radius_after_std: float
    radius_before_per_block: list[float]
    radius_after_per_block: list[float]
    loss_curve: list[float] = field(default_factory=list)
    radius_curve: list[float] = field(default_factory=list)
    moving_average_curve: list[float] = field(default_factory=list)
    steps: int = 0
    stopped_early: bool = False
    best_moving_average: float | None = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)


def block_radii(model: DenseStack, index: int, h: torch.Tensor, method: RadiusMethod,
                generator: torch.Generator) -> torch.Tensor:
    """Spectral radius of d block(h) / d h for every sample of h: shape (B,)."""
    jac = batched_jacobian(lambda sample: model.block(index, sample), h)
    return spectral_radius(square_block(jac, generator), method, generator=generator)


@torch.no_grad()
def measure_radii(model: DenseStack, batches: list[torch.Tensor], method: RadiusMethod,
                  seed: int = 0) -> tuple[float, float, list[float]]:
    """Mean and std of the per-sample radius over all blocks, and each block's mean."""
    generator = torch.Generator().manual_seed(seed)
    per_block, everything = [], []
    for index in range(model.n_blocks):
        radii = torch.cat([block_radii(model, index, model.block_input(index, x), method, generator)
                           for x in batches])
        per_block.append(radii.mean().item())
        everything.append(radii)
    allr = torch.cat(everything)
    return allr.mean().item(), allr.std().item(), per_block


def _batches(x: torch.Tensor, batch_size: int, generator: torch.Generator):
    order = torch.randperm(len(x), generator=generator)
    for start in range(0, len(x) - batch_size + 1 if len(x) >= batch_size else 1, batch_size):
        yield x[order[start:start + batch_size]]


def _rescale_block(model: DenseStack, index: int, radius: float, target: float) -> None:
    """The reference's multiplier: the first and last kernels are measured by
    std * sqrt(fan), hidden ones by the current radius; the factor is clipped."""
    weight = model.layer(index).weight
    if index == 0:
        local = weight.std().item() * weight.shape[0] ** 0.5
    elif index == model.depth:
        local = weight.std().item() * weight.shape[1] ** 0.5
    else:
        local = radius
    factor = target / max(local, 1e-12)
    factor = float(np.clip(factor, 0.85, 3.0 if local < 0.5 else 1.15))
    weight.mul_(factor)
    bias = model.layer(index).bias
    # cos'(0) = 0 kills the Jacobian of a block whose pre-activations sit at zero, so
    # the reference replaces an all-zero bias of a cos net by U[0, 1) draws.
    if model.activation_name == "cos" and bool((bias == 0).all()):
        bias.uniform_(0.0, 1.0)


def _shuffle_all(model: DenseStack, generator: torch.Generator) -> None:
    for p in model.parameters():
        flat = p.data.view(-1)
        flat.copy_(flat[torch.randperm(flat.numel(), generator=generator)])


def pretrain_lsc(model: DenseStack, x_train: torch.Tensor, settings: LSCSettings, seed: int,
                 log=print) -> LSCResult:
    """Pre-train ``model`` in place; it ends holding the best weights found."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    measure = [b for b, _ in zip(_batches(x_train, settings.batch_size, generator),
                                 range(settings.measure_batches))]
    before = measure_radii(model, measure, settings.radius_method, seed)
    log(f"LSC before: radius {before[0]:.4f} +- {before[1]:.4f}")

    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay,
                                    settings.sync_period, settings.slow_step)
    target = settings.target
    # EMA horizon as in the reference: half the number of weight tensors.
    horizon = len(list(model.parameters())) / 2
    ma_radius, ma_sq_error = None, 1.0
    best_radius, best_state, n_saves, std_threshold = None, None, 0, 0.4
    since_best, close_steps = 0, 0
    result = LSCResult(*before[:2], float("nan"), float("nan"), before[2], [],
                       settings=asdict(settings))

    def done() -> bool:
        return close_steps > settings.patience or (
            settings.max_seconds is not None and time.perf_counter() - start > settings.max_seconds)

    for epoch in range(settings.epochs):
        for step, x in enumerate(_batches(x_train, settings.batch_size, generator)):
            if settings.steps_per_epoch is not None and step >= settings.steps_per_epoch:
                break
            if ma_radius is not None and abs(ma_radius - target) < settings.tolerance \
                    and ma_sq_error < std_threshold:
                close_steps += 1
            else:
                close_steps = 0
            if done():
                break
            index = int(rng.integers(model.n_blocks))
            with torch.no_grad():
                h = model.block_input(index, x)
            radii = block_radii(model, index, h, settings.radius_method, generator)
            loss = ((radii - target) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            radius = radii.mean().item()
            if not np.isfinite(loss.item()):
                log(f"LSC step {result.steps}: non-finite loss, step skipped")
                continue
            optimizer.step()

            ma_radius = radius if ma_radius is None else ma_radius + (radius - ma_radius) / horizon
            ma_sq_error += ((radius - target) ** 2 - ma_sq_error) / horizon
            result.loss_curve.append(loss.item())
            result.radius_curve.append(radius)
            result.moving_average_curve.append(ma_radius)
            result.steps += 1

            if best_radius is None:
                best_radius, best_state = radius, _copy_state(model)
            elif abs(ma_radius - target) < abs(best_radius - target) and ma_sq_error < std_threshold:
                best_radius, best_state, since_best = ma_radius, _copy_state(model), 0
                n_saves += 1
                if n_saves >= 2:
                    std_threshold = 0.1
            if since_best > 3 * settings.patience:
                model.load_state_dict(best_state)
                since_best = 0
            since_best += 1

            with torch.no_grad():
                if settings.shuffle and rng.random() < settings.shuffle_probability:
                    _shuffle_all(model, generator)
                if settings.rescale and rng.random() < settings.rescale_probability:
                    _rescale_block(model, index, radius, target)
        log(f"LSC epoch {epoch + 1}: steps {result.steps}, radius {radius:.4f}, "
            f"moving average {ma_radius:.4f}, best {best_radius:.4f}")
        if done():
            result.stopped_early = close_steps > settings.patience
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    after = measure_radii(model, measure, settings.radius_method, seed)
    log(f"LSC after: radius {after[0]:.4f} +- {after[1]:.4f} ({result.steps} steps)")
    result.radius_after_mean, result.radius_after_std, result.radius_after_per_block = after
    result.best_moving_average = best_radius
    result.seconds = time.perf_counter() - start
    return result


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
