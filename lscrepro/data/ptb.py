"""Word-level Penn Treebank: reader, prepared arrays and an offline demo corpus.

As the reference (py-aromatics ``ptb_generator.generator_2``): the vocabulary is the
sorted set (``np.unique``) of the training text split on single spaces, empty tokens
dropped. PTB lines look like ``" the cat sat \\n"``, so the newline is a token of its
own and plays the part of ``<eos>``; it sorts first, so it has id 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lscrepro.data.formats import FormatError
from lscrepro.io import atomic_path

SPLIT_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}


def _tokens(path: Path) -> list[str]:
    # newline="" keeps the text as stored: a '\r\n' file would otherwise pass as '\n'
    with open(path, encoding="utf-8", newline="") as handle:
        return [token for token in handle.read().split(" ") if token]


def read_ptb(paths: dict[str, Path]) -> dict:
    """{"vocab": sorted tokens of train, "train"/"valid"/"test": int32 ids} from the
    three files (keys train, valid, test, as ``ensure_files("ptb", ...)`` returns)."""
    train = _tokens(paths["train"])
    if not train:
        raise FormatError(f"{paths['train']}: no tokens; a PTB file is space-separated words")
    vocab = [str(word) for word in np.unique(train)]
    word_to_id = {word: i for i, word in enumerate(vocab)}
    result: dict = {"vocab": vocab, "train": np.array([word_to_id[w] for w in train], dtype=np.int32)}
    for split in ("valid", "test"):
        tokens = _tokens(paths[split])
        unknown = next((w for w in tokens if w not in word_to_id), None)
        if unknown is not None:
            raise FormatError(f"{paths[split]}: token {unknown!r} is not in the vocabulary of "
                              f"{paths['train']}; the PTB files must come from one release")
        result[split] = np.array([word_to_id[w] for w in tokens], dtype=np.int32)
    return result


def prepare_arrays(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], dict]:
    """Prepared-cache arrays: train/val/test ids (int32) and the vocabulary as a
    fixed-width unicode array (``.npy`` without pickle)."""
    corpus = read_ptb(files)
    arrays = {"train_ids": corpus["train"], "val_ids": corpus["valid"], "test_ids": corpus["test"],
              "vocab": np.array(corpus["vocab"], dtype=np.str_)}
    return arrays, {"vocab_size": len(corpus["vocab"])}


# --- demo corpus -------------------------------------------------------------------

# A toy grammar of ~200 words: subject nouns choose their verbs and verbs choose their
# objects by group, so the next word is predictable from context and an LSTM learns
# it in seconds. PTB conventions: lowercase, numbers as N, rare words as <unk>.
_GROUPS = 6
_DETERMINERS = ["the", "a", "this", "that", "every", "some", "its", "their"]
_PREPOSITIONS = ["in", "on", "at", "for", "with", "from", "by", "of", "after", "before"]
_ADVERBS = ["also", "still", "again", "quickly", "rarely", "often", "already", "only"]
_EXTRA = ["<unk>", "N", "$", "'s", "and", "but", "said", "million", "percent", "year"]
N_TOKENS = {"train": 30000, "valid": 3000, "test": 3000}
DEMO_SEED = 2308


def _demo_lexicon() -> dict[str, list[list[str]]]:
    """Per group: nouns, adjectives, verbs; 6 groups x (14 + 6 + 8) words."""
    syllables = ["ka", "lo", "mi", "ren", "tu", "sa", "po", "vel", "dor", "fi", "ne", "bru"]
    def words(kind: str, count: int, group: int) -> list[str]:
        # word k of a kind is syllable pair (k // 12, k % 12): unique for k < 144
        return [f"{syllables[k // 12]}{syllables[k % 12]}{kind}" for k in range(group * count, (group + 1) * count)]
    return {"nouns": [words("ot", 14, g) for g in range(_GROUPS)],
            "adjectives": [words("ive", 6, g) for g in range(_GROUPS)],
            "verbs": [words("s", 8, g) for g in range(_GROUPS)]}


def _demo_sentence(rng: np.random.Generator, lex: dict) -> list[str]:
    group = int(rng.integers(_GROUPS))
    object_group = (group + 1) % _GROUPS  # a verb of group g takes objects of group g+1
    pick = lambda words: words[int(rng.integers(len(words)))]
    words = [pick(_DETERMINERS)]
    if rng.random() < 0.5:
        words.append(pick(lex["adjectives"][group]))
    words += [pick(lex["nouns"][group])]
    if rng.random() < 0.3:
        words.append(pick(_ADVERBS))
    words += [pick(lex["verbs"][group]), pick(_DETERMINERS), pick(lex["nouns"][object_group])]
    if rng.random() < 0.4:
        words += [pick(_PREPOSITIONS), "N", pick(["million", "percent", "year", "<unk>"])]
    if rng.random() < 0.2:
        words += [pick(["and", "but"]), pick(lex["nouns"][object_group]), "'s", "$", "N", "said"]
    return words


def demo_corpus(seed: int = DEMO_SEED) -> dict[str, str]:
    """The three demo texts in PTB's layout (" w1 w2 ... \\n" per sentence)."""
    rng = np.random.default_rng(seed)
    lex = _demo_lexicon()
    texts = {}
    for split, n_tokens in N_TOKENS.items():
        lines, count = [], 0
        if split == "train":  # every word once up front, so valid/test never meet an unknown one
            vocabulary = sorted({w for kind in lex.values() for group in kind for w in group}
                                | set(_DETERMINERS + _PREPOSITIONS + _ADVERBS + _EXTRA))
            lines = [vocabulary[i:i + 12] for i in range(0, len(vocabulary), 12)]
            count = len(vocabulary) + len(lines)
        while count < n_tokens:
            lines.append(_demo_sentence(rng, lex))
            count += len(lines[-1]) + 1  # + the newline token
        texts[split] = "".join(" " + " ".join(words) + " \n" for words in lines)
    return texts


def write_demo(data_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ptb.{train,valid,test}.txt of the demo corpus into ``data_dir``; {filename: path}."""
    written = {}
    for split, text in demo_corpus().items():
        path = Path(data_dir) / SPLIT_FILES[split]
        with atomic_path(path) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
        written[path.name] = path
    return written
