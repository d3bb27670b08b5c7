"""Readers and writers for the datasets' canonical on-disk formats.

* MNIST: gzipped IDX files (big-endian header: magic ``0x0000 TT DD``, then DD
  32-bit dimensions, then the raw values; TT = 0x08 for unsigned bytes).
* CIFAR-10/100: the "python version" tar.gz of pickled dicts with bytes keys;
  image rows are channel-major (3 x 32 x 32) and are returned as HWC.

The writers produce byte-identical output for identical input (gzip and tar
timestamps fixed at 0, tar members sorted) so that demo data can be hash-pinned.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from lscrepro.io import atomic_path

_IDX_UBYTE = 0x08

CIFAR_LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "label_key": b"labels",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "label_key": b"fine_labels",
    },
}


class FormatError(ValueError):
    """A file does not have the layout its format requires."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes into a uint8 array of its stored shape."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except gzip.BadGzipFile as err:
        raise FormatError(f"{path}: not a gzip file ({err})") from err
    if len(raw) < 4:
        raise FormatError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != _IDX_UBYTE or ndim == 0:
        raise FormatError(
            f"{path}: bad IDX magic number 0x{raw[:4].hex()}; expected 0x000008NN "
            "(unsigned bytes, NN dimensions), e.g. 0x00000803 for images, 0x00000801 for labels"
        )
    header_end = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header_end], dtype=">u4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_end)
    if data.size != int(np.prod(shape)):
        raise FormatError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape).copy()  # copy: a writable array independent of ``raw``


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (uint8; 1-D labels or 3-D images) as a deterministic gzipped IDX file."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise FormatError(f"IDX writer takes uint8 arrays, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise FormatError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    with atomic_path(path) as tmp:
        _write_gzip(tmp, header + np.ascontiguousarray(array).tobytes())


def read_cifar(
    tar_path: str | os.PathLike, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a CIFAR python tar.gz: (x_train, y_train, x_test, y_test).

    Images come back as uint8 (N, 32, 32, 3), labels as int64 (fine labels for
    CIFAR-100). Unpickling is restricted to plain containers and numpy arrays.
    """
    layout = _layout(kind)
    wanted = {f"{layout['folder']}/{member}" for member in layout["train"] + layout["test"]}
    payloads = {}
    # One pass in archive order: looking members up by name would re-decompress the gzip stream each time.
    with tarfile.open(tar_path, "r:gz") as tar:
        for info in tar:
            if info.name in wanted and info.isfile():
                payloads[info.name] = tar.extractfile(info).read()
    missing = sorted(wanted - payloads.keys())
    if missing:
        raise FormatError(f"{tar_path}: missing members {', '.join(missing)}")
    x_train, y_train = _read_batches(payloads, tar_path, layout, "train")
    x_test, y_test = _read_batches(payloads, tar_path, layout, "test")
    return x_train, y_train, x_test, y_test


def write_cifar(
    tar_path: str | os.PathLike,
    kind: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> None:
    """Write uint8 (N, 32, 32, 3) images and labels as a deterministic CIFAR python tar.gz.

    CIFAR-10 training data is spread over the five ``data_batch_*`` members as in the
    original. Label names are generic (``class_00``...); CIFAR-100 coarse labels are
    ``fine // 5`` (the real superclass map is not needed by any reader here).
    """
    layout = _layout(kind)
    num_classes = 10 if kind == "cifar10" else 100
    members: dict[str, bytes] = {}
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x = _check_images(x, split)
        y = _check_labels(y, len(x), num_classes, split)
        names = layout["train" if split == "train" else "test"]
        for member, idx in zip(names, np.array_split(np.arange(len(x)), len(names))):
            members[member] = _pickle_batch(kind, member, x[idx], y[idx])
    members.update(_meta_members(kind, num_classes))

    with atomic_path(tar_path) as tmp:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(_tar_info(layout["folder"], tarfile.DIRTYPE, 0o755))
            for member in sorted(members):
                payload = members[member]
                info = _tar_info(f"{layout['folder']}/{member}", tarfile.REGTYPE, 0o644, len(payload))
                tar.addfile(info, io.BytesIO(payload))
        _write_gzip(tmp, buffer.getvalue())


def _layout(kind: str) -> dict:
    if kind not in CIFAR_LAYOUT:
        raise ValueError(f"unknown CIFAR kind {kind!r}; valid: {', '.join(CIFAR_LAYOUT)}")
    return CIFAR_LAYOUT[kind]


def _write_gzip(path: Path, payload: bytes) -> None:
    # filename="" and mtime=0 keep the temp file's name and the clock out of the header.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(payload)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays: a tar file can't run code when read."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 encode bytes this way
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR pickle refers to {module}.{name}, which is not allowed")
        return super().find_class(module, name)


def _read_batches(payloads: dict[str, bytes], tar_path, layout: dict, split: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for member in layout[split]:
        name = f"{layout['folder']}/{member}"
        batch = _CifarUnpickler(io.BytesIO(payloads[name]), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise FormatError(f"{tar_path}: {name} data has shape {data.shape}, expected (N, 3072)")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # channel-major rows -> HWC
        ys.append(np.asarray(batch[layout["label_key"]], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)


def _check_images(x: np.ndarray, split: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise FormatError(f"x_{split} must be uint8 (N, 32, 32, 3), got {x.dtype} {x.shape}")
    return x


def _check_labels(y: np.ndarray, n: int, num_classes: int, split: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise FormatError(f"y_{split} must be {n} integer labels, got {y.dtype} {y.shape}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise FormatError(f"y_{split} labels must lie in 0..{num_classes - 1}")
    return y


def _pickle_batch(kind: str, member: str, x: np.ndarray, y: np.ndarray) -> bytes:
    rows = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), -1)  # HWC -> channel-major rows
    labels = [int(v) for v in y]
    filenames = [f"{member}_{i:05d}.png".encode() for i in range(len(x))]
    if kind == "cifar10":
        batch = {b"batch_label": member.encode(), b"labels": labels, b"data": rows, b"filenames": filenames}
    else:
        batch = {
            b"filenames": filenames,
            b"batch_label": member.encode(),
            b"fine_labels": labels,
            b"coarse_labels": [v // 5 for v in labels],
            b"data": rows,
        }
    return pickle.dumps(batch, protocol=2)  # protocol 2, like the original archives


def _meta_members(kind: str, num_classes: int) -> dict[str, bytes]:
    names = [f"class_{i:02d}".encode() for i in range(num_classes)]
    if kind == "cifar10":
        meta = {b"num_cases_per_batch": 10000, b"label_names": names, b"num_vis": 3072}
        return {"batches.meta": pickle.dumps(meta, protocol=2)}
    coarse = [f"superclass_{i:02d}".encode() for i in range(num_classes // 5)]
    return {"meta": pickle.dumps({b"fine_label_names": names, b"coarse_label_names": coarse}, protocol=2)}


def _tar_info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
