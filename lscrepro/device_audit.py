"""The GPU path, checked without a GPU: one training step and one LSC step of every family
run with every tensor on a device that is not the CPU, and each CPU operand, CPU tensor,
CPU generator or host sync in the step loops is named with its line in lscrepro.

How. The code under audit is handed ``AUDIT_DEVICE`` (``meta``) wherever it takes a device.
Pure meta tensors carry no values, so a step whose control flow reads one (a finiteness
check, the LSC's heuristics) cannot run on them; instead a dispatch mode (``DeviceAudit``)
runs every aten op on CPU data held inside ``OnDevice`` tensors, wrappers that report the
meta device (autograd and torch.func see them as meta tensors). A factory op asked for the
meta device gives an ``OnDevice``; one asked for nothing (``torch.zeros(n)``) gives a plain
CPU tensor, as on a GPU machine. ``torch.Generator(device=meta)`` is not possible, so during
the audit ``torch.Generator`` is a subclass that marks generators made for the audited
device, and a function mode checks the generator each random call is handed.

Findings (``Finding.kind``), each a violation unless said otherwise:
- ``cpu operand``: an op on device tensors that is also handed a CPU tensor (of one or more
  dimensions: CUDA takes 0-dim CPU tensors as host scalars, so those pass), or a random op
  writing a device tensor with a CPU generator, anywhere in the audited run: on a GPU it
  raises, or (indexing, ``copy_``) copies on every call.
- ``error``: the run raised (torch checks some devices itself, e.g. an RNN's state), named
  at the innermost lscrepro frame.
- ``cpu tensor``, ``cpu generator``: code other than a library's (torch, site-packages)
  making a tensor on the CPU (a factory without ``device=``), uploading a CPU tensor, or
  drawing from a CPU generator inside a step loop. Outside the step loops they are allowed:
  models are initialised on the CPU from CPU generators on purpose (the same weights on
  every device), then moved.
- ``host sync``: the host waiting for the device inside a step loop: ``.item()``,
  ``float()``/``bool()``/``int()`` of a tensor (aten ``_local_scalar_dense``), ``.cpu()`` or
  any device-to-host copy, ``.tolist()``, ``.numpy()`` (which raises on CUDA), and ops whose
  CUDA kernels synchronise (``SYNCING_OPS``: data-dependent output sizes such as
  ``nonzero`` and boolean-mask indexing, the eigensolvers, which run on the host, and the
  error checks of linalg).

Which syncs are allowed. A step loop (``STEP_LOOPS``: training's epoch loop, the FFN LSC's
epoch, the deep RNN LSC's batch, the LRU LSC's iteration) may synchronise only where the
host must decide from a device value before it can go on: the entries of ``ALLOWED_SYNCS``,
(file, function of the innermost lscrepro frame, what waits), each with its reason.
Training: one sync per step, the loss's finiteness (a non-finite loss stops the run before
it reaches the weights), and the epoch's totals read once at its end. LSC: the procedures'
per-step decisions (the stop on a non-finite radius, moving averages, best-weights selection,
and the reference's shuffle/rescale heuristics are host logic by design) and the radius
estimator's checks and eigensolvers. Everything else (metric totals per batch, a loss for a
progress line, a copy for logging) stays on the device. Syncs outside the step loops
(measurements before and after, evaluation's end, checkpoints) are counted but allowed.

What it cannot see: code paths taken only on CUDA (cuDNN's fused LSTM/GRU, ``device.type ==
"cuda"`` branches), syncs inside kernels not listed in SYNCING_OPS, memory and numerics.
``benchmarks/gpu_check.py`` covers those on a GPU.

``audit_family(name)`` runs one family on small synthetic data; ``python -m
lscrepro.device_audit [FAMILY...] [--all]`` runs them and prints the findings (exit status
1 on a violation).
"""

from __future__ import annotations

import argparse
import contextlib
import linecache
import site
import sys
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes, return_and_correct_aliasing
from torch.utils._pytree import tree_leaves, tree_map

AUDIT_DEVICE = torch.device("meta")
PACKAGE_DIR = Path(__file__).resolve().parent
TORCH_DIR = Path(torch.__file__).resolve().parent
THIS_FILE = Path(__file__).resolve()
# code whose own CPU tensors are its business (an optimiser's step counter): only a CPU
# tensor it mixes into a device op is named
LIBRARY_DIRS = [Path(p).resolve() for p in {*site.getsitepackages(), sysconfig.get_paths()["stdlib"]}]

# The functions whose frames make a step loop: (file in lscrepro, qualified name).
STEP_LOOPS = {
    ("training.py", "_train_epoch"),
    ("lsc/loop.py", "LSCRun.run_epoch"),
    ("lsc/recurrent.py", "RecurrentLSCRun.run_batch"),
    ("lsc/lru.py", "LRULSC.iterate"),
}

# Syncs allowed inside a step loop, by the innermost lscrepro frame and what waits:
# (file, function, what): why. ``what`` is "read" (the code reads a value: .item(), float(),
# bool(), .tolist(), a copy to the host) or the op whose CUDA kernel synchronises.
ALLOWED_SYNCS = {
    ("training.py", "loss_is_finite", "read"):
        "the loss's finiteness decides whether the optimiser steps (once per step)",
    ("tasks/base.py", "host_totals", "read"): "an epoch's summed metrics, read once at its end",
    ("progress.py", "Progress.step", "read"):
        "a progress line's values, read when a line is written (at most every 30 s)",
    ("lsc/loop.py", "LSCRun.step", "read"):
        "the step's loss and mean radius, read once: the stop on a non-finite loss, the "
        "moving average and the site estimate that decide selection and stopping",
    ("lsc/loop.py", "LSCRun.try_shuffle", "read"):
        "the shuffle heuristic keeps or reverts the permutation by the radius it gives",
    ("lsc/loop.py", "site_means", "read"):
        "a best-weights candidate is checked on validation samples, at most once per sweep",
    ("models/dense.py", "DenseStack._rescale", "read"):
        "the rescale heuristic clips its factor on the host (the reference's rule)",
    ("lsc/recurrent.py", "_radius", "read"):
        "LAPACK must not see a non-finite Jacobian: the finiteness check picks the path",
    ("lsc/recurrent.py", "_radius", "boolean mask"): "the same, on the rare non-finite path",
    ("lsc/recurrent.py", "RecurrentLSCRun.step", "read"):
        "the step's loss and mean radii, read once as one stacked tensor, decide the stop, "
        "the variance gate, the best weights and the heuristics (the reference's host logic)",
    ("lsc/recurrent.py", "RecurrentLSCRun.try_shuffle", "read"):
        "the shuffle heuristic keeps or reverts the permutation by the loss it gives",
    ("lsc/recurrent.py", "rescale_weights", "read"):
        "wmultiplier clips each factor on the host (the reference's rule)",
    ("lsc/jacobians.py", "_rescaled", "read"):
        "the Ritz estimate rescales a squaring only when it would underflow",
    ("lsc/jacobians.py", "_dominant_subspaces", "read"):
        "the early check: whether any sample's squarings are skipped",
    ("lsc/jacobians.py", "spectral_radius", "linalg_eig"):
        "eigenvalues are computed on the host (MAGMA's geev)",
    ("lsc/jacobians.py", "spectral_radius", "nonzero"):
        "samples the Ritz estimate cannot trust go to the exact solver",
    ("lsc/jacobians.py", "spectral_radius", "boolean mask"): "the same",
    ("lsc/jacobians.py", "_ritz_radius", "linalg_eig"):
        "the Ritz projection's p x p eigenvalues are computed on the host (MAGMA's geev)",
    ("lsc/jacobians.py", "_dominant_subspaces", "boolean mask"):
        "the early check drops the samples whose squarings it skips",
    ("lsc/jacobians.py", "_confirmed", "nonzero"):
        "trusted samples whose Ritz pair has not settled (all with bfloat16 squarings) get "
        "one inverse iteration at their Ritz value",
    ("lsc/jacobians.py", "_rescued", "nonzero"):
        "samples the Ritz check cannot trust get one inverse iteration before the exact solver",
    ("lsc/jacobians.py", "_rescued", "boolean mask"): "the same: those it converged on",
    ("lsc/jacobians.py", "_inverse_iteration", "nonzero"):
        "shifts off the real axis get real-arithmetic solves; pairs they leave above the "
        "rounding floor, and the others, the complex LU",
    ("lsc/jacobians.py", "_complex_inverse_iteration", "nonzero"):
        "pairs not yet at the rounding floor get a second shift (one more LU)",
    ("lsc/jacobians.py", "exact_radius", "linalg_eig"): "the exact path's eigenvalues (geev)",
    ("lsc/jacobians.py", "exact_radius", "boolean mask"):
        "LAPACK must not see a non-finite Jacobian: those samples get NaN",
    ("lsc/jacobians.py", "_eigenvector_radius", "linalg_eig"): "the exact path's eigenvalues (geev)",
    ("lsc/jacobians.py", "_eigenvector_radius", "nonzero"):
        "rows whose moduli tie exactly keep eigvals' own backward",
    ("lsc/lru.py", "LRULSC.iterate", "read"):
        "a non-finite radius stops the run; the step's loss and radius are recorded (one read)",
    ("lsc/lru.py", "rescale", "read"):
        "the time and depth factors are clipped on the host (the reference's rule)",
    ("data/shd.py", "dense_batch", "read"):
        "a batch's event count sizes its dense tensor (one sync per SHD batch)",
}
# the LSC's loss.backward(): the derivatives of eig and of the Ritz projection's solve_ex
# call linalg.solve, which checks on the host for a singular matrix
for _step in (("lsc/loop.py", "LSCRun.step"), ("lsc/recurrent.py", "RecurrentLSCRun.step")):
    ALLOWED_SYNCS[(*_step, "_linalg_check_errors")] = "the backward of eig and of the Ritz solve"

# aten ops whose CUDA kernels make the host wait for the device
SYNCING_OPS = {"nonzero", "masked_select", "unique_consecutive", "_unique", "_unique2",
               "unique_dim", "bincount", "linalg_eig", "linalg_eigvals", "_linalg_eigh",
               "_linalg_svd", "_linalg_check_errors", "equal"}
SCALAR_READS = {"_local_scalar_dense", "item", "is_nonzero"}
FACTORY_OUTPUT_OPS = {"empty", "zeros", "ones", "full", "arange", "eye", "linspace", "logspace",
                      "rand", "randn", "randint", "randperm", "scalar_tensor", "empty_strided",
                      "lift_fresh", "normal", "tensor"}


class OnDevice(torch.Tensor):
    """A tensor on ``AUDIT_DEVICE`` as far as every caller can see, with its values in
    ``elem`` (a CPU tensor): the ops of ``DeviceAudit`` compute on those."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        wrapper = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=AUDIT_DEVICE, requires_grad=elem.requires_grad)
        wrapper.elem = elem
        return wrapper

    def __repr__(self):
        return f"OnDevice({self.elem!r})"

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func}: an audited tensor was used outside the audit")


@dataclass(frozen=True)
class Finding:
    kind: str  # "cpu operand", "cpu generator", "cpu tensor", "host sync" or "error" (raised)
    op: str  # the aten op (or Tensor method)
    what: str  # of a host sync: "read" or the op that synchronises (ALLOWED_SYNCS); else ""
    where: str  # innermost lscrepro frame: "lscrepro/x.py:123 in f: the line"
    site: tuple[str, str]  # (file in lscrepro, qualified function) of that frame
    in_step: bool  # inside a step loop (STEP_LOOPS)
    origin: str = ""  # the innermost frame outside torch, where it is not lscrepro's
    allowed: str = ""  # why a host sync is allowed; "" for a violation

    def line(self) -> str:
        origin = f" (via {self.origin})" if self.origin else ""
        status = f"allowed: {self.allowed}" if self.allowed else "VIOLATION"
        loop = "raised" if self.kind == "error" else "step loop" if self.in_step else "outside the step loops"
        return f"{self.kind} [{self.op}] at {self.where}{origin}; {loop}; {status}"


@dataclass
class AuditReport:
    family: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if not f.allowed]

    def sync_counts(self) -> Counter:
        """Host syncs inside the step loops per site (file:function)."""
        return Counter(f"{':'.join(f.site)} ({f.what})" for f in self.findings if f.kind == "host sync" and f.in_step)

    def summary(self) -> str:
        unique = list(dict.fromkeys(f.line() for f in self.violations))
        syncs = ", ".join(f"{site} x{n}" for site, n in sorted(self.sync_counts().items())) or "none"
        head = f"{self.family}: {len(self.violations)} violation(s); step-loop syncs: {syncs}"
        return "\n".join([head, *(f"  {line}" for line in unique)])


def _qualname(frame) -> str:
    """The function's qualified name; a comprehension's frame (Python 3.11) counts as its
    function's, as it does from Python 3.12 on."""
    name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    parts = name.split(".")
    while len(parts) > 2 and parts[-2] == "<locals>" and parts[-1].startswith("<"):
        parts = parts[:-2]
    return ".".join(parts)


def _relative(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


class DeviceAudit(TorchDispatchMode):
    """Runs every op on the CPU values of ``OnDevice`` tensors and records the findings
    (module docstring). Enter it with ``audited()``, which also patches the generators."""

    def __init__(self):
        super().__init__()
        self.findings: list[Finding] = []

    # --- where ------------------------------------------------------------------------------
    def _record(self, kind: str, op: str, unless_library: bool = False, what: str = "") -> None:
        """Record a finding where the stack says; ``unless_library``: not when the code that
        called torch is a library's (site-packages, the standard library)."""
        frame, innermost, origin, caller, in_step = sys._getframe(1), None, "", None, False
        while frame is not None:
            path = Path(frame.f_code.co_filename).resolve()
            ours = _relative(path, PACKAGE_DIR)
            if path != THIS_FILE and _relative(path, TORCH_DIR) is None and caller is None:
                caller = path
                if ours is None:
                    origin = f"{path.name}:{frame.f_lineno} in {_qualname(frame)}"
            if ours is not None and path != THIS_FILE:
                if innermost is None:
                    innermost = (ours, frame)
                in_step |= (ours, _qualname(frame)) in STEP_LOOPS
            frame = frame.f_back
        if unless_library and (caller is None or _is_library(caller)):
            return
        if innermost is None:  # no lscrepro code on the stack: torch's or a library's own
            site, where = ("", ""), origin or "outside lscrepro"
        else:
            ours, frame = innermost
            site = (ours, _qualname(frame))
            where = f"lscrepro/{ours}:{frame.f_lineno} in {site[1]}: {_source_line(frame)}"
        allowed = ""
        if kind == "host sync":
            allowed = "outside the step loops" if not in_step else ALLOWED_SYNCS.get((*site, what), "")
        elif kind in ("cpu tensor", "cpu generator") and not in_step:
            allowed = "outside the step loops"
        self.findings.append(Finding(kind, op, what, where, site, in_step, origin, allowed))

    # --- the ops ------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        tensors = [a for a in _flat(args, kwargs) if isinstance(a, torch.Tensor)]
        on_device = any(isinstance(t, OnDevice) for t in tensors)
        target = kwargs.get("device")
        to_device = isinstance(target, torch.device) and target == AUDIT_DEVICE
        leaves_device = name in ("_to_copy", "copy_") and on_device and self._to_host(name, args, target)
        self._check_operands(name, args, tensors, on_device, to_device, leaves_device)
        if on_device:
            self._check_sync(name, args, kwargs, leaves_device)
        made_on_cpu = not tensors and not to_device and name in FACTORY_OUTPUT_OPS
        if made_on_cpu or name == "lift_fresh" and not on_device:  # lift_fresh: torch.tensor(data)
            self._record("cpu tensor", f"{name} without device", unless_library=True)
        unwrapped_args, unwrapped_kwargs = tree_map(_unwrap, (args, kwargs))
        if to_device:
            unwrapped_kwargs["device"] = torch.device("cpu")
        out = func(*unwrapped_args, **unwrapped_kwargs)
        if leaves_device or not (on_device or to_device):
            return out
        if name == "copy_" and not isinstance(args[0], OnDevice):
            return out
        wrapped = tree_map(lambda o: OnDevice(o) if type(o) is torch.Tensor else o, out)
        return return_and_correct_aliasing(func, args, kwargs, wrapped)

    def _check_sync(self, name: str, args, kwargs, leaves_device: bool) -> None:
        if name in SCALAR_READS or leaves_device:
            self._record("host sync", name, what="read")
        elif name in SYNCING_OPS:
            self._record("host sync", name, what=name)
        elif name in ("index", "index_put", "index_put_", "_index_put_impl_") and _bool_index(args):
            self._record("host sync", f"{name} with a boolean mask", what="boolean mask")
        elif name == "repeat_interleave" and kwargs.get("output_size") is None:
            self._record("host sync", "repeat_interleave without output_size", what=name)

    @staticmethod
    def _to_host(name: str, args, target) -> bool:
        if name == "_to_copy":
            return isinstance(target, torch.device) and target.type == "cpu"
        return not isinstance(args[0], OnDevice)  # copy_(dst, src): dst on the host

    def _check_operands(self, name, args, tensors, on_device, to_device, leaves_device) -> None:
        if not on_device:
            if to_device and tensors:  # x.to(device) of a CPU tensor: an upload
                self._record("cpu tensor", f"{name} from the CPU to the device", unless_library=True)
            return
        if leaves_device:
            return
        cpu = [t for t in tensors if not isinstance(t, OnDevice) and t.dim() > 0]
        if name == "copy_" and isinstance(args[0], OnDevice) and cpu:
            self._record("cpu tensor", "copy_ from the CPU to the device", unless_library=True)
        elif cpu:
            shapes = ", ".join(str(tuple(t.shape)) for t in cpu)
            self._record("cpu operand", f"{name} with CPU tensor(s) {shapes}")


class _GeneratorCheck(TorchFunctionMode):
    """Generators, checked where the Python call still holds the object the code made
    (the dispatcher hands the ops a fresh wrapper without the audit's mark)."""

    def __init__(self, audit: DeviceAudit):
        super().__init__()
        self.audit = audit

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        generator = kwargs.get("generator")
        if generator is not None and not getattr(generator, "audit_on_device", False):
            name = getattr(func, "__name__", str(func))
            device = kwargs.get("device")
            writes_device = (isinstance(device, (torch.device, str)) and torch.device(device) == AUDIT_DEVICE
                             or any(isinstance(a, OnDevice) for a in _flat(args, {})))
            if writes_device:
                self.audit._record("cpu operand", f"{name} on the device with a CPU generator")
            else:
                self.audit._record("cpu generator", f"{name} with a CPU generator", unless_library=True)
        return func(*args, **kwargs)


def _is_library(path: Path) -> bool:
    """Installed code other than lscrepro (which may be installed too)."""
    inside = lambda root: _relative(path, root) is not None  # noqa: E731
    return not inside(PACKAGE_DIR) and any(inside(root) for root in LIBRARY_DIRS)


def _flat(args, kwargs) -> list:
    return tree_leaves((args, kwargs))


def _unwrap(value):
    return value.elem if isinstance(value, OnDevice) else value


def _bool_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices or ())


def _source_line(frame) -> str:
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()


class _AuditGenerator(torch.Generator):
    """``torch.Generator`` during the audit: one asked for ``AUDIT_DEVICE`` is a CPU
    generator marked as on the device."""

    def __new__(cls, device=None):
        on_device = device is not None and torch.device(device) == AUDIT_DEVICE
        generator = super().__new__(cls, device="cpu" if on_device or device is None else device)
        generator.audit_on_device = on_device
        return generator

    def __init__(self, device=None):
        pass


@contextlib.contextmanager
def audited():
    """The audit mode, with ``torch.Generator``, ``torch.tensor``/``as_tensor`` (which build
    a meta tensor without dispatch) and the host reads that bypass dispatch
    (``Tensor.tolist``, ``Tensor.numpy``) patched to report to it."""
    audit = DeviceAudit()
    originals = {"Generator": torch.Generator, "tensor": torch.tensor, "as_tensor": torch.as_tensor}
    methods = {"tolist": torch.Tensor.tolist, "numpy": torch.Tensor.numpy}

    def factory(original):
        def build(data, *args, device=None, **kwargs):
            if device is not None and torch.device(device) == AUDIT_DEVICE:
                with _disable_current_modes():  # made for the device: not a CPU tensor
                    return OnDevice(original(data, *args, **kwargs))
            return original(data, *args, device=device, **kwargs)
        return build

    def host_read(method_name):
        def read(self, *args, **kwargs):
            if isinstance(self, OnDevice):
                audit._record("host sync", f"Tensor.{method_name}", what="read")
                return methods[method_name](self.elem, *args, **kwargs)
            return methods[method_name](self, *args, **kwargs)
        return read

    torch.Generator = _AuditGenerator
    torch.tensor, torch.as_tensor = factory(originals["tensor"]), factory(originals["as_tensor"])
    for name in methods:
        setattr(torch.Tensor, name, host_read(name))
    try:
        with _GeneratorCheck(audit), audit:
            yield audit
    finally:
        torch.Generator, torch.tensor, torch.as_tensor = (originals[k] for k in ("Generator", "tensor", "as_tensor"))
        for name, method in methods.items():
            setattr(torch.Tensor, name, method)


# --- the families, on small synthetic data ---------------------------------------------------
class _Prepared(dict):
    """What ImageTask reads from a prepared cache: arrays by name and ``info``."""

    def __init__(self, arrays: dict, info: dict):
        super().__init__(arrays)
        self.info = info


def _image_task(device):
    from .tasks.images import ImageTask
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 16), ("val", 8), ("test", 8)):
        arrays[f"x_{split}"] = rng.standard_normal((n, 12)).astype(np.float32)
        arrays[f"y_{split}"] = rng.integers(0, 3, n).astype(np.int64)
    return ImageTask(_Prepared(arrays, {"num_classes": 3}), device)


def _ptb_task(device, vocab: int = 11, **options):
    from .tasks.language import WordPTB
    rng = np.random.default_rng(0)
    ids = {split: torch.from_numpy(rng.integers(0, vocab, n)).to(device)
           for split, n in (("train", 80), ("val", 60), ("test", 60))}
    return WordPTB(ids, vocab, maxlen=4, eval_batch_size=2, **options)


def _sl_mnist_task(device):
    from .tasks.spikes import SpikeLatencyMNIST
    rng = np.random.default_rng(0)
    latencies = {s: torch.from_numpy(rng.integers(0, 8, (n, 10)).astype(np.uint8)).to(device)
                 for s, n in (("train", 8), ("val", 4), ("test", 4))}
    labels = {s: torch.from_numpy(rng.integers(0, 3, len(x))).to(device) for s, x in latencies.items()}
    info = {"steps": 6, "channels": 10, "num_classes": 3}
    return SpikeLatencyMNIST(latencies, labels, info, timerepeat=1, eval_batch_size=4)


def _shd_task(device):
    from .tasks.spikes import Heidelberg
    rng = np.random.default_rng(0)
    events, labels = {}, {}
    for split, n in (("train", 8), ("val", 4), ("test", 4)):
        indptr = np.arange(0, 3 * n + 1, 3)
        parts = {"indptr": indptr, "bins": rng.integers(0, 6, 3 * n), "channels": rng.integers(0, 10, 3 * n)}
        events[split] = {k: torch.from_numpy(v).long().to(device) for k, v in parts.items()}
        labels[split] = torch.from_numpy(rng.integers(0, 3, n)).to(device)
    return Heidelberg(events, labels, {"steps": 6, "channels": 10, "num_classes": 3}, timerepeat=1)


# family -> (task builder, model config, LSC procedure ("sites", "recurrent", "lru"), its settings)
_LSC_COMMON = {"sites": {"epochs": 1, "batch_size": 4, "steps_per_epoch": 1, "measure_batches": 1,
                         "check_samples": 4, "shuffle_probability": 1.0, "rescale_probability": 1.0},
               "recurrent": {"batch_size": 2, "batches": 1, "max_steps": 1, "measure_batches": 1,
                             "measure_steps": 1, "shuffle_probability": 1.0},
               "lru": {"iterations": 1, "measure_iterations": 1, "batch_size": 2}}
FAMILIES: dict[str, tuple[Callable, dict, str, dict]] = {
    "ffn": (_image_task, {"name": "dense", "width": 8, "depth": 3, "activation": "relu"}, "sites", {}),
    "ffn-reference": (_image_task, {"name": "dense", "width": 8, "depth": 3, "activation": "relu"},
                      "sites", {"mode": "reference"}),
    "LSTM": (_ptb_task, {"name": "rnn", "cell": "LSTM", "depth": 2, "width": 5, "embedding": 5}, "recurrent", {}),
    "GRU": (_ptb_task, {"name": "rnn", "cell": "GRU", "depth": 2, "width": 5, "embedding": 5}, "recurrent", {}),
    "rsimplernn": (_sl_mnist_task, {"name": "rnn", "cell": "rsimplernn", "depth": 2, "width": 5}, "recurrent", {}),
    "ssimplernn": (_sl_mnist_task, {"name": "rnn", "cell": "ssimplernn", "depth": 2, "width": 5}, "recurrent", {}),
    "maLSNN": (_shd_task, {"name": "rnn", "cell": "maLSNN", "depth": 2, "width": 5}, "recurrent", {}),
    "maLSNNb": (_shd_task, {"name": "rnn", "cell": "maLSNNb", "depth": 2, "width": 5}, "recurrent", {}),
    "lru": (lambda device: _ptb_task(device, timerepeat=1, carry_state=False),
            {"name": "lru", "depth": 2, "width": 6}, "lru", {}),
}


def audit_family(family: str, seed: int = 0) -> AuditReport:
    """One training step and one LSC step of ``family`` (a key of FAMILIES) on
    AUDIT_DEVICE, from task and model construction on, as a job runs them."""
    from .catalog.procedures import PROCEDURES
    from .models import build_model
    from .settings import settings_from
    from .training import TrainSettings, train
    from .catalog.entrypoints import load
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; audited families: {', '.join(FAMILIES)}")
    make_task, model_config, procedure_name, lsc_options = FAMILIES[family]
    entry = PROCEDURES[procedure_name]
    settings_class, procedure = load(entry.settings), load(entry.pretrain)
    lsc_settings = settings_from(settings_class, {**_LSC_COMMON[procedure_name], **lsc_options}, "lsc")
    train_settings = TrainSettings(lr=1e-3, epochs=1, batch_size=2, steps_per_epoch=1, clip_norm=1.0)
    quiet = lambda *args, **kwargs: None  # noqa: E731
    error = None
    with audited() as audit:
        try:
            task = make_task(AUDIT_DEVICE)
            model = build_model(model_config, task.dims, seed).to(AUDIT_DEVICE)
            procedure(model, task, lsc_settings, seed=seed, device=AUDIT_DEVICE, log=quiet)
            train(model, task, train_settings, seed=seed, device=AUDIT_DEVICE, log=quiet)
        except Exception as raised:  # torch's own device checks (e.g. an RNN's state) raise
            error = _error_finding(raised)
    return AuditReport(family, audit.findings + ([error] if error else []))


def _error_finding(error: Exception) -> Finding:
    """An error the audited run raised, at its innermost lscrepro frame."""
    frames = [(tb.tb_frame, tb.tb_lineno) for tb in _traceback(error.__traceback__)]
    ours = [(f, line) for f, line in frames if _relative(Path(f.f_code.co_filename).resolve(), PACKAGE_DIR)
            and Path(f.f_code.co_filename).resolve() != THIS_FILE]
    message = " ".join(str(error).split())[:300]
    if not ours:
        return Finding("error", f"{type(error).__name__}: {message}", "", "outside lscrepro", ("", ""), False)
    frame, line = ours[-1]
    path = _relative(Path(frame.f_code.co_filename).resolve(), PACKAGE_DIR)
    code = linecache.getline(frame.f_code.co_filename, line).strip()
    return Finding("error", f"{type(error).__name__}: {message}", "", f"lscrepro/{path}:{line} in "
                   f"{_qualname(frame)}: {code}", (path, _qualname(frame)), False)


def _traceback(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Device audit: one training and one LSC step of each "
                                     "family on a non-CPU device; exit status 1 on a violation.")
    parser.add_argument("families", nargs="*", default=list(FAMILIES), help=f"of {', '.join(FAMILIES)}")
    parser.add_argument("--all", action="store_true", help="print allowed findings too")
    args = parser.parse_args(argv)
    failed = False
    for family in args.families:
        report = audit_family(family)
        print(report.summary())
        if args.all:
            for line in dict.fromkeys(f.line() for f in report.findings if f.allowed):
                print(f"    {line}")
        failed |= bool(report.violations)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
