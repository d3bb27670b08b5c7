"""Plan-time check of a job's batch sizes against the data they batch (rules/common.smk).

A batch larger than its split does not fail: the image and spike tasks quietly run it as
one full batch, so `batch_size: 100000000` would train full-batch without a word. PTB is
cut into B streams, and a B that leaves no window fails only once the job runs. So the
dry run refuses both, with the split's size.

The rule for knowing a split's size: a prepared cache's meta.json where one exists (the
shapes of its arrays); else, for the demo data (`data.demo: true`), the sizes its
generator will write (lscrepro.data.demo), so that a fresh clone's demo dry run checks
them too; else the real dataset's sizes (lscrepro.data.preparations).
`data.allow_full_batch: true` lets a batch larger than its split run as one full batch
on purpose; PTB's windows are always checked.
No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

from ..catalog.procedures import PROCEDURES
from ..data.preparations import preparation
from ..tasks import prepared_of

# wordptb's defaults (lscrepro.tasks.language.WordPTB; tests/test_speccheck.py holds them equal)
PTB_DEFAULTS = {"maxlen": 100, "evaluation": "reference"}
# the array whose first dimension is a split's size, per preparation layout
_SIZE_ARRAYS = ("y_{split}", "{split}_labels", "{split}_ids")


def split_sizes(prepared: str, cache: str, demo: bool) -> tuple[dict[str, int], str] | None:
    """({split: size}, where the sizes come from), or None where they are not known."""
    meta = Path(cache) / "meta.json"
    if meta.is_file():
        try:
            arrays = json.loads(meta.read_text())["arrays"]
            sizes = {split: arrays[name.format(split=split)]["shape"][0]
                     for split in ("train", "val", "test") for name in _SIZE_ARRAYS
                     if name.format(split=split) in arrays}
            return sizes, f"from {meta}"
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # a damaged cache: its job fails with the cache's own message
    if demo:
        return demo_split_sizes(prepared), "the demo data's; no prepared cache yet"
    return preparation(prepared).canonical_sizes, "the real dataset's; no prepared cache yet"


def demo_split_sizes(prepared: str) -> dict[str, int]:
    """{split: size} of the demo data's preparation ``prepared`` before its files exist: the
    demo generator's own sizes, cut by the preparation's split rule (images and sl-MNIST
    give no test size: their test split is what sklearn's digits leave over, and no batch
    of samples is checked against it). Imported here: only a fresh demo grid needs them."""
    from ..data import demo, latency, ptb, shd, splits

    if prepared == "ptb":  # the generated texts: their length depends on the sentences drawn
        # tokens as ptb.read_ptb counts them: space-separated, the newline one of them
        counts = {split: sum(1 for token in text.split(" ") if token) for split, text in ptb.demo_corpus().items()}
        return {"train": counts["train"], "val": counts["valid"], "test": counts["test"]}
    if prepared == "shd":
        ranges = shd.reference_splits(shd.DEMO_SIZES["train"], shd.DEMO_SIZES["test"])
        return {split: end - begin for split, (_, begin, end) in ranges.items()}
    if prepared == "sl_mnist":
        cut = int(latency.TRAIN_SPLIT * demo.N_TRAIN)
        return {"train": cut, "val": demo.N_TRAIN - cut}
    # images: sklearn's train_test_split holds out ceil(fraction x n) for validation
    fraction = inspect.signature(splits.split_images).parameters["val_fraction"].default
    held_out = math.ceil(fraction * demo.N_TRAIN)
    return {"train": demo.N_TRAIN - held_out, "val": held_out}


def _batches_data(procedure: str | None) -> bool:
    """Whether the LSC procedure's batches come from the task's data (the lru procedure's
    are noise), per its entry in lscrepro.catalog.procedures."""
    return procedure in PROCEDURES and PROCEDURES[procedure].batches_data


def batches(spec: dict) -> list[tuple[str, int, tuple[str, ...]]]:
    """(spec path, batch size, the splits it batches) of the job's data batches."""
    if spec["kind"] == "train":
        found = [("train.batch_size", spec["train"].get("batch_size"), ("train",))]
        found.append(("task.eval_batch_size", spec["task"].get("eval_batch_size"), ("val", "test")))
    elif _batches_data(spec.get("lsc_procedure")):  # pre-training: measured on val too
        found = [("lsc.batch_size", spec["lsc"].get("batch_size"), ("train", "val"))]
    else:
        found = []
    return [(path, size, splits) for path, size, splits in found if isinstance(size, int)]


def batch_problem(spec: dict, sizes: tuple[dict[str, int], str], allow_full_batch: bool):
    """(spec path, what is wrong) of the first batch that does not fit its data, or None."""
    recipe = preparation(prepared_of(spec["task"]))
    for path, size, splits in batches(spec):
        if recipe.unit == "tokens":
            problem = next(filter(None, (_stream_problem(spec["task"], size, split, sizes) for split in splits)), None)
        elif path == "task.eval_batch_size" or allow_full_batch:
            problem = None  # evaluation batches of samples: a short last batch is fine
        else:
            problem = _sample_problem(size, "train", sizes)
        if problem:
            return path, problem
    return None


def _sample_problem(size: int, split: str, sizes: tuple[dict[str, int], str]) -> str | None:
    count, origin = sizes[0].get(split), sizes[1]
    if count is None or size <= count:
        return None
    return (f"= {size:,} is larger than the {split} split ({count:,} samples, {origin}): the job "
            f"would run it as one full batch of {count:,} without a word. Lower it, or set "
            "data.allow_full_batch: true to train so on purpose")


def windows(tokens: int, rows: int, maxlen: int, evaluation: str) -> int:
    """Windows an epoch reads from ``tokens`` cut into ``rows`` streams (WordPTB.windows)."""
    length = tokens // rows
    return length // maxlen - 2 if evaluation == "reference" else (length - 1) // maxlen


def _stream_problem(task: dict, rows: int, split: str, sizes: tuple[dict[str, int], str]) -> str | None:
    tokens, origin = sizes[0].get(split), sizes[1]
    maxlen = task.get("maxlen", PTB_DEFAULTS["maxlen"])
    evaluation = task.get("evaluation", PTB_DEFAULTS["evaluation"])
    if tokens is None or windows(tokens, rows, maxlen, evaluation) >= 1:
        return None
    rule = "N // B // maxlen - 2" if evaluation == "reference" else "(N // B - 1) // maxlen"
    need = 3 * maxlen if evaluation == "reference" else maxlen + 1
    return (f"= {rows:,} streams leave {tokens // rows:,} tokens each of the {split} split "
            f"(N = {tokens:,} tokens, {origin}), which give {windows(tokens, rows, maxlen, evaluation)} "
            f"windows of task.maxlen {maxlen} (task.evaluation {evaluation!r}: {rule} must be >= 1); "
            f"the largest batch with a window is {max(tokens // need, 0):,}. Lower the batch or maxlen")
