"""Prepared dataset cache: bit-identical round trip, memory mapping, stale/corrupt detection, atomic replace."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lscrepro.data import DatasetError, file_specs, load_dataset, write_demo_data
from lscrepro.data import prepared
from lscrepro.data.registry import sha256_file
from lscrepro.data.prepared import (
    CacheError,
    StaleCacheError,
    expected_sources_from_stamp,
    load_prepared,
    prepare,
)

ROOT = Path(__file__).resolve().parents[1]
ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    write_demo_data(path)
    return path


@pytest.fixture(scope="module")
def mnist_cache(demo_dir, tmp_path_factory) -> Path:
    """A read-only shared cache; tests that damage a cache make their own."""
    return prepare("mnist", demo_dir, tmp_path_factory.mktemp("cache") / "mnist")


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "workflow_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sources(dataset: str, data_dir: Path) -> dict[str, str]:
    return {spec.filename: spec.sha256 for spec in file_specs(dataset, data_dir)}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# --- round trip --------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_round_trip_is_bit_identical(demo_dir, tmp_path, dataset):
    reference = load_dataset(dataset, demo_dir, offline=True)
    out = prepare(dataset, demo_dir, tmp_path / dataset)
    assert out == tmp_path / dataset
    for mmap in (True, False):
        loaded = load_prepared(out, expected_sources=_sources(dataset, demo_dir), mmap=mmap)
        assert (loaded.name, loaded.dataset) == (reference.name, reference.name)
        assert loaded.info == {"num_classes": reference.num_classes}
        assert sorted(loaded.arrays) == sorted(ARRAYS)
        for name in ARRAYS:
            want, got = getattr(reference, name), loaded[name]
            assert (got.dtype, got.shape) == (want.dtype, want.shape)
            assert np.asarray(got).tobytes() == want.tobytes(), name


def test_meta_records_sources_and_layout(demo_dir, mnist_cache):
    meta = json.loads((mnist_cache / "meta.json").read_text())
    assert meta["format_version"] == prepared.FORMAT_VERSION
    assert (meta["name"], meta["dataset"], meta["info"]) == ("mnist", "mnist", {"num_classes": 10})
    assert meta["sources"] == _sources("mnist", demo_dir)
    # each array's file hash too, which status.py --verify checks
    assert meta["arrays"]["x_train"] == {"shape": [1350, 784], "dtype": "<f4",
                                         "sha256": sha256_file(mnist_cache / "x_train.npy")}
    assert meta["arrays"]["y_test"] == {"shape": [297], "dtype": "<i8",
                                        "sha256": sha256_file(mnist_cache / "y_test.npy")}


def test_a_cache_without_array_hashes_still_loads(demo_dir, tmp_path):
    # caches prepared before the hashes were recorded
    cache = prepare("mnist", demo_dir, tmp_path / "old")
    meta = json.loads((cache / "meta.json").read_text())
    for entry in meta["arrays"].values():
        del entry["sha256"]
    (cache / "meta.json").write_text(json.dumps(meta))
    assert load_prepared(cache)["y_test"].shape == (297,)


def test_arrays_are_memory_mapped(mnist_cache):
    splits = load_prepared(mnist_cache)
    for name in ARRAYS:
        array = splits[name]
        assert isinstance(array, np.memmap), name
        assert Path(array.filename).resolve() == (mnist_cache / f"{name}.npy").resolve()
        assert not array.flags.writeable  # mode "r": a job cannot alter the shared cache
    assert not any(isinstance(load_prepared(mnist_cache, mmap=False)[n], np.memmap) for n in ARRAYS)


# --- stale and corrupt caches ------------------------------------------------------


def test_stale_sources_are_refused(demo_dir, mnist_cache):
    expected = _sources("mnist", demo_dir)
    load_prepared(mnist_cache, expected_sources=expected)  # current: accepted

    changed = dict(expected, **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(StaleCacheError, match="t10k-labels-idx1-ubyte.gz has sha256 0{64}") as info:
        load_prepared(mnist_cache, expected_sources=changed)
    message = str(info.value)
    assert str(mnist_cache) in message and "prepare_dataset" in message and "delete" in message
    assert isinstance(info.value, DatasetError)

    with pytest.raises(StaleCacheError, match="cifar-10-python.tar.gz"):
        load_prepared(mnist_cache, expected_sources=_sources("cifar10", demo_dir))


def test_other_format_version_is_stale(demo_dir, tmp_path):
    out = prepare("mnist", demo_dir, tmp_path / "c")
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps(dict(meta, format_version=prepared.FORMAT_VERSION + 1)))
    with pytest.raises(StaleCacheError, match="format version"):
        load_prepared(out)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


@pytest.mark.parametrize("damage, culprit, reason", [
    (lambda c: _truncate(c / "x_train.npy"), "x_train.npy", "mmap length"),
    (lambda c: (c / "x_val.npy").write_bytes(b"\x93NUMPY"), "x_val.npy", "EOF"),
    (lambda c: (c / "y_test.npy").unlink(), "y_test.npy", "No such file"),
    (lambda c: np.save(c / "y_val.npy", np.zeros(3, np.int64)), "y_val.npy", "meta.json says"),
    (lambda c: (c / "meta.json").write_text('{"format_version": 2,'), "meta.json", "cannot read"),
    (lambda c: (c / "meta.json").write_text('{"format_version": 2}'), "meta.json", "lacks one of"),
    (lambda c: (c / "meta.json").unlink(), "meta.json", "No such file"),
])
def test_corrupt_cache_gives_a_clear_error(demo_dir, tmp_path, damage, culprit, reason):
    out = prepare("mnist", demo_dir, tmp_path / "c")
    damage(out)
    with pytest.raises(CacheError, match=reason) as info:
        load_prepared(out, expected_sources=_sources("mnist", demo_dir))
    message = str(info.value)
    assert str(out / culprit) in message and "prepare_dataset" in message


def test_truncated_array_without_mmap(demo_dir, tmp_path):
    out = prepare("mnist", demo_dir, tmp_path / "c")
    _truncate(out / "x_train.npy")
    with pytest.raises(CacheError, match="x_train.npy"):
        load_prepared(out, mmap=False)


def test_missing_cache_dir(tmp_path):
    with pytest.raises(CacheError, match=re.escape(f"{tmp_path / 'nowhere'} does not exist") + ".*prepare_dataset"):
        load_prepared(tmp_path / "nowhere")


# --- atomic (re)writes -------------------------------------------------------------


def test_reprepare_replaces_existing_dir(demo_dir, tmp_path):
    out = prepare("mnist", demo_dir, tmp_path / "c")
    (out / "leftover.txt").write_text("from an older cache")
    prepare("cifar10", demo_dir, out)
    assert load_prepared(out, expected_sources=_sources("cifar10", demo_dir)).name == "cifar10"
    assert not (out / "leftover.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c"]  # no temp or set-aside dirs remain


def test_failed_prepare_keeps_old_cache(demo_dir, tmp_path, monkeypatch):
    out = prepare("mnist", demo_dir, tmp_path / "c")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls, real_save = [], np.save

    def failing_save(path, array, **kwargs):  # the third array fails to write
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real_save(path, array, **kwargs)

    monkeypatch.setattr(prepared.np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        prepare("cifar10", demo_dir, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _hidden(tmp_path) == []

    with pytest.raises(DatasetError):  # files missing: fails before anything is written
        prepare("cifar10", tmp_path / "empty", out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _hidden(tmp_path) == []


# --- stamp and command line --------------------------------------------------------


def test_expected_sources_from_stamp(demo_dir, tmp_path, mnist_cache):
    stamp = tmp_path / "mnist.json"
    _load_script("fetch_dataset").main(
        ["--dataset", "mnist", "--data-dir", str(demo_dir), "--offline", "--stamp", str(stamp)])
    expected = expected_sources_from_stamp(stamp)
    assert expected == _sources("mnist", demo_dir)
    load_prepared(mnist_cache, expected_sources=expected)

    stamp.write_text('{"files": {"a.gz": {"path": "a.gz"}}}')
    with pytest.raises(DatasetError, match=re.escape(str(stamp)) + ".*fetch_dataset"):
        expected_sources_from_stamp(stamp)
    with pytest.raises(DatasetError, match="fetch_dataset"):
        expected_sources_from_stamp(tmp_path / "missing.json")


def test_cli(demo_dir, tmp_path, capsys):
    script = _load_script("prepare_dataset")
    out = tmp_path / "prepared" / "cifar10"
    script.main(["--prepared", "cifar10", "--data-dir", str(demo_dir), "--out", str(out), "--offline"])
    assert str(out) in capsys.readouterr().out
    assert load_prepared(out, expected_sources=_sources("cifar10", demo_dir))["x_train"].shape == (1350, 3072)

    with pytest.raises(SystemExit, match="prepare_dataset: .*cifar-10-python.tar.gz"):
        script.main(["--prepared", "cifar10", "--data-dir", str(tmp_path / "empty"), "--out", str(out), "--offline"])
