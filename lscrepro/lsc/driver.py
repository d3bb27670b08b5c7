"""The driver every LSC procedure runs: the sites' loop (loop.py, with its reference mode
from reference.py), the deep RNNs' (recurrent.py) and the ResLRU's (lru.py).

``drive`` resumes from a fingerprinted checkpoint or measures the radii before; runs the
procedure's units (an epoch, a training batch, an iteration) until it has run enough of
them, has stopped itself (converged or diverged) or is out of time; saves a checkpoint
after a unit when the procedure says one is due; and ends with ``finish``. An
``LSCProcedure`` holds what they share: the seeded torch generator and numpy rng, the
time cap (``max_seconds``, counting the time before a resume), the best-state copy and the
step it was taken at (the result's ``selected_step``), the record of each step, the progress
lines and ``state_dict``/``load_state_dict``. Each
procedure supplies its steps and its measurements (the hooks below).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint, save_checkpoint
from ..device import rng_state, set_rng_state
from ..progress import Progress


def copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def permute_entries(flat: torch.Tensor, generator: torch.Generator) -> None:
    """Permute the entries of a flat tensor (or view) in place, at random."""
    flat.copy_(flat[torch.randperm(flat.numel(), generator=generator, device=flat.device)])


def optimizer_step(optimizer, loss: torch.Tensor) -> None:
    """One update of ``optimizer``'s parameters down ``loss``'s gradient (the cost steps'; the
    runs write it out, so that the device audit names their step as the site of its syncs)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def validation_batches(task, batch_size: int, count: int, seed: int, device) -> list[torch.Tensor]:
    """The first ``count`` validation batches of a generator seeded ``seed``: the inputs of the
    before/after measurement."""
    generator = torch.Generator(device=device).manual_seed(seed)
    return [x for x, _ in zip(task.lsc_inputs(batch_size, generator, "val"), range(count))]


def drive(run: "LSCProcedure", units: int, checkpoint: Path | None, fingerprint: str, log):
    """Run ``run`` for ``units`` units, resumable from ``checkpoint``; returns its result."""
    saved = load_checkpoint(checkpoint, fingerprint, log) if checkpoint else None
    if saved is not None:
        run.load_state_dict(saved)
        log(run.RESUMED.format(run.units_done()))
    else:
        run.measure_before()
    while run.units_done() < units and not run.finished():
        run.run_unit()
        due = checkpoint is not None and run.checkpoint_due()
        if due:
            save_checkpoint(checkpoint, fingerprint, run.state_dict())
        run.unit_done(due)
    return run.finish()


class LSCProcedure:
    """One pre-training: the state and the rules all LSC procedures share. Subclasses set
    the class attributes, ``result`` (a dataclass with ``status``, ``loss_curve``,
    ``radius_curve``, ``steps`` and ``seconds``) and the hooks ``measure_before``,
    ``run_unit``, ``units_done`` and ``conclude``; ``state_dict`` holds the model, the
    random states and the ``STATE_FIELDS`` of every class of the run (at a unit's end)."""

    NAME = "LSC"  # the log lines' and progress lines' prefix
    RESUMED = "LSC resumed from checkpoint after unit {}"  # formatted with units_done()
    RESUMED_FIELD = "resumed_from"  # the result's field that says where a resume began
    PER = "per_kind"  # radius_{before,after}_<PER>: the result's per-site or per-kind radii
    STATE_FIELDS: tuple[str, ...] = ()

    def __init__(self, model, settings, seed: int, device, log, total: int | None):
        self.model, self.settings, self.seed, self.device, self.log = model, settings, seed, device, log
        self.start = time.perf_counter()
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.progress = Progress(log, self.NAME, total)

    # --- hooks ---------------------------------------------------------------------------
    def measure_before(self) -> None:
        raise NotImplementedError

    def run_unit(self) -> None:
        raise NotImplementedError

    def units_done(self) -> int:
        raise NotImplementedError

    def conclude(self) -> None:
        """The end of the run before its result is returned: the after measurement, ..."""
        raise NotImplementedError

    def checkpoint_due(self) -> bool:
        return True

    def unit_done(self, saved: bool) -> None:
        pass

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # --- time, stop, end -------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def time_cap(self) -> float | None:
        return self.settings.max_seconds

    def out_of_time(self) -> bool:
        cap = self.time_cap()
        return cap is not None and self.result.seconds + self.elapsed() > cap

    def finished(self) -> bool:
        return self.result.status != "not_converged" or self.out_of_time()

    def finish(self):
        self.conclude()
        self.result.selected_step = self.selected_step()
        self.result.seconds += self.elapsed()
        return self.result

    # --- the record ------------------------------------------------------------------------
    def keep_best(self, **facts) -> None:
        """The current weights become the best, with ``facts`` about them and the number of
        steps they have had (0: the initial weights)."""
        self.best = {**facts, "step": self.result.steps, "state": copy_state(self.model)}

    def selected_step(self) -> int | None:
        """How many steps the handed-back weights had had: 0 when the run kept its initial
        weights; the last step for a procedure without a selection (no ``best``)."""
        best = getattr(self, "best", None)
        return self.result.steps if best is None else best.get("step")

    def restore_best(self) -> None:
        self.model.load_state_dict(self.best["state"])

    def set_radii(self, when: str, mean: float, std: float, per: dict) -> None:
        setattr(self.result, f"radius_{when}_mean", mean)
        setattr(self.result, f"radius_{when}_std", std)
        setattr(self.result, f"radius_{when}_{self.PER}", per)

    def record_step(self, loss: float, radius: float, /, **shown) -> None:
        self.result.loss_curve.append(loss)
        self.result.radius_curve.append(radius)
        self.result.steps += 1
        self.progress.step(**shown)

    # --- checkpoints -----------------------------------------------------------------------
    def state_fields(self) -> list[str]:
        """The STATE_FIELDS of every class of the run (a mixin's too), base classes first."""
        classes = reversed(type(self).__mro__)
        return list(dict.fromkeys(n for c in classes for n in vars(c).get("STATE_FIELDS", ())))

    def state_dict(self) -> dict:
        self.result.seconds += self.elapsed()
        self.start = time.perf_counter()
        return {"model": copy_state(self.model), **self.extra_state(),
                "generator": self.generator.get_state(), "rng": rng_state(self.device),
                "numpy_rng": self.rng.bit_generator.state,
                "fields": {name: getattr(self, name) for name in self.state_fields()}}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.load_extra_state(state)
        self.generator.set_state(state["generator"])
        set_rng_state(state["rng"], self.device)
        self.rng.bit_generator.state = state["numpy_rng"]
        for name, value in state["fields"].items():
            setattr(self, name, value)
        setattr(self.result, self.RESUMED_FIELD, self.units_done())
        self.progress.done = self.progress.start_done = self.result.steps
