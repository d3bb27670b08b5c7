"""Goldens ``data_ptb``, ``data_shd``, ``data_slmnist``: the reference's data generators on small
files in the real datasets' formats, written here into a temporary folder.

Figure 3's training (stable_drnn@4b667ae ``training.py``) builds its generators with
py-aromatics@347b2c8 ``keras_tools/esoteric_tasks/time_task_redirection.Task``: ``wordptb`` ->
``ptb_generator.PTBGenerator(char_or_word='word', category_coding='')``, ``heidelberg`` ->
``heidelberg_generator.SpokenHeidelbergDigits`` (binning by ``heidelberg_preprocess
.generate_dataset(file, dt=4e-3)``), ``sl_mnist`` -> ``mnist_generators.SeqMNIST(spike_latency=True)``.
Only the downloads are bypassed: the generators' data folders point at the temporary files, and
for MNIST (Keras' ``mnist.load_data`` checks the file's hash and would download) the
``mnist`` module that py-aromatics' ``mnist.py`` calls reads the small ``mnist.npz`` as Keras
would (np.load of x_train, y_train, x_test, y_test).
"""

ERA = "fig3"

import os  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from crosscheck import golden  # noqa: E402

PY_AROMATICS = {"repo": "LuCeHe/py-aromatics", "commit": "347b2c862fccc32096c84053bece1505a459d784"}
TASKS = "keras_tools/esoteric_tasks/"

# --- PTB -------------------------------------------------------------------------------------
PTB_WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "N", "<unk>", "'s", "$", "and", "year"]
PTB_TOKENS = {"train": 150, "valid": 70, "test": 64}
PTB_BATCH, PTB_MAXLEN, PTB_REPEAT, PTB_WINDOWS = 3, 4, 2, 2


def ptb_texts(rng: np.random.Generator) -> dict[str, str]:
    """PTB's layout: ' w1 w2 ... wn \\n' per line; every word appears in train first."""
    texts = {}
    for split, n_tokens in PTB_TOKENS.items():
        lines = [PTB_WORDS] if split == "train" else []
        count = sum(len(line) + 1 for line in lines)
        while count < n_tokens:
            lines.append([PTB_WORDS[i] for i in rng.integers(len(PTB_WORDS), size=int(rng.integers(3, 9)))])
            count += len(lines[-1]) + 1
        texts[split] = "".join(" " + " ".join(line) + " \n" for line in lines)
    return texts


def ptb_golden(rng: np.random.Generator, folder: Path) -> None:
    from pyaromatics.keras_tools.esoteric_tasks.ptb_generator import PTBGenerator

    texts = ptb_texts(rng)
    (folder / "ptb").mkdir()
    for split, text in texts.items():
        (folder / "ptb" / f"ptb.{split}.txt").write_text(text)
    arrays = {f"text_{split}": np.array(text) for split, text in texts.items()}
    for split in ("train", "val", "test"):
        # as time_task_redirection.Task(name='wordptb') builds it (steps_per_epoch None)
        gen = PTBGenerator(data_dir=str(folder), batch_size=PTB_BATCH, epochs=1, steps_per_epoch=None,
                           maxlen=PTB_MAXLEN, repetitions=PTB_REPEAT, train_val_test=split,
                           neutral_phase_length=0, category_coding="", char_or_word="word", config="")
        arrays[f"{split}_steps_per_epoch"] = np.int64(gen.steps_per_epoch)
        arrays[f"{split}_vocab_size"] = np.int64(gen.vocab_size)
        for window in range(PTB_WINDOWS):
            (x, y), = gen.__getitem__(window)
            arrays[f"{split}_x{window}"], arrays[f"{split}_y{window}"] = np.asarray(x), np.asarray(y)
    arrays["vocab"] = np.array([gen.id_to_word[i] for i in range(gen.vocab_size)])
    golden.save("data_ptb", arrays, reference={**PY_AROMATICS, "file": TASKS + "ptb_generator.py",
                                               "function": "PTBGenerator(char_or_word='word').__getitem__"},
                inputs=f"texts text_<split> (numpy default_rng(24): random lines over {len(PTB_WORDS)} words, "
                       f"about {PTB_TOKENS} tokens) written as ptb/ptb.<split>.txt; batch_size {PTB_BATCH}, "
                       f"maxlen {PTB_MAXLEN}, repetitions {PTB_REPEAT}",
                notes=f"<split>_x<k>, <split>_y<k>: the generator's window k (k < {PTB_WINDOWS}) from a "
                      "fresh generator, as __getitem__ returns them ((B, maxlen*rep, 1) ids and (B, maxlen*rep) "
                      "targets); <split>_steps_per_epoch: its windows per epoch; vocab: id_to_word in id order.")


# --- SHD -------------------------------------------------------------------------------------
SHD_SAMPLES = 3


def shd_events(rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Spike times (float16 seconds, as SHD) and units (uint16): random spikes over 0..1.05 s
    with the edge cases placed by hand: t = 0, t on bin edges i*4 ms (as float16 rounds them),
    two spikes in one bin, unit 0 and unit 699, spikes past 0.996 s and past 1 s."""
    times, units = [], []
    for _ in range(SHD_SAMPLES):
        n = int(rng.integers(150, 300))
        t = rng.uniform(0.0, 1.05, n)
        u = rng.integers(0, 700, n)
        edges = np.array([0.0, 0.004, 0.008, 0.1, 0.5, 0.992, 0.996, 1.0])
        t = np.concatenate([t, edges, [0.0101, 0.0102, 0.3, 0.3]])
        u = np.concatenate([u, rng.integers(1, 700, len(edges)), [5, 5, 0, 699]])
        order = np.argsort(t, kind="stable")
        times.append(t[order].astype(np.float16))
        units.append(u[order].astype(np.uint16))
    return times, units, rng.integers(0, 20, SHD_SAMPLES).astype(np.uint16)


def write_shd(path: Path, times, units, labels) -> None:
    """SHD's layout, written with PyTables (the reader generate_dataset uses; it does not read
    h5py's variable-length float16): VLArrays spikes/times (float16), spikes/units (uint16)."""
    import tables

    with tables.open_file(str(path), mode="w") as h5:
        spikes = h5.create_group("/", "spikes")
        for name, values, atom in (("times", times, tables.Float16Atom()), ("units", units, tables.UInt16Atom())):
            array = h5.create_vlarray(spikes, name, atom)
            for v in values:
                array.append(v)
        h5.create_array("/", "labels", np.asarray(labels, np.uint16))


def shd_golden(rng: np.random.Generator, folder: Path) -> None:
    from pyaromatics.keras_tools.esoteric_tasks.heidelberg_preprocess import generate_dataset

    times, units, labels = shd_events(rng)
    path = folder / "shd_train.h5"
    write_shd(path, times, units, labels)
    x, y = generate_dataset(str(path), dt=4e-3)  # what SpokenHeidelbergDigits caches as trainX_4ms.npy
    arrays = {"x": x, "y": y, "labels": labels}
    for i in range(SHD_SAMPLES):
        arrays[f"times_{i}"], arrays[f"units_{i}"] = times[i], units[i]
    golden.save("data_shd", arrays, reference={**PY_AROMATICS, "file": TASKS + "heidelberg_preprocess.py",
                                               "function": "generate_dataset(file, dt=4e-3) "
                                               "(heidelberg_generator.SpokenHeidelbergDigits' cache)"},
                inputs=f"{SHD_SAMPLES} samples of raw events times_<i> (float16 s), units_<i> (uint16), labels "
                       "(numpy default_rng(24) after the PTB texts; edge cases added by hand), written in SHD's "
                       "HDF5 layout (spikes/times, spikes/units as variable-length arrays, labels)",
                notes="x: (samples, 250, 700) float16, the binned spikes; y: the labels as read back.")


# --- sl-MNIST --------------------------------------------------------------------------------
MNIST_TRAIN, MNIST_TEST, SLMNIST_BATCH, SLMNIST_REPEAT, SLMNIST_SEED = 6, 2, 3, 2, 5


def mnist_images(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """uint8 28 x 28 images: every pixel value 0..255 occurs in the training images (the
    latency table), about half the pixels 0 as in MNIST."""
    def draw(n):
        images = rng.integers(0, 256, (n, 28 * 28))
        images[rng.random(images.shape) < 0.5] = 0
        return images
    train = draw(MNIST_TRAIN)
    train[0, :256] = np.arange(256)
    return {"x_train": train.reshape(-1, 28, 28).astype(np.uint8),
            "y_train": rng.integers(0, 10, MNIST_TRAIN).astype(np.uint8),
            "x_test": draw(MNIST_TEST).reshape(-1, 28, 28).astype(np.uint8),
            "y_test": rng.integers(0, 10, MNIST_TEST).astype(np.uint8)}


def read_mnist_npz(path):
    """What Keras' mnist.load_data returns once its file is local (the download bypassed)."""
    with np.load(path, allow_pickle=True) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def slmnist_golden(rng: np.random.Generator, folder: Path) -> None:
    from pyaromatics.keras_tools.esoteric_tasks import mnist as reference_mnist
    from pyaromatics.keras_tools.esoteric_tasks.mnist_generators import SeqMNIST

    images = mnist_images(rng)
    (folder / "mnist").mkdir()
    np.savez(folder / "mnist" / "mnist.npz", **images)
    reference_mnist.mnist = types.SimpleNamespace(load_data=read_mnist_npz)
    # as time_task_redirection.Task(name='sl_mnist') builds it
    gen = SeqMNIST(data_dir=str(folder), epochs=1, batch_size=SLMNIST_BATCH, tvt="train", steps_per_epoch=None,
                   repetitions=SLMNIST_REPEAT, permuted=False, spike_latency=True)
    np.random.seed(SLMNIST_SEED)
    (x, y), = gen.__getitem__(0)
    np.random.seed(SLMNIST_SEED)  # replay the batch's one draw, np.random.choice(len(x), batch_size)
    rows = np.random.choice(len(gen.x), gen.batch_size)
    arrays = {**images, "rows": rows, "x": x, "y": y, "latencies": gen.x[rows],
              "steps_per_epoch": np.int64(gen.steps_per_epoch)}
    golden.save("data_slmnist", arrays,
                reference={**PY_AROMATICS, "file": TASKS + "mnist_generators.py",
                           "function": "SeqMNIST(spike_latency=True).__getitem__ (mnist.py getMNIST)"},
                inputs=f"images x_train ({MNIST_TRAIN}), x_test ({MNIST_TEST}), labels (numpy default_rng(24) "
                       f"after PTB and SHD) saved as mnist/mnist.npz; tvt train, batch_size {SLMNIST_BATCH}, "
                       f"repetitions {SLMNIST_REPEAT}; np.random.seed({SLMNIST_SEED}) before the batch",
                notes="x: (B, 100*rep, 784) float32 spikes as the generator returns them (its reshape of the "
                      "(B, 784, 100) one-hot latencies); y: the labels per step; rows: the training rows the "
                      "batch drew (replayed: the same seed and np.random.choice(len(x), batch_size)); "
                      "latencies: getMNIST's latencies (float32, -1 none) of those rows.")


def main() -> None:
    rng = np.random.default_rng(24)
    with tempfile.TemporaryDirectory(prefix="lscrepro-crosscheck-data-") as tmp:
        folder = Path(tmp)
        ptb_golden(rng, folder)
        shd_golden(rng, folder)
        slmnist_golden(rng, folder)


if __name__ == "__main__":
    main()
