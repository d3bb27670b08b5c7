"""Sequence-task data: PTB, SHD and spike-latency MNIST readers, registry pins, demo files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import importlib.util
import json
import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pooch
import pytest
import torch

from lscrepro.data import DatasetError, FormatError, ensure_files, write_demo_data
from lscrepro.data import latency, ptb, registry, shd
from lscrepro.data.prepared import expected_sources_from_stamp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    write_demo_data(path)
    return path


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pooch.retrieve must not be called here")

    monkeypatch.setattr(pooch, "retrieve", refuse)


# --- PTB ---------------------------------------------------------------------------


def test_ptb_demo_reads_to_sorted_vocab_with_newline_token(demo_dir):
    files = ensure_files("ptb", demo_dir, offline=True)
    corpus = ptb.read_ptb(files)
    vocab = corpus["vocab"]
    assert vocab == sorted(vocab) and len(set(vocab)) == len(vocab)
    assert vocab[0] == "\n" and "<unk>" in vocab and "N" in vocab
    assert 150 <= len(vocab) <= 250
    assert len(corpus["train"]) >= 30000 and 3000 <= len(corpus["valid"]) < 4000
    for split in ("train", "valid", "test"):
        ids = corpus[split]
        assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() < len(vocab)
    # the ids spell the text back
    text = Path(files["valid"]).read_text()
    assert [w for w in text.split(" ") if w] == [vocab[i] for i in corpus["valid"]]


def test_ptb_demo_has_the_canonical_line_layout(demo_dir):
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        lines = (demo_dir / name).read_text().split("\n")
        assert lines[-1] == ""  # ends with a newline
        assert all(line.startswith(" ") and line.endswith(" ") and "  " not in line for line in lines[:-1])


def test_ptb_hand_made_ids_and_prepared_arrays(tmp_path):
    texts = {"train": " b a \n a c \n", "valid": " c \n", "test": " a b \n"}
    files = {}
    for split, text in texts.items():
        files[split] = tmp_path / f"ptb.{split}.txt"
        files[split].write_text(text)
    arrays, info = ptb.prepare_arrays(files)
    assert info == {"vocab_size": 4}
    assert arrays["vocab"].tolist() == ["\n", "a", "b", "c"] and arrays["vocab"].dtype.kind == "U"
    assert arrays["train_ids"].tolist() == [2, 1, 0, 1, 3, 0]
    assert arrays["val_ids"].tolist() == [3, 0] and arrays["test_ids"].tolist() == [1, 2, 0]
    np.save(tmp_path / "vocab.npy", arrays["vocab"], allow_pickle=False)  # no object arrays


def test_ptb_unknown_token_names_file_and_token(tmp_path):
    files = {split: tmp_path / f"ptb.{split}.txt" for split in ("train", "valid", "test")}
    files["train"].write_text(" a b \n")
    files["valid"].write_text(" a zebra \n")
    files["test"].write_text(" a \n")
    with pytest.raises(FormatError, match=r"ptb\.valid\.txt: token 'zebra'"):
        ptb.read_ptb(files)


# --- SHD ---------------------------------------------------------------------------


def _write_h5(path: Path, times: list, units: list, labels, time_dtype=np.float64) -> Path:
    with h5py.File(path, "w") as h5:
        for name, values, dtype in (("times", times, time_dtype), ("units", units, np.uint16)):
            data = h5.create_dataset(f"spikes/{name}", (len(values),), dtype=h5py.vlen_dtype(dtype))
            for i, value in enumerate(values):
                data[i] = np.asarray(value, dtype)
        h5.create_dataset("labels", data=np.asarray(labels, np.uint16))
    return path


def _dense(events: dict, row: int) -> np.ndarray:
    out = np.zeros((shd.STEPS, shd.CHANNELS), np.float32)
    lo, hi = events["indptr"][row], events["indptr"][row + 1]
    out[events["bins"][lo:hi], events["channels"][lo:hi]] = 1
    return out


def test_shd_bin_edges_channels_and_duplicates(tmp_path):
    times = [[-0.001, 0.0, 0.004, 0.0041, 0.0041, 0.008, 0.996, 0.9961, 1.5], []]
    units = [[5, 6, 7, 7, 7, 0, 8, 9, 10], []]
    plain = _write_h5(tmp_path / "tiny.h5", times, units, [3, 4])
    packed = tmp_path / "tiny.h5.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        events = shd.read_shd(path)
        assert events["labels"].tolist() == [3, 4] and events["indptr"].tolist() == [0, 5, 5]
        got = list(zip(events["bins"].tolist(), events["channels"].tolist()))
        # t<=0 -> step 0; t=dt -> step 1; t just above dt -> step 2, duplicate collapsed;
        # unit 0 dropped; t=0.996 -> last step 249; later spikes dropped; channel = 700 - unit
        assert got == [(0, 694), (0, 695), (1, 693), (2, 693), (249, 692)]
        assert events["bins"].dtype == np.int16 and events["channels"].dtype == np.int16


def _reference_loop(times: np.ndarray, units: np.ndarray, dt: float = 4e-3) -> np.ndarray:
    """The reference's binning written as its loop: each step takes the remaining spikes
    with times <= i*dt (compared in the times' dtype), units > 0 go to channel 700-unit."""
    out = np.zeros((int(1 / dt), 700))
    for i in range(int(1 / dt)):
        now = times <= i * dt
        fired = units[now]
        out[i, 700 - fired[fired > 0]] = 1
        times, units = times[~now], units[~now]
    return out


def test_shd_binning_matches_the_reference_loop_in_float16(tmp_path):
    rng = np.random.default_rng(0)
    # times on and around the float16 step edges, and past 1 s
    edges = (np.arange(250) * 4e-3).astype(np.float16)
    times = [np.sort(np.concatenate([rng.choice(edges, 300), rng.uniform(-0.01, 1.1, 300)])).astype(np.float16)
             for _ in range(3)]
    units = [rng.integers(0, 700, 600).astype(np.uint16) for _ in range(3)]
    events = shd.read_shd(_write_h5(tmp_path / "f16.h5", times, units, [0, 1, 2], np.float16))
    for row in range(3):
        np.testing.assert_array_equal(_dense(events, row), _reference_loop(times[row], units[row]))


def test_shd_demo_shapes_and_channel_zero_never_fires(demo_dir):
    files = ensure_files("shd", demo_dir, offline=True)
    arrays, info = shd.prepare_arrays(files)
    assert info == {"steps": 250, "channels": 700, "num_classes": 20}
    sizes = {"train": 190, "val": 10, "test": 60}  # 95% of the 200 demo training samples
    for split, n in sizes.items():
        indptr, bins, channels = (arrays[f"{split}_{p}"] for p in ("indptr", "bins", "channels"))
        assert indptr.shape == (n + 1,) and indptr[0] == 0 and np.all(np.diff(indptr) > 0)
        assert indptr[-1] == len(bins) == len(channels)
        assert bins.dtype == channels.dtype == np.int16 and indptr.dtype == np.int64
        assert 0 <= bins.min() and bins.max() < 250 and channels.min() >= 1 and channels.max() <= 699
        assert arrays[f"{split}_labels"].dtype == np.int64 and arrays[f"{split}_labels"].shape == (n,)
    assert set(arrays["train_labels"].tolist()) == set(range(20))
    with h5py.File(gzip.open(files["train"]), "r") as h5:  # the canonical layout and dtypes
        assert h5["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert h5["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert h5["labels"].dtype == np.uint16 and len(h5["labels"]) == 200


def test_shd_validation_is_the_last_five_percent_in_file_order(tmp_path):
    n = 40
    times = [[0.01 * (i % 90 + 1)] for i in range(n)]  # sample i fires at a step of its own
    units = [[i + 1] for i in range(n)]
    labels = [i % 20 for i in range(n)]
    files = {"train": _write_h5(tmp_path / "train.h5", times, units, labels),
             "test": _write_h5(tmp_path / "test.h5", times[:7], units[:7], labels[:7])}
    arrays, _ = shd.prepare_arrays(files)
    assert arrays["train_labels"].tolist() == labels[:38] and arrays["val_labels"].tolist() == labels[38:]
    assert arrays["val_channels"].tolist() == [700 - 39, 700 - 40] and arrays["val_indptr"].tolist() == [0, 1, 2]
    assert arrays["test_labels"].tolist() == labels[:7]
    # the real files: 95% of all 8156 (the reference: of 8155, cut 7747), the whole test file
    assert shd.reference_splits(8156, 2264) == {"train": ("train", 0, 7748), "val": ("train", 7748, 8156),
                                                "test": ("test", 0, 2264)}


def test_dense_batch_matches_a_loop_and_builds_only_the_batch():
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 30, 12)
    counts[4] = 0  # a sample without spikes
    indptr = torch.tensor(np.concatenate([[0], np.cumsum(counts)]))
    bins = torch.tensor(rng.integers(0, 9, counts.sum()), dtype=torch.int16)
    channels = torch.tensor(rng.integers(0, 5, counts.sum()), dtype=torch.int16)
    rows = torch.tensor([7, 4, 0, 7, 11])
    out = shd.dense_batch(indptr, bins, channels, rows, steps=9, n_channels=5)
    assert out.shape == (5, 9, 5) and out.dtype == torch.float32
    for b, row in enumerate(rows.tolist()):
        expected = torch.zeros(9, 5)
        for e in range(int(indptr[row]), int(indptr[row + 1])):
            expected[int(bins[e]), int(channels[e])] = 1
        assert torch.equal(out[b], expected)
    empty = shd.dense_batch(indptr, bins, channels, torch.tensor([4]), steps=9, n_channels=5)
    assert empty.shape == (1, 9, 5) and empty.sum() == 0


# --- spike-latency MNIST -----------------------------------------------------------


def test_spike_latencies_match_the_reference_encoding():
    pixels = np.array([[0, 5, 6, 8, 16, 64, 255]], dtype=np.uint8)
    assert latency.spike_latencies(pixels).tolist() == [[255, 255, 93, 68, 33, 8, 2]]
    table = latency.spike_latencies(np.arange(256, dtype=np.uint8)[None])[0]
    spiking = table[table != 255]
    assert len(spiking) == 250 and spiking.min() == 2 and spiking.max() == 93  # p >= 6 only
    with pytest.raises(TypeError, match="uint8"):
        latency.spike_latencies(np.zeros((1, 784), np.float32))


def test_latency_batch_transpose_and_reshape():
    lat = torch.full((2, 784), 255, dtype=torch.uint8)
    lat[0, 5], lat[0, 700], lat[1, 300] = 93, 2, 33
    x = latency.latency_batch(lat, 100, "transpose")
    assert x.shape == (2, 100, 784) and x.dtype == torch.float32 and x.sum() == 3
    assert x[0, 93, 5] == 1 and x[0, 2, 700] == 1 and x[1, 33, 300] == 1
    scrambled = latency.latency_batch(lat, 100, "reshape")
    onehot = torch.zeros(2, 784, 100)
    onehot[0, 5, 93] = onehot[0, 700, 2] = onehot[1, 300, 33] = 1
    assert torch.equal(scrambled, onehot.reshape(2, 100, 784)) and not torch.equal(scrambled, x)
    with pytest.raises(ValueError, match="transpose, reshape"):
        latency.latency_batch(lat, 100, "transposed")


def test_sl_mnist_prepare_splits_80_20(demo_dir):
    arrays, info = latency.prepare_arrays(ensure_files("mnist", demo_dir, offline=True))
    assert info == {"steps": 100, "channels": 784, "num_classes": 10}
    assert arrays["train_latencies"].shape == (1200, 784) and arrays["val_latencies"].shape == (300, 784)
    assert arrays["test_latencies"].shape == (297, 784) and arrays["train_latencies"].dtype == np.uint8
    assert arrays["val_labels"].dtype == np.int64 and len(arrays["val_labels"]) == 300
    assert (arrays["train_latencies"] != 255).any() and arrays["train_latencies"].max() == 255


# --- registry ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset, names", [("ptb", {"train", "valid", "test"}), ("shd", {"train", "test"})])
def test_pinned_registry_entries(dataset, names):
    specs = registry.DATASETS[dataset]
    assert {spec.name for spec in specs} == names
    for spec in specs:
        assert len(spec.digest) == registry.HASH_ALGORITHMS[spec.algorithm] in (32, 64)
        int(spec.digest, 16)
        assert spec.source and spec.url.startswith("https://") and spec.url.endswith("/" + spec.filename)
    assert all(spec.algorithm == "md5" for spec in registry.DATASETS["shd"])
    with pytest.raises(ValueError, match="hex digest"):
        registry.FileSpec("x", "x.bin", "https://example.org/x.bin", "abc", algorithm="md5")


@pytest.mark.parametrize("name", ["ptb.valid.txt", "shd_test.h5.gz"])
def test_wrong_hash_demo_file_is_refused_naming_it(demo_dir, tmp_path, name, no_network):
    data = Path(shutil.copytree(demo_dir, tmp_path / "data"))
    (data / name).write_bytes((data / name).read_bytes() + b"x")
    with pytest.raises(DatasetError, match=f"{name} has the wrong sha256") as info:
        ensure_files("ptb" if name.startswith("ptb") else "shd", data, offline=True)
    assert "make_demo_data" in str(info.value)


def test_wrong_md5_of_canonical_file_names_file_and_pin(tmp_path, no_network):
    (tmp_path / "shd_train.h5.gz").write_bytes(b"not SHD")
    with pytest.raises(DatasetError) as info:
        ensure_files("shd", tmp_path)
    message = str(info.value)
    assert "shd_train.h5.gz has the wrong md5: expected d47c9825dee33347913e8ce0f2be08b0" in message
    assert hashlib.md5(b"not SHD").hexdigest() in message and "left in place" in message


def test_md5_pinned_download_lands(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    payload = b"stand-in SHD bytes"
    (served / "shd_test.h5.gz").write_bytes(payload)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/shd_test.h5.gz"
        good = registry.FileSpec("test", "shd_test.h5.gz", url, hashlib.md5(payload).hexdigest(), algorithm="md5")
        monkeypatch.setitem(registry.DATASETS, "shd", (good,))
        assert ensure_files("shd", tmp_path / "data")["test"].read_bytes() == payload
        bad = registry.FileSpec("test", "shd_test.h5.gz", url, "0" * 32, algorithm="md5")
        monkeypatch.setitem(registry.DATASETS, "shd", (bad,))
        with pytest.raises(DatasetError, match="shd_test.h5.gz"):
            ensure_files("shd", tmp_path / "other")
        assert not any((tmp_path / "other").glob("*"))
    finally:
        server.shutdown()
        server.server_close()


def test_pinned_sources_agree_with_the_fetch_stamp(demo_dir, tmp_path):
    assert registry.pinned_sources("shd", tmp_path) == {
        "shd_train.h5.gz": "md5:d47c9825dee33347913e8ce0f2be08b0",
        "shd_test.h5.gz": "md5:3062a80ec0c5719404d5b02e166543b1"}
    spec = importlib.util.spec_from_file_location("fetch_dataset", ROOT / "workflow_scripts" / "fetch_dataset.py")
    fetch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch)
    for dataset in ("ptb", "shd"):
        stamp = tmp_path / f"{dataset}.json"
        fetch.main(["--dataset", dataset, "--data-dir", str(demo_dir), "--offline", "--stamp", str(stamp)])
        pinned = registry.pinned_sources(dataset, demo_dir)
        assert expected_sources_from_stamp(stamp) == pinned
        assert pinned == {name: registry.sha256_file(demo_dir / name) for name in pinned}  # demo: sha256
        assert json.loads(stamp.read_text())["demo"] is True


def test_sequence_demo_files_are_byte_deterministic(demo_dir, tmp_path):
    written = {**ptb.write_demo(tmp_path), **shd.write_demo(tmp_path)}
    assert set(written) == {"ptb.train.txt", "ptb.valid.txt", "ptb.test.txt", "shd_train.h5.gz", "shd_test.h5.gz"}
    for name, path in written.items():
        assert path.read_bytes() == (demo_dir / name).read_bytes(), name
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
