"""LSC pre-training of the deep RNNs of Figure 3 (the reference's ``recLSC.apply_LSC``
with ``allns``: all four kinds of local Jacobian).

For every layer l and time step t, on the cell state s (LSTM: (h, c); GRU and simple
RNNs: h; ALIF: (v, a), the reference's ``reoldspike`` form, where the previous spike is
recomputed as z = H(v - thr - beta a) with the surrogate so the Jacobians are not zero):

    rec    ds^l_{t+1} / ds^l_t
    depth  ds^l_{t+1} / ds^{l-1}_{t+1}   (l >= 2, through the lower layer's output)
    enc    ds^1_{t+1} / dx_{t+1}         (x: the embedded / raw input of layer 1)
    dec    dy_{t+1} / ds^L_{t+1}         (readout; target 1, left out of the reported mean)

Each is batched with torch.func, cut to a random square block when not square, and its
spectral radius taken per sample. Loss: the mean over Jacobians of the batch mean of
(rho - target)^2. The net is unrolled one step at a time on real training batches,
carrying the (detached) state, with one AdaBelief+Lookahead update per step, then the
heuristics ``shuffle`` (wshuff) and ``rescale`` (wmultiplier).

As the reference (stable_drnn@4b667ae neural_models/recLSC.py, apply_LSC), by default:
 - wmultiplier scales each cell's input kernel and biases (LSTM/GRU: bias_ih and bias_hh,
   Keras' one bias; simple RNN: bias) by target / rho_enc (layer 1) or rho_depth, and its
   recurrent kernel by target / rho_rec (``rescale_biases``); its name match caught every
   cell's kernel, GRU and simple RNN too (checked with Keras 2.12's weight names);
 - wshuff permutes every weight of >= 2 dims, so the GRU's two biases (Keras' (2, 3n) bias)
   are permuted together;
 - an LSTM's depth and dec Jacobians count the path c -> h = o tanh(c): the reference's
   tape took them w.r.t. the graph nodes (h, c), and h was computed from c
   (``lstm_c_path``); the LSTM's LSC state is (h, c), 2n wide, as there;
 - best weights (those before the step's update): the first step sets the bar; later a
   step is kept if |mean of its rec/depth/enc radii - target| is smaller and the moving
   variance v <- 0.9 v + 0.1 var(radii) (from 1) is below 0.5, 0.1 from the 2nd save on;
   the run stops after more than ``patience`` steps with every rec/depth/enc radius within
   ``tolerance`` and v below that threshold, dec ignored (``selection: reference``);
 - no reload of the best weights mid-run: the reference's ``weights = best_weights`` after
   2 * patience steps without a new best was overwritten on the next line unless the loss
   was NaN (``reload: nan``);
 - a time cap of stop_time - 30 min = 19800 s of LSC loop (``max_seconds``; here the
   "before" measurement counts too, and time spent before a resume);
 - the state carries over across batches; dec is skipped when the readout has more than
   ``dec_max_outputs`` (100) outputs (PTB); rescale at every step. Targets never enter
   these Jacobians, so the reference's random replacement of target tokens has none.

Differences from the reference (docs/deviations.md):
 1. One optimiser for the whole run. The reference rebuilt the model, and with it
    AdaBelief's moments and Lookahead's slow weights, at every step.
 2. A shuffle is kept only if the loss on the same step's inputs does not get worse
    (compared with the step's loss before the update, as the FFN port does); the
    reference kept every shuffle. Lookahead's slow weights are resynced after any edit.
 3. The Jacobians are taken at detached evaluation points (states and layer inputs
    computed without gradient): the loss reaches a layer's weights through its own local
    Jacobians only (and, via an LSTM's c columns, the lower layer's output gate). The
    reference's tape also differentiated through the points of the step (the embedded
    input x_{t+1}, the lower layers' outputs and s_{t+1}; not s_t, which came from the
    previous step's rebuilt model): ``jacobian_points: graph``.
 4. A non-finite loss stops the run (``diverged``; ``on_nonfinite: skip`` is the
    reference: no update and no edit that step, the state carried on, the best weights
    reloaded if it falls on the 2 * patience check; a NaN radius then keeps the variance
    gate shut for the rest of the run, as there). Weights that became NaN stay until a
    reload; the reference's next step ran a freshly initialised model instead.
 5. The loss averages over the Jacobians computed; the reference divided by 2L + 1 even
    when dec was skipped (PTB): a constant factor 2L / (2L + 1).
 6. Radii of blocks of 48 or more come from the Ritz estimate (``radius_method: ritz``);
    the reference took eig of every block (``radius_method: eig``).
Today's earlier rules stay one value away: ``selection: rms`` (the smallest rms distance
of the radii to the target, no gate; the stop rule also needs dec within tolerance of 1),
``reload: stuck`` (reload after 2 * patience steps without a new best, fresh optimiser),
``rescale_biases: false``, ``lstm_c_path: false`` (c columns zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.func import jacrev, vmap

from ..optim import adabelief_lookahead, resync_slow_weights
from .driver import LSCProcedure, copy_state, drive, optimizer_step, permute_entries, validation_batches
from .jacobians import RadiusMethod, spectral_radius, square_block
from .views import RecurrentLSCView

KINDS = ("rec", "depth", "enc", "dec")
REPORTED_KINDS = ("rec", "depth", "enc")  # dec is left out of the reported mean
SELECTIONS = ("reference", "rms")
RELOADS = ("nan", "stuck")
ON_NONFINITE = ("stop", "skip")
POINTS = ("detached", "graph")  # where the Jacobians' evaluation points keep their graph
# The reference's variance gate (recLSC.py std_thr): 0.5, then 0.1 from the 2nd save on
GATE_START, GATE_TIGHT, GATE_TIGHT_AFTER = 0.5, 0.1, 2


@dataclass(frozen=True)
class RecurrentLSCSettings:
    target: float = 0.5
    batch_size: int = 8
    batches: int = 2  # the reference: steps_per_epoch=2 batches x sequence length steps
    lr: float = 7.2e-3
    weight_decay: float = 1e-4  # the reference: 1e-3 for rsimplernn (set in the config)
    sync_period: int = 6
    slow_step: float = 0.5
    tolerance: float = 0.08
    patience: int = 20
    rescale: bool = True
    rescale_probability: float = 1.0  # the reference rescales at every step
    shuffle: bool = True
    shuffle_probability: float = 0.34  # the reference: uniform draw > .66
    radius_method: RadiusMethod = "ritz"
    measure_batches: int = 2
    measure_steps: int = 10  # the reference re-measures over 10 steps ('onlyloadpretrained')
    max_seconds: float | None = 19800.0  # the reference: stop_time 6 h - 30 min; wall time in total, across resumes
    max_steps: int | None = None
    dec_max_outputs: int = 100  # the reference skips dec for wider readouts (PTB)
    rescale_biases: bool = True  # wmultiplier scales the cell biases with the input side
    lstm_c_path: bool = True  # LSTM depth/dec Jacobians count c -> h = o tanh(c), as the tape
    selection: str = "reference"  # best weights and stop rule: "reference" (gated) or "rms"
    reload: str = "nan"  # best weights reloaded: "nan" (the reference) or "stuck" (2 * patience)
    on_nonfinite: str = "stop"  # a non-finite loss: "stop" (diverged) or "skip" (the reference)
    jacobian_points: str = "detached"  # "graph": the loss also differentiates the points (the reference)

    def __post_init__(self):
        for name, allowed in (("selection", SELECTIONS), ("reload", RELOADS),
                              ("on_nonfinite", ON_NONFINITE), ("jacobian_points", POINTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"lsc.{name}: {getattr(self, name)!r} is not one of {allowed}")


@dataclass
class RecurrentLSCResult:
    status: str = "not_converged"  # "converged", "not_converged" or "diverged"
    radius_before_mean: float = float("nan")
    radius_before_std: float = float("nan")
    radius_after_mean: float = float("nan")
    radius_after_std: float = float("nan")
    radius_before_per_kind: dict = field(default_factory=dict)
    radius_after_per_kind: dict = field(default_factory=dict)
    loss_curve: list[float] = field(default_factory=list)
    radius_curve: list[float] = field(default_factory=list)  # step mean over rec/depth/enc
    steps: int = 0
    selected_step: int | None = None  # steps the handed-back weights had had (0: the initial ones)
    seconds: float = 0.0
    resumed_from_batch: int = 0
    best_loss: float | None = None
    best_distance: float | None = None


def cell_views(model) -> list[RecurrentLSCView]:
    """Each recurrent layer's LSC view (``layer.lsc_view()``, lscrepro/lsc/views.py)."""
    return [layer.lsc_view() for layer in model.cells()]


def _jacobian(fn, *inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample d fn(a_b, ...) / d a_b for the rows of the first input: (B, out, in)."""
    return vmap(jacrev(fn, argnums=0))(*inputs)


# Below this size the exact eigensolver is faster than "ritz" (one CPU thread, 8 samples:
# n=16 eig 0.6 ms vs ritz 3 ms; n=64 8 vs 4 ms), and "ritz" falls back to it when unsure.
EXACT_BELOW = 48


def _radius(jac: torch.Tensor, method: RadiusMethod, generator: torch.Generator) -> torch.Tensor:
    square = square_block(jac, generator)
    if square.shape[-1] >= EXACT_BELOW:
        return spectral_radius(square, method, generator=generator)
    finite = square.detach().isfinite().flatten(1).all(dim=1)
    if bool(finite.all()):
        return spectral_radius(square, "eig")
    # LAPACK must not see inf/NaN (it can crash); such samples get a NaN radius
    radius = torch.full(finite.shape, float("nan"), dtype=square.dtype, device=square.device)
    radius[finite] = spectral_radius(square[finite], "eig")
    return radius


def wants_dec(model, settings: RecurrentLSCSettings) -> bool:
    return model.num_classes <= settings.dec_max_outputs


def advance(views: list[RecurrentLSCView], x: torch.Tensor, states: list[torch.Tensor],
            graph: bool = False):
    """One step of the stack: (each layer's input, next states). Without ``graph`` no
    gradient; with it the points keep their graph to this step's weights (and x's)."""
    inputs, new_states = [], []
    with torch.set_grad_enabled(graph and torch.is_grad_enabled()):
        for view, s in zip(views, states):
            inputs.append(x)
            s_next = view.step(x, s)
            new_states.append(s_next)
            x = view.output(s_next)
    return inputs, new_states


def _with_c_path(jac: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A Jacobian w.r.t. an LSTM state (h, c) whose consumer reads h only: its c columns
    (zero) become the path c -> h = o tanh(c), as the reference's tape took the Jacobian
    w.r.t. the graph node c, from which h was computed."""
    n = scale.shape[-1]
    return torch.cat([jac[..., :n], jac[..., :n] * scale.unsqueeze(-2)], dim=-1)


def _c_path_scales(views, inputs, states, new_states, with_dec: bool, lstm_c_path: bool) -> list:
    """dh/dc of each layer that has that path (LSTM) and whose output feeds a depth or dec
    Jacobian; None elsewhere."""
    scales = []
    for l, view in enumerate(views):
        feeds = l < len(views) - 1 or with_dec
        scales.append(view.c_path_scale(inputs[l], states[l], new_states[l])
                      if lstm_c_path and feeds else None)
    return scales


def _depth(below: RecurrentLSCView, outer: torch.Tensor, s_below: torch.Tensor,
           c_scale: torch.Tensor | None, compact: bool) -> torch.Tensor:
    """The depth Jacobian outer @ O, O = dh_below / ds_below, from outer = ds' / dh_below.

    ``compact`` (where outer @ O is square): O @ outer instead, n_below wide. AB and BA have
    the same nonzero eigenvalues, so the spectral radius and its gradient are the same, and
    an LSTM's (2n)^3 squarings become n^3."""
    if compact and outer.shape[-2] == below.size():
        if c_scale is not None:  # O = [I, diag(dh/dc)]
            n = below.n
            return outer[..., :n, :] + c_scale.unsqueeze(-1) * outer[..., n:2 * n, :]
        return below.compact_through_output(outer, s_below)
    depth = below.through_output(outer, s_below)
    return depth if c_scale is None else _with_c_path(depth, c_scale)


def local_jacobians(model, views: list[RecurrentLSCView], x: torch.Tensor, states: list[torch.Tensor],
                    with_dec: bool, lstm_c_path: bool = True, compact_depth: bool = False,
                    points: str = "detached"):
    """The step's local Jacobians {(kind, layer index): (B, out, in)} and the states s_{t+1}
    (detached, to carry). x: layer 1's input at t+1, states: s_t (carried, no graph). With
    ``compact_depth`` a square depth Jacobian comes as its smaller equivalent for the
    radius (``_depth``). ``points``: "detached" evaluates at points without gradient;
    "graph" (the reference's one-step tape) lets the loss also differentiate through the
    points x_{t+1} (the embedding) and s_{t+1} (this step's weights)."""
    if points not in POINTS:
        raise ValueError(f"points: {points!r} is not one of {POINTS}")
    graph = points == "graph"
    inputs, new_states = advance(views, x if graph else x.detach(), states, graph=graph)
    c_scale = _c_path_scales(views, inputs, states, new_states, with_dec, lstm_c_path)
    jacobians = {}
    for l, view in enumerate(views):
        jacobians["rec", l], wrt_input = view.jacobians(inputs[l], states[l])
        if l == 0:
            jacobians["enc", l] = wrt_input
            continue
        jacobians["depth", l] = _depth(views[l - 1], wrt_input, new_states[l - 1], c_scale[l - 1],
                                       compact_depth)
    if with_dec:
        last = views[-1]
        dec = _jacobian(lambda s: model.readout(last.output(s)), new_states[-1])
        jacobians["dec", len(views) - 1] = dec if c_scale[-1] is None else _with_c_path(dec, c_scale[-1])
    return jacobians, [s.detach() for s in new_states]


def local_radii(model, views, x, states, settings: RecurrentLSCSettings, generator):
    """Per-sample spectral radii {(kind, layer index): (B,)} of the step, and s_{t+1}."""
    jacobians, new_states = local_jacobians(model, views, x, states, wants_dec(model, settings),
                                            settings.lstm_c_path, compact_depth=True,
                                            points=settings.jacobian_points)
    radii = {key: _radius(jac, settings.radius_method, generator) for key, jac in jacobians.items()}
    return radii, new_states


def lsc_loss(radii: dict, target: float) -> torch.Tensor:
    """Mean over Jacobians of the batch mean of (rho - target)^2; dec's target is 1."""
    losses = [((r - (1.0 if kind == "dec" else target)) ** 2).mean() for (kind, _), r in radii.items()]
    return torch.stack(losses).mean()


def _layer_name(index: int) -> str:
    return f"layer{index + 1}"


@torch.no_grad()
def measure_radii(model, batches: list[torch.Tensor], settings: RecurrentLSCSettings,
                  seed: int = 0) -> tuple[float, float, dict]:
    """Radii over the first ``measure_steps`` steps of each batch, from a zero state and
    carrying it: mean and std over rec/depth/enc samples, and each kind's per layer."""
    views = cell_views(model)
    generator = torch.Generator(device=batches[0].device).manual_seed(seed)
    collected: dict = {}
    for x in batches:
        states = [v.zeros(len(x), x.device) for v in views]
        for t in range(min(settings.measure_steps, x.shape[1])):
            radii, states = local_radii(model, views, model.embed(x[:, t]), states, settings, generator)
            for key, r in radii.items():
                collected.setdefault(key, []).append(r)
    per_kind: dict = {kind: {} for kind in KINDS}
    for (kind, l), parts in sorted(collected.items(), key=lambda item: item[0][1]):
        r = torch.cat(parts)
        per_kind[kind][_layer_name(l)] = {"mean": r.mean().item(), "std": r.std().item()}
    reported = torch.cat([torch.cat(p) for (kind, _), p in collected.items() if kind in REPORTED_KINDS])
    return reported.mean().item(), reported.std().item(), per_kind


# --- the heuristics ---------------------------------------------------------------------------
def _clipped_factor(target: float, radius: float) -> float:
    return float(np.clip(target / max(radius, 1e-12), 0.85, 1.15))


@torch.no_grad()
def rescale_weights(model, views: list[RecurrentLSCView], means: dict, target: float,
                    biases: bool = True) -> None:
    """The reference's wmultiplier: input-side parameters (with ``biases`` the cell biases)
    by target / rho_depth (layer 1: rho_enc), recurrent ones by target / rho_rec, embedding
    and dense readout weight towards std * sqrt(fan) = 1 (not the readout bias, as the
    reference); every factor clipped to [0.85, 1.15]."""
    for l, view in enumerate(views):
        input_side, recurrent_side = view.rescale_groups(biases)
        lower = means.get(("enc", 0) if l == 0 else ("depth", l))
        for params, radius in ((input_side, lower), (recurrent_side, means.get(("rec", l)))):
            if radius is None:
                continue
            factor = _clipped_factor(target, radius)
            for p in params:
                p.mul_(factor)
    matrices = [model.embedding, getattr(model.dense_readout, "weight", None)]
    for w in (m for m in matrices if m is not None):
        # embedding (vocab, D): fan D; readout weight (classes, width): fan width. np.std, as
        # the reference: the population std (torch's default is the sample std)
        w.mul_(float(np.clip(1.0 / max(w.std(correction=0).item() * math.sqrt(w.shape[1]), 1e-12), 0.85, 1.15)))


@torch.no_grad()
def shuffle_weights(model, generator: torch.Generator) -> None:
    """The reference's wshuff: every weight with >= 2 dims, entries randomly permuted, and
    each view's joint groups (Keras' GRU bias is one (2, 3n) matrix) permuted as one."""
    for p in model.parameters():
        if p.dim() >= 2:
            permute_entries(p.data.view(-1), generator)
    for group in (g for view in cell_views(model) for g in view.joint_shuffles()):
        joint = torch.cat([p.data.view(-1) for p in group])
        permute_entries(joint, generator)
        for p, part in zip(group, joint.split([p.numel() for p in group])):
            p.data.copy_(part.view_as(p))


# --- the run ------------------------------------------------------------------------------------
def pretrain_recurrent(model, task, settings: RecurrentLSCSettings, seed: int, device: torch.device,
                       checkpoint: Path | None = None, fingerprint: str = "",
                       log=print) -> RecurrentLSCResult:
    """Pre-train ``model`` (a DeepRNN) in place; it ends holding the best weights found.

    Training batches drive the weights; the before/after radii use validation batches.
    With ``checkpoint`` the state is saved after every batch and a rerun of the same run
    (same ``fingerprint``) resumes from it and ends where an uninterrupted run would."""
    run = RecurrentLSCRun(model, task, settings, seed, device, log)
    return drive(run, settings.batches, checkpoint, fingerprint, log)


def most_steps(settings: RecurrentLSCSettings, steps: int) -> int:
    """The stop rule's most steps: ``batches`` sequences of ``steps`` time steps, at most
    ``max_steps``."""
    total = settings.batches * steps
    return total if settings.max_steps is None else min(total, settings.max_steps)


class RecurrentLSCRun(LSCProcedure):
    """One pre-training: its state (``state_dict``, at batch boundaries) and its steps."""

    NAME = "RNN LSC"
    RESUMED = "RNN LSC resumed from checkpoint after batch {}"
    RESUMED_FIELD = "resumed_from_batch"
    STATE_FIELDS = ("batch", "close_steps", "since_best", "states", "best", "gate", "result")

    def __init__(self, model, task, settings: RecurrentLSCSettings, seed: int, device, log):
        super().__init__(model, settings, seed, device, log, most_steps(settings, task.dims["steps"]))
        self.task, self.views = task, cell_views(model)
        self.optimizer = self._new_optimizer()
        self.result = RecurrentLSCResult()
        self.batch, self.close_steps, self.since_best = 0, 0, 0
        self.states: list[torch.Tensor] | None = None  # carried across batches, as the reference
        self.keep_best(distance=math.inf, loss=None)
        # the reference's std_ma_norm (starting at 1), its threshold std_thr, and its saves
        self.gate = {"variance": 1.0, "threshold": GATE_START, "saves": 0}
        self.measure = validation_batches(task, settings.batch_size, settings.measure_batches,
                                          seed + 1, device)

    def _new_optimizer(self):
        s = self.settings
        return adabelief_lookahead(self.model.parameters(), s.lr, s.weight_decay, s.sync_period, s.slow_step)

    def train_batch(self, index: int) -> torch.Tensor:
        """Training batch ``index``, from a generator of its own, so a resumed run sees the
        same batches. Targets are not needed: they enter none of these Jacobians."""
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        for i, x in enumerate(self.task.lsc_inputs(self.settings.batch_size, generator, "train")):
            if i == index:
                return x
        raise ValueError(f"the task has fewer than {index + 1} LSC training batches")

    # --- before, after ----------------------------------------------------------------------
    def _measure(self, when: str) -> None:
        mean, std, per_kind = measure_radii(self.model, self.measure, self.settings, self.seed)
        self.set_radii(when, mean, std, per_kind)
        self.log(f"RNN LSC {when}: radius {mean:.4f} +- {std:.4f} (rec, depth, enc)")

    def measure_before(self) -> None:
        self._measure("before")

    def conclude(self) -> None:
        self.restore_best()
        self._measure("after")
        self.result.best_loss = self.best["loss"]
        self.result.best_distance = None if math.isinf(self.best["distance"]) else self.best["distance"]
        self.log(f"RNN LSC {self.result.status} after {self.result.steps} steps")

    # --- the loop -----------------------------------------------------------------------------
    def finished(self) -> bool:
        max_steps = self.settings.max_steps
        return super().finished() or (max_steps is not None and self.result.steps >= max_steps)

    def units_done(self) -> int:
        return self.batch

    def unit_done(self, saved: bool) -> None:
        self.log(f"RNN LSC batch {self.batch}/{self.settings.batches} done: steps {self.result.steps}, "
                 f"best distance {self.best['distance']:.4f} ({self.settings.selection})")

    def run_unit(self) -> None:
        self.run_batch()

    def run_batch(self) -> None:
        x = self.train_batch(self.batch).to(self.device)
        if self.states is None:
            self.states = [v.zeros(len(x), self.device) for v in self.views]
        for t in range(x.shape[1]):
            if self.finished():
                break
            self.step(x[:, t])
        self.batch += 1

    def step(self, x_t: torch.Tensor) -> None:
        s = self.settings
        x = self.model.embed(x_t)
        radii, new_states = local_radii(self.model, self.views, x, self.states, s, self.generator)
        loss = lsc_loss(radii, s.target)
        # one host read for the loss and every mean radius (on a GPU, one sync per step)
        loss_value, *mean_values = torch.stack([loss.detach(), *(r.detach().mean() for r in radii.values())]).tolist()
        finite = math.isfinite(loss_value)
        if not finite and s.on_nonfinite == "stop":
            self.log(f"RNN LSC step {self.result.steps}: loss is not finite; stopping (diverged)")
            self.result.status = "diverged"
            return
        means = dict(zip(radii, mean_values))
        self.update_gate(means)
        self.keep_if_best(means, loss_value)
        if finite:  # the reference ("skip") makes no update and no edit on a NaN loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.edit(x, loss_value, means)
        self.reload_best(finite)
        self.states = new_states  # from before the update; carried after a NaN too, as the reference
        self.record(loss_value, means)

    def edit(self, x: torch.Tensor, loss: float, means: dict) -> None:
        """The heuristics after the update: wshuff (sometimes), then wmultiplier."""
        s = self.settings
        edited = False
        if s.shuffle and self.rng.random() < s.shuffle_probability:
            edited |= self.try_shuffle(x, loss)
        if s.rescale and self.rng.random() < s.rescale_probability:
            rescale_weights(self.model, self.views, means, s.target, s.rescale_biases)
            edited = True
        if edited:
            resync_slow_weights(self.optimizer)

    def try_shuffle(self, x: torch.Tensor, loss: float) -> bool:
        """Shuffle; keep it only if the loss on this step's inputs is not worse than the
        step's loss. The reference kept every shuffle, which undoes what the updates did."""
        saved = copy_state(self.model)
        shuffle_weights(self.model, self.generator)
        with torch.no_grad():
            radii, _ = local_radii(self.model, self.views, x.detach(), self.states, self.settings,
                                   self.generator)
            shuffled = lsc_loss(radii, self.settings.target).item()
        if shuffled <= loss:
            return True
        self.model.load_state_dict(saved)
        return False

    @staticmethod
    def _reported(means: dict) -> list[float]:
        return [m for (kind, _), m in means.items() if kind in REPORTED_KINDS]

    def update_gate(self, means: dict) -> None:
        """The reference's moving average of the variance over the step's rec/depth/enc
        radii (a NaN radius makes it NaN for good, as there, so the gate stays shut)."""
        self.gate["variance"] = 0.9 * self.gate["variance"] + 0.1 * float(np.var(self._reported(means)))

    def gate_open(self) -> bool:
        return self.gate["variance"] < self.gate["threshold"]

    def distance(self, means: dict) -> float:
        """Selection "reference": |mean of the step's rec/depth/enc radii - target|; "rms":
        their rms distance to the target."""
        gaps = np.array(self._reported(means)) - self.settings.target
        if self.settings.selection == "reference":
            return float(abs(gaps.mean()))
        return float(np.sqrt(np.mean(np.square(gaps))))

    def keep_if_best(self, means: dict, loss: float) -> None:
        """Keep the current (pre-update) weights if they are the closest to the target so far;
        "reference" also needs the variance gate open, and its first step only sets the bar
        (its weights are the initial best, not a save)."""
        distance = self.distance(means)
        reference = self.settings.selection == "reference"
        if reference and self.result.steps == 0:
            self.keep_best(distance=distance, loss=loss)
            self.since_best += 1
        elif distance < self.best["distance"] and (self.gate_open() or not reference):
            self.keep_best(distance=distance, loss=loss)
            self.since_best = 0
            self.gate["saves"] += 1
            if reference and self.gate["saves"] >= GATE_TIGHT_AFTER:
                self.gate["threshold"] = GATE_TIGHT
        else:
            self.since_best += 1

    def reload_best(self, finite: bool) -> None:
        """After more than 2 * patience steps without a new best the reference set the best
        weights back, but overwrote them on its next line unless the loss was NaN ("nan");
        "stuck" reloads them. A fresh optimiser: its state belonged to the others."""
        if self.since_best <= 2 * self.settings.patience:
            return
        self.since_best = 0
        if self.settings.reload == "stuck" or not finite:
            self.restore_best()
            self.optimizer = self._new_optimizer()

    def close(self, means: dict) -> bool:
        """A close step. Selection "reference": every rec/depth/enc radius within tolerance
        and the gate open; "rms": every radius, dec too (target 1), within tolerance."""
        s = self.settings
        if s.selection == "reference":
            return all(abs(m - s.target) < s.tolerance for m in self._reported(means)) and self.gate_open()
        return all(abs(m - (1.0 if kind == "dec" else s.target)) < s.tolerance
                   for (kind, _), m in means.items())

    def record(self, loss: float, means: dict) -> None:
        self.close_steps = self.close_steps + 1 if self.close(means) else 0
        if self.close_steps > self.settings.patience:
            self.result.status = "converged"
        radius = float(np.mean(self._reported(means)))
        self.record_step(loss, radius, loss=loss, radius=radius, best=self.best["distance"])

    # --- checkpoints ----------------------------------------------------------------------------
    def extra_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


# --- what lscrepro/cost asks of this procedure (lscrepro.catalog.procedures) -------------------
_WARM_STEPS = 5  # time steps from zero states before the timed step (cost_step)


def cost_step(model, settings: RecurrentLSCSettings, inputs, generator: torch.Generator, timer) -> dict:
    """``timer(call)`` (its seconds, or FLOPs) of one step as ``lsc_step_s``: every local
    Jacobian of one time step with its radii, the loss, backward and update, at the states
    a run carries after a few time steps from zero. ``inputs(batch)``: network inputs at
    the task's sizes."""
    views = cell_views(model)
    optimizer = adabelief_lookahead(model.parameters(), settings.lr, settings.weight_decay)
    x = inputs(settings.batch_size)
    # Reachable states, as a run carries them: random ones (a sigmoid cell's outside (0, 1))
    # made every 1300-wide simple-RNN Jacobian a perfect ring that only eigvals could take.
    warm = min(_WARM_STEPS, x.shape[1] - 1)
    states = [view.zeros(len(x), x.device) for view in views]
    with torch.no_grad():
        for t in range(warm):
            _, states = advance(views, model.embed(x[:, t]), states)
    x_t = x[:, warm]

    def step():
        radii = local_radii(model, views, model.embed(x_t), states, settings, generator)[0]
        optimizer_step(optimizer, lsc_loss(radii, settings.target))
    # a measurement step (radii only) is bounded by a whole step: timing it apart would
    # double the time this takes for under 2% of a job's bound
    return {"lsc_step_s": timer(step)}


def step_bound(settings: RecurrentLSCSettings, dims: dict, sizes: dict, timed: dict) -> tuple[int, float]:
    """The stop rule's most steps (most_steps) and the seconds of the before and after
    measurements: ``measure_batches`` x ``measure_steps`` (at most the sequence) time steps
    each, a step's radii bounded by a whole step."""
    measure = 2 * settings.measure_batches * min(settings.measure_steps, dims["steps"]) * timed["lsc_step_s"]
    return most_steps(settings, dims["steps"]), measure
