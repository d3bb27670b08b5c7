"""The lru family's run keys and variant order, shared by Figure 4 and Table 1 (ResLRU on
PTB), and the task whose metric directions they use."""

from __future__ import annotations

LRU_TASK = "wordptb"  # the task of every lru run: the direction of perplexity is its class's
LRU_KEYS = ["setup", "depth", "variant", "clip", "seed"]
VARIANT_ORDER = ["default", "lsc", "lsc_half", "lsc_unbalanced"]


def run_key(key: tuple) -> tuple:
    """(setup, depth, variant, clip, seed) with canonical types, so 0 and 0.0 are one clip."""
    if not isinstance(key, tuple) or len(key) != len(LRU_KEYS):
        raise ValueError(f"history key {key!r} is not a ({', '.join(LRU_KEYS)}) tuple")
    setup, depth, variant, clip, seed = key
    return str(setup), int(depth), str(variant), float(clip), int(seed)
