"""Dataset layer: canonical formats, demo data, pinned-hash registry, splits."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import io
import json
import pickle
import shutil
import tarfile
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pooch
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from lscrepro.data import (
    DatasetError,
    FormatError,
    ensure_files,
    load_dataset,
    load_raw,
    read_cifar,
    read_idx,
    write_cifar,
    write_demo_data,
    write_idx,
)
from lscrepro.data import registry
from lscrepro.data.demo import N_TRAIN

ROOT = Path(__file__).resolve().parents[1]
N_DIGITS = 1797


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    write_demo_data(path)
    return path


def _copy_demo(demo_dir: Path, dest: Path) -> Path:
    shutil.copytree(demo_dir, dest)
    return dest


def _listing(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- formats -----------------------------------------------------------------------


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    write_idx(tmp_path / "img.gz", images)
    write_idx(tmp_path / "lab.gz", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "img.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "lab.gz"), labels)
    header = gzip.decompress((tmp_path / "img.gz").read_bytes())[:16]
    assert header == bytes.fromhex("00000803 00000007 0000001c 0000001c")
    assert gzip.decompress((tmp_path / "lab.gz").read_bytes())[:4] == bytes.fromhex("00000801")


def test_idx_rejects_bad_magic_and_non_uint8(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(bytes.fromhex("00000c01 00000001") + b"\0\0\0\0"))  # int32 labels
    with pytest.raises(FormatError, match="magic"):
        read_idx(bad)
    (tmp_path / "plain").write_bytes(b"not gzip at all")
    with pytest.raises(FormatError, match="gzip"):
        read_idx(tmp_path / "plain")
    with pytest.raises(FormatError, match="uint8"):
        write_idx(tmp_path / "x.gz", np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize("kind, num_classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_round_trip_and_channel_major_layout(tmp_path, kind, num_classes):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, size=(13, 32, 32, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    y_train = rng.integers(0, num_classes, size=13)
    y_test = rng.integers(0, num_classes, size=4)
    path = tmp_path / f"{kind}.tar.gz"
    write_cifar(path, kind, x_train, y_train, x_test, y_test)

    got = read_cifar(path, kind)
    for expected, actual in zip((x_train, y_train, x_test, y_test), got):
        np.testing.assert_array_equal(actual, expected)
    assert got[0].dtype == np.uint8 and got[1].dtype == np.int64

    # The stored rows must be channel-major, as in the real archives: red plane first.
    folder, first = ("cifar-10-batches-py", "data_batch_1") if kind == "cifar10" else ("cifar-100-python", "train")
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
        batch = pickle.load(tar.extractfile(f"{folder}/{first}"), encoding="bytes")
    assert (f"{folder}/batches.meta" if kind == "cifar10" else f"{folder}/meta") in names
    np.testing.assert_array_equal(batch[b"data"][0, :1024], x_train[0, :, :, 0].ravel())
    np.testing.assert_array_equal(batch[b"data"][0, 1024:2048], x_train[0, :, :, 1].ravel())


def test_cifar_reader_refuses_code_in_pickles(tmp_path):
    evil = pickle.dumps({b"data": functools.partial(print, "pwned")}, protocol=2)
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for member in ("train", "test"):
            info = tarfile.TarInfo(f"cifar-100-python/{member}")
            info.size = len(evil)
            tar.addfile(info, io.BytesIO(evil))
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        read_cifar(path, "cifar100")


# --- demo data ---------------------------------------------------------------------


def test_demo_is_byte_deterministic(demo_dir, tmp_path):
    write_demo_data(tmp_path)
    assert _listing(tmp_path) == _listing(demo_dir)
    assert {line.split()[0] for line in (demo_dir / "registry.txt").read_text().splitlines()[1:]} == {
        spec.filename for specs in registry.DATASETS.values() for spec in specs
    }


def test_demo_mnist_labels_are_the_digits(demo_dir):
    x_train, y_train, x_test, y_test = load_raw("mnist", demo_dir, offline=True)
    assert x_train.shape == (N_TRAIN, 28, 28) and x_test.shape == (N_DIGITS - N_TRAIN, 28, 28)
    assert Counter(np.concatenate([y_train, y_test]).tolist()) == Counter(load_digits().target.tolist())
    assert x_train.dtype == np.uint8 and x_train.max() == 255 and x_train[:, :2].max() == 0  # padded border


def test_demo_cifar100_uses_all_100_classes(demo_dir):
    _, y_train, _, y_test = load_raw("cifar100", demo_dir, offline=True)
    labels = np.concatenate([y_train, y_test])
    assert labels.min() == 0 and labels.max() == 99 and len(np.unique(labels)) == 100
    np.testing.assert_array_equal(labels // 10, load_digits().target)


# --- splits ------------------------------------------------------------------------


@pytest.mark.parametrize("name, dim, num_classes", [("mnist", 784, 10), ("cifar10", 3072, 10), ("cifar100", 3072, 100)])
def test_load_dataset_shapes_and_standardisation(demo_dir, name, dim, num_classes):
    splits = load_dataset(name, demo_dir, offline=True)
    n_val = N_TRAIN - int(N_TRAIN * 0.9)
    assert splits.name == name and splits.num_classes == num_classes
    assert splits.x_train.shape == (N_TRAIN - n_val, dim)
    assert splits.x_val.shape == (n_val, dim)
    assert splits.x_test.shape == (N_DIGITS - N_TRAIN, dim)
    for x, y in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val), (splits.x_test, splits.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int64 and len(x) == len(y)
        assert y.min() >= 0 and y.max() < num_classes
    assert abs(float(splits.x_train.mean())) < 1e-4
    assert abs(float(splits.x_train.std()) - 1) < 1e-4
    assert abs(float(splits.x_val.mean())) > 1e-4  # val/test reuse the training part's statistics


def test_validation_split_matches_reference(demo_dir):
    x_train, y_train, x_test, _ = load_raw("cifar10", demo_dir, offline=True)
    flat = x_train.reshape(len(x_train), -1).astype(np.float64)
    ref_tr, ref_val, ref_ytr, ref_yval = train_test_split(flat, y_train, test_size=0.10, random_state=42)
    mean, std = ref_tr.mean(), ref_tr.std()

    splits = load_dataset("cifar10", demo_dir, offline=True)
    np.testing.assert_array_equal(splits.y_train, ref_ytr)
    np.testing.assert_array_equal(splits.y_val, ref_yval)
    np.testing.assert_allclose(splits.x_val, (ref_val - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(splits.x_test, (x_test.reshape(len(x_test), -1) - mean) / std, rtol=1e-5, atol=1e-5)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="cifar10, cifar100, mnist"):
        load_dataset("svhn", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        ensure_files("MNIST", tmp_path, offline=True)


# --- registry ----------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pooch.retrieve must not be called here")

    monkeypatch.setattr(pooch, "retrieve", refuse)


def test_wrong_hash_is_rejected_and_left_alone(demo_dir, tmp_path, no_network):
    data = _copy_demo(demo_dir, tmp_path / "data")
    target = data / "train-labels-idx1-ubyte.gz"
    raw = target.read_bytes()
    target.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))
    before = _listing(data)
    with pytest.raises(DatasetError) as info:
        ensure_files("mnist", data)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert registry.read_local_registry(data)["train-labels-idx1-ubyte.gz"] in message
    assert registry.sha256_file(target) in message
    assert "make_demo_data" in message and "left in place" in message
    assert _listing(data) == before


def test_wrong_hash_of_canonical_file_is_not_overwritten(tmp_path, no_network):
    bogus = tmp_path / "cifar-10-python.tar.gz"
    bogus.write_bytes(b"certainly not CIFAR-10")
    with pytest.raises(DatasetError) as info:
        ensure_files("cifar10", tmp_path)
    message = str(info.value)
    assert "cifar-10-python.tar.gz" in message and registry.DATASETS["cifar10"][0].sha256 in message
    assert "Delete it" in message
    assert _listing(tmp_path) == {"cifar-10-python.tar.gz": b"certainly not CIFAR-10"}


def test_missing_file_offline_names_file_directory_url_and_hash(tmp_path, no_network):
    with pytest.raises(DatasetError) as info:
        ensure_files("cifar100", tmp_path, offline=True)
    message = str(info.value)
    spec = registry.DATASETS["cifar100"][0]
    for part in ("cifar-100-python.tar.gz", str(tmp_path), spec.url, spec.sha256):
        assert part in message
    assert not any(tmp_path.iterdir())


def test_missing_demo_file_is_not_downloaded(demo_dir, tmp_path, no_network):
    data = _copy_demo(demo_dir, tmp_path / "data")
    (data / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*make_demo_data"):
        ensure_files("mnist", data)


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """Serve tmp_path/"served" on loopback; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _point_cifar10_at(monkeypatch, base_url: str, sha256: str) -> None:
    spec = registry.DATASETS["cifar10"][0]
    patched = registry.FileSpec(spec.name, spec.filename, base_url + spec.filename, sha256)
    monkeypatch.setitem(registry.DATASETS, "cifar10", (patched,))


def test_download_with_wrong_hash_leaves_nothing(tmp_path, http_server, monkeypatch):
    served, base_url = http_server
    (served / "cifar-10-python.tar.gz").write_bytes(b"tampered bytes")
    _point_cifar10_at(monkeypatch, base_url, registry.DATASETS["cifar10"][0].sha256)
    data = tmp_path / "data"
    with pytest.raises(DatasetError) as info:
        ensure_files("cifar10", data)
    assert "cifar-10-python.tar.gz" in str(info.value)
    assert not data.exists() or not any(data.iterdir())  # no final file, no temp file


def test_download_with_right_hash_lands(tmp_path, http_server, monkeypatch):
    served, base_url = http_server
    payload = b"stand-in archive bytes"
    (served / "cifar-10-python.tar.gz").write_bytes(payload)
    _point_cifar10_at(monkeypatch, base_url, hashlib.sha256(payload).hexdigest())
    paths = ensure_files("cifar10", tmp_path / "data")
    assert paths["archive"].read_bytes() == payload
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cifar-10-python.tar.gz"]


# --- command-line scripts ----------------------------------------------------------


def test_cli_scripts(tmp_path):
    _load_script("make_demo_data").main(["--data-dir", str(tmp_path / "data")])
    fetch = _load_script("fetch_dataset")
    stamp = tmp_path / "stamp.json"
    fetch.main(["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--offline", "--stamp", str(stamp)])
    recorded = json.loads(stamp.read_text())
    assert recorded["dataset"] == "mnist" and recorded["demo"] is True
    assert set(recorded["files"]) == {spec.filename for spec in registry.DATASETS["mnist"]}
    for name, entry in recorded["files"].items():
        assert registry.sha256_file(tmp_path / "data" / name) == entry["sha256"]

    with pytest.raises(SystemExit, match="cifar-10-python.tar.gz"):
        fetch.main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "empty"), "--offline"])
