"""Spiking Heidelberg Digits: sparse binned spikes, reference splits, demo files.

Files are the published gzip'd HDF5 (``shd_{train,test}.h5.gz``; a plain ``.h5`` is
read too): ``spikes/times`` (variable-length, seconds), ``spikes/units`` (variable-
length, 0..699) and ``labels`` (0..19). A ``.gz`` is decompressed into an anonymous
temporary file for the read only, so the data directory keeps just the pinned file.

Binning as the reference (py-aromatics ``heidelberg_preprocess.binary_image_readout``
with dt=4 ms): step i (0..249) holds the spikes with ``t <= i*dt`` not already in an
earlier step, i.e. t in ((i-1)dt, i*dt], step 0 takes t <= 0, and spikes after
249*dt = 0.996 s are dropped. The comparison is made in the file's own time dtype, as
numpy does for ``times <= i*dt``. Values are binary; channel = 700 - unit and unit 0
is dropped, so channel 0 never fires. Samples are stored CSR-like: ``indptr`` (N+1)
into ``bins`` (step) and ``channels``, each sample's events sorted by (step, channel).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from lscrepro.data.formats import FormatError
from lscrepro.io import atomic_path

DT = 4e-3
STEPS = 250  # int(1 / DT) in the reference
CHANNELS = 700
NUM_CLASSES = 20
# The reference's splits (heidelberg_generator.on_epoch_end) hard-code the sizes:
# train = range(int(95 * 8155 / 100)), val = range(that, 8155), test = range(2088). We
# split the files as they are (docs/deviations.md): 95% of all 8156 (cut 7748), val
# the rest, test all of shd_test.
TRAIN_PERCENT = 95
CHUNK = 1024  # samples binned at a time, to bound memory on the real files


@contextlib.contextmanager
def open_shd(path: str | os.PathLike) -> Iterator:
    """An open ``h5py.File`` of an SHD file, ``.h5`` or ``.h5.gz``."""
    import h5py  # imported here: only SHD needs it

    path = Path(path)
    if path.suffix != ".gz":
        with h5py.File(path, "r") as h5:
            yield h5
        return
    with tempfile.TemporaryFile() as plain:
        try:
            with gzip.open(path, "rb") as packed:
                shutil.copyfileobj(packed, plain, 1 << 20)
        except (gzip.BadGzipFile, EOFError) as err:
            raise FormatError(f"{path}: not a complete gzip file ({err})") from err
        plain.seek(0)
        with h5py.File(plain, "r") as h5:
            yield h5


def bin_events(times: list[np.ndarray], units: list[np.ndarray],
               dt: float = DT, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin some samples' spikes: (events per sample int64, bins int16, channels int16)."""
    lengths = np.array([len(t) for t in times], dtype=np.int64)
    if any(len(t) != len(u) for t, u in zip(times, units)):
        raise FormatError("an SHD sample has different numbers of spike times and units")
    dtype = np.result_type(*[t.dtype for t in times]) if times else np.float64
    flat_times = np.concatenate(times).astype(dtype) if lengths.sum() else np.zeros(0, dtype)
    flat_units = np.concatenate(units).astype(np.int64) if lengths.sum() else np.zeros(0, np.int64)
    if flat_units.size and (flat_units.min() < 0 or flat_units.max() >= CHANNELS):
        raise FormatError(f"SHD units must lie in 0..{CHANNELS - 1}, found {flat_units.min()}..{flat_units.max()}")
    # edges[i] = i*dt rounded to the times' dtype; a spike goes to the first i with t <= edges[i]
    edges = (np.arange(steps) * dt).astype(dtype)
    step = np.searchsorted(edges, flat_times, side="left")  # NaN and t > edges[-1] give `steps`
    keep = (step < steps) & (flat_units > 0)
    sample = np.repeat(np.arange(len(times), dtype=np.int64), lengths)
    # one key per (sample, step, channel); unique() sorts them and collapses repeats
    key = np.unique((sample[keep] * steps + step[keep]) * CHANNELS + (CHANNELS - flat_units[keep]))
    counts = np.bincount(key // (steps * CHANNELS), minlength=len(times)).astype(np.int64)
    return counts, ((key // CHANNELS) % steps).astype(np.int16), (key % CHANNELS).astype(np.int16)


def read_shd(path: str | os.PathLike, dt: float = DT, steps: int = STEPS) -> dict[str, np.ndarray]:
    """One SHD file as {"indptr" int64 (N+1), "bins" int16, "channels" int16, "labels" int64}."""
    with open_shd(path) as h5:
        for name in ("spikes/times", "spikes/units", "labels"):
            if name not in h5:
                raise FormatError(f"{path}: no dataset {name!r}; not an SHD file")
        times, units, labels = h5["spikes/times"], h5["spikes/units"], h5["labels"][()].astype(np.int64)
        if not len(times) == len(units) == len(labels):
            raise FormatError(f"{path}: {len(times)} time lists, {len(units)} unit lists, {len(labels)} labels")
        parts = [bin_events(list(times[b:b + CHUNK]), list(units[b:b + CHUNK]), dt, steps)
                 for b in range(0, len(labels), CHUNK)]
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise FormatError(f"{path}: labels must lie in 0..{NUM_CLASSES - 1}")
    counts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    return {"indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "bins": np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int16),
            "channels": np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int16),
            "labels": labels}


def take_rows(events: dict[str, np.ndarray], begin: int, end: int) -> dict[str, np.ndarray]:
    """Samples begin..end-1 of a CSR event set, re-based."""
    lo, hi = events["indptr"][begin], events["indptr"][end]
    return {"indptr": events["indptr"][begin:end + 1] - lo, "bins": events["bins"][lo:hi],
            "channels": events["channels"][lo:hi], "labels": events["labels"][begin:end]}


def reference_splits(n_train_file: int, n_test_file: int) -> dict[str, tuple[str, int, int]]:
    """{split: (file, begin, end)}: train the first 95% of shd_train in file order, val
    the rest, test all of shd_test."""
    cut = int(TRAIN_PERCENT * n_train_file / 100)  # the reference's float arithmetic
    return {"train": ("train", 0, cut), "val": ("train", cut, n_train_file),
            "test": ("test", 0, n_test_file)}


def prepare_arrays(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Prepared-cache arrays {split}_{indptr,bins,channels,labels} for train/val/test."""
    events = {name: read_shd(files[name]) for name in ("train", "test")}
    ranges = reference_splits(len(events["train"]["labels"]), len(events["test"]["labels"]))
    arrays = {}
    for split, (source, begin, end) in ranges.items():
        for part, array in take_rows(events[source], begin, end).items():
            arrays[f"{split}_{part}"] = array
    return arrays, {"steps": STEPS, "channels": CHANNELS, "num_classes": NUM_CLASSES}


def dense_batch(indptr, bins, channels, rows, steps: int, n_channels: int):
    """The (B, steps, n_channels) float32 spikes of samples ``rows``, built on their device.

    ``indptr``, ``bins``, ``channels`` are one split's CSR tensors, ``rows`` the sample
    indices (any order, repeats allowed); only the batch is ever dense.
    """
    import torch

    rows = rows.long()
    starts, ends = indptr[rows].long(), indptr[rows + 1].long()
    lengths = ends - starts
    out = torch.zeros(len(rows), steps, n_channels, dtype=torch.float32, device=indptr.device)
    total = int(lengths.sum())
    if total == 0:
        return out
    sample = torch.repeat_interleave(torch.arange(len(rows), device=indptr.device), lengths, output_size=total)
    # event index = its sample's start + its position within the sample
    first = torch.cumsum(lengths, 0) - lengths
    event = starts[sample] + torch.arange(total, device=indptr.device) - first[sample]
    out[sample, bins[event].long(), channels[event].long()] = 1.0
    return out


# --- demo files --------------------------------------------------------------------

DEMO_SIZES = {"train": 200, "test": 60}
DEMO_SEED = 7


def demo_samples(n: int, rng: np.random.Generator) -> tuple[list, list, np.ndarray]:
    """n samples (times float16, units uint16, labels) of 20 classes: each class is three
    channel bands sweeping up or down at class-specific places, plus background noise
    (some after 1 s and on unit 0, as in the real recordings)."""
    labels = np.arange(n) % NUM_CLASSES
    rng.shuffle(labels)
    times, units = [], []
    for label in labels:
        onset, offset = rng.uniform(0.03, 0.15), rng.uniform(0.6, 0.95)
        parts_t, parts_u = [], []
        for band in range(3):
            t = rng.uniform(onset, offset, size=60)
            slope = (1 if (label + band) % 2 else -1) * 120 * (1 + label % 3)
            centre = 30 + (31 * label + 220 * band) % 640
            parts_t.append(t)
            parts_u.append(centre + slope * (t - onset) + rng.normal(0, 6, size=t.size))
        parts_t.append(rng.uniform(0, 1.2, size=40))  # background
        parts_u.append(rng.integers(0, CHANNELS, size=40))
        t, u = np.concatenate(parts_t), np.clip(np.rint(np.concatenate(parts_u)), 0, CHANNELS - 1)
        order = np.argsort(t, kind="stable")
        times.append(t[order].astype(np.float16))
        units.append(u[order].astype(np.uint16))
    return times, units, labels.astype(np.uint16)


def write_shd(path: str | os.PathLike, times: list, units: list, labels: np.ndarray) -> None:
    """Write samples as a deterministic gzip'd SHD HDF5 file (layout of the release)."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        spikes = h5.create_group("spikes")
        for name, values, dtype in (("times", times, np.float16), ("units", units, np.uint16)):
            dataset = spikes.create_dataset(name, (len(values),), dtype=h5py.vlen_dtype(dtype), track_times=False)
            for i, value in enumerate(values):
                dataset[i] = value
        h5.create_dataset("labels", data=np.asarray(labels, np.uint16), track_times=False)
        extra = h5.create_group("extra")
        keys = [f"digit-{i}" for i in range(NUM_CLASSES)]
        extra.create_dataset("keys", data=np.array(keys, dtype="S"), track_times=False)
        extra.create_dataset("speaker", data=np.zeros(len(labels), np.uint16), track_times=False)
    with atomic_path(path) as tmp:
        # filename="" and mtime=0 keep the temp name and the clock out of the gzip header
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(buffer.getvalue())


def write_demo(data_dir: str | os.PathLike) -> dict[str, Path]:
    """Write demo shd_train.h5.gz / shd_test.h5.gz into ``data_dir``; {filename: path}."""
    rng = np.random.default_rng(DEMO_SEED)
    written = {}
    for split, n in DEMO_SIZES.items():
        path = Path(data_dir) / f"shd_{split}.h5.gz"
        write_shd(path, *demo_samples(n, rng))
        written[path.name] = path
    return written
