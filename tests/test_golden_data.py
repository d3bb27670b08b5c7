"""The port's data against the reference's generators (goldens ``data_ptb``, ``data_shd``,
``data_slmnist`` from py-aromatics@347b2c8 keras_tools/esoteric_tasks/; crosscheck/goldens/data.py).

Every comparison is exact: ids, spike bins and one-hot latencies are integers or 0/1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crosscheck import golden
from lscrepro.data import latency, ptb, shd
from lscrepro.data.formats import write_idx
from lscrepro.tasks.language import WordPTB
from lscrepro.tasks.spikes import Heidelberg, SpikeLatencyMNIST

PTB_BATCH, PTB_MAXLEN, PTB_REPEAT = 3, 4, 2
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # the port's split -> PTB's file


# --- PTB -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ptb_corpus(tmp_path_factory):
    """The golden's texts as ptb.<split>.txt files, read by the port's reader."""
    g = golden.load("data_ptb")
    folder = tmp_path_factory.mktemp("ptb")
    paths = {}
    for split in SPLITS.values():
        paths[split] = folder / ptb.SPLIT_FILES[split]
        paths[split].write_bytes(str(g[f"text_{split}"]).encode("utf-8"))
    return g, ptb.read_ptb(paths)


def ptb_task(corpus: dict, evaluation: str) -> WordPTB:
    ids = {split: torch.as_tensor(corpus[name]).long() for split, name in SPLITS.items()}
    return WordPTB(ids, len(corpus["vocab"]), maxlen=PTB_MAXLEN, timerepeat=PTB_REPEAT,
                   eval_batch_size=PTB_BATCH, evaluation=evaluation)


def test_ptb_vocabulary(ptb_corpus):
    g, corpus = ptb_corpus
    assert corpus["vocab"] == [str(w) for w in g["vocab"]]
    assert all(int(g[f"{split}_vocab_size"]) == len(corpus["vocab"]) for split in SPLITS)


@pytest.mark.parametrize("split", list(SPLITS))
def test_ptb_first_windows(ptb_corpus, split):
    """The first two windows of each split, x and y, after the step repeat."""
    g, corpus = ptb_corpus
    windows = ptb_task(corpus, "reference").streams(split, PTB_BATCH)
    for k in range(2):
        x, y = next(windows)
        np.testing.assert_array_equal(x.numpy(), g[f"{split}_x{k}"][..., 0])
        np.testing.assert_array_equal(y.numpy(), g[f"{split}_y{k}"])


@pytest.mark.parametrize("split", list(SPLITS))
def test_ptb_windows_per_epoch(ptb_corpus, split):
    """``evaluation: reference`` reads the generator's steps_per_epoch windows; ``full`` every
    window that has its targets (docs/deviations.md), more than the reference's."""
    g, corpus = ptb_corpus
    assert ptb_task(corpus, "reference").windows(split, PTB_BATCH) == int(g[f"{split}_steps_per_epoch"])
    stream = len(corpus[SPLITS[split]]) // PTB_BATCH
    assert ptb_task(corpus, "full").windows(split, PTB_BATCH) == (stream - 1) // PTB_MAXLEN
    assert (stream - 1) // PTB_MAXLEN > int(g[f"{split}_steps_per_epoch"])


# --- SHD -------------------------------------------------------------------------------------
def shd_raw(g):
    n = len(g["labels"])
    return [g[f"times_{i}"] for i in range(n)], [g[f"units_{i}"] for i in range(n)]


def write_shd_h5(path, times, units, labels):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as h5:
        for name, values, dtype in (("times", times, np.float16), ("units", units, np.uint16)):
            dataset = h5.create_group("spikes") if name == "times" else h5["spikes"]
            data = dataset.create_dataset(name, (len(values),), dtype=h5py.vlen_dtype(dtype))
            for i, v in enumerate(values):
                data[i] = v
        h5.create_dataset("labels", data=np.asarray(labels, np.uint16))


def test_shd_binned_spikes(tmp_path):
    """The port's reader (HDF5 -> CSR events -> dense batch) against generate_dataset's bins."""
    g = golden.load("data_shd")
    times, units = shd_raw(g)
    assert g["times_0"].dtype == np.float16  # SHD's dtype: the bin edges are compared in it
    write_shd_h5(tmp_path / "shd_train.h5", times, units, g["labels"])
    events = shd.read_shd(tmp_path / "shd_train.h5")
    np.testing.assert_array_equal(events["labels"], g["y"])
    tensors = {k: torch.as_tensor(events[k]).long() for k in ("indptr", "bins", "channels")}
    rows = torch.arange(len(g["labels"]))
    dense = shd.dense_batch(tensors["indptr"], tensors["bins"], tensors["channels"], rows, shd.STEPS, shd.CHANNELS)
    expected = g["x"].astype(np.float32)
    assert expected.shape == (len(rows), 250, 700) and expected.sum() > 100
    np.testing.assert_array_equal(dense.numpy(), expected)


def test_shd_task_batch():
    """The Heidelberg task's batch: the bins repeated per step (timerepeat 2), the label at every step."""
    g = golden.load("data_shd")
    counts, bins, channels = shd.bin_events(*shd_raw(g))
    events = {"train": {"indptr": torch.as_tensor(np.concatenate([[0], np.cumsum(counts)])),
                        "bins": torch.as_tensor(bins).long(), "channels": torch.as_tensor(channels).long()}}
    labels = {"train": torch.as_tensor(g["y"].astype(np.int64))}
    info = {"steps": shd.STEPS, "channels": shd.CHANNELS, "num_classes": shd.NUM_CLASSES}
    task = Heidelberg(events, labels, info, timerepeat=2)
    x, y = task.batch("train", torch.tensor([2, 0]))
    np.testing.assert_array_equal(x.numpy(), np.repeat(g["x"][[2, 0]].astype(np.float32), 2, axis=1))
    np.testing.assert_array_equal(y.numpy(), np.repeat(g["y"][[2, 0]].astype(np.int64)[:, None], 500, axis=1))


# --- sl-MNIST --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slmnist(tmp_path_factory):
    """The golden's images through the port's preparation (IDX files -> latencies, 80% split)."""
    g = golden.load("data_slmnist")
    folder = tmp_path_factory.mktemp("mnist")
    files = {}
    for name, key in (("train_images", "x_train"), ("train_labels", "y_train"),
                      ("test_images", "x_test"), ("test_labels", "y_test")):
        files[name] = folder / name
        write_idx(files[name], g[key])
    arrays, info = latency.prepare_arrays(files)
    return g, arrays, info


def slmnist_task(arrays, info, encoding):
    return SpikeLatencyMNIST({"train": torch.as_tensor(arrays["train_latencies"])},
                             {"train": torch.as_tensor(arrays["train_labels"])}, info, timerepeat=2,
                             encoding=encoding)


def test_slmnist_latencies(slmnist):
    g, arrays, _ = slmnist
    assert len(arrays["train_labels"]) == int(0.8 * len(g["x_train"]))
    ours = arrays["train_latencies"][g["rows"]].astype(np.int64)
    theirs = g["latencies"]  # getMNIST's float32 steps, -1: none
    # the generator then sets steps above 100 to none and masks step 0 (data_generation)
    fires = (theirs > 0) & (theirs <= 100)
    assert fires.any() and (~fires).any()
    np.testing.assert_array_equal(ours[fires], theirs[fires].astype(np.int64))
    assert (ours[~fires] == latency.NO_SPIKE).all()


def test_slmnist_reshape_is_the_reference(slmnist):
    """``encoding: reshape`` (docs/deviations.md row 14's switch): the generator's batch exactly."""
    g, arrays, info = slmnist
    x, y = slmnist_task(arrays, info, "reshape").batch("train", torch.as_tensor(g["rows"]))
    assert g["x"].shape == (len(g["rows"]), 200, 784)
    np.testing.assert_array_equal(x.numpy(), g["x"])
    np.testing.assert_array_equal(y.numpy(), g["y"].astype(np.int64))


def test_slmnist_transpose_default(slmnist):
    """The default puts pixel j's spike on channel j at its latency: the reference's one-hot
    (B, 784, 100) before its reshape, transposed."""
    g, arrays, info = slmnist
    x, _ = slmnist_task(arrays, info, "transpose").batch("train", torch.as_tensor(g["rows"]))
    onehot = g["x"][:, ::2].reshape(len(g["rows"]), 784, 100)  # undo the step repeat, then the reshape
    expected = np.repeat(onehot.transpose(0, 2, 1), 2, axis=1)
    np.testing.assert_array_equal(x.numpy(), expected)
    assert not np.array_equal(expected, g["x"])
