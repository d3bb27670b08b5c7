"""Job families: one entry per family, and the job kinds every family has.

A family is data: the config keys whose values span its grid, where each grid value goes in
the spec, which grid axes its pre-training depends on, its path layout and its LSC
procedure (a key of lscrepro.catalog.procedures). With its config section, rules/jobs.smk makes
its pretrain_<family>, train_<family> and summarize_<family> rules from one template.
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    # wildcard -> (config key listing its values, dotted spec path the value is set at)
    axes: dict[str, tuple[str, str]]
    train_dir: str  # run folder under results/<family>/, with one wildcard per axis and the variant
    # pre-training folder: only the wildcards a pre-training depends on (the other axes share it)
    pretrain_dir: str
    lsc_procedure: str = "sites"  # a key of lscrepro.catalog.procedures.PROCEDURES

    @property
    def run_keys(self) -> list[str]:
        """The keys that identify a training run, in path order."""
        return _fields(self.train_dir)

    @property
    def pretrain_keys(self) -> list[str]:
        """The keys that identify a pre-training (a subset of run_keys), in path order."""
        return _fields(self.pretrain_dir)


def _fields(pattern: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(pattern) if name]


FAMILIES: dict[str, Family] = {
    "ffn": Family(
        axes={"dataset": ("datasets", "task.dataset"), "activation": ("activations", "model.activation"),
              "lr": ("learning_rates", "train.lr"), "seed": ("seeds", "seed")},
        train_dir="{dataset}/{activation}/{variant}/lr{lr}/seed{seed}",
        pretrain_dir="pretrained/{dataset}/{activation}/{variant}/seed{seed}",
    ),
    # Figure 3: six deep RNNs on three tasks; width, batch size, lr and epochs per task and
    # net come from the config's `overrides` (the reference's default_config)
    "rnn": Family(
        axes={"task": ("tasks", "task.name"), "net": ("nets", "model.cell"),
              "depth": ("depths", "model.depth"), "seed": ("seeds", "seed")},
        train_dir="{task}/{net}/depth{depth}/{variant}/seed{seed}",
        pretrain_dir="pretrained/{task}/{net}/depth{depth}/{variant}/seed{seed}",
        lsc_procedure="recurrent",
    ),
    # Figure 4 and Table 1: the residual LRU on PTB. A setup (fig4, table1) is a bundle of
    # settings from `overrides`; clipping is an axis of training only, so both clipped and
    # unclipped runs start from the same pre-training.
    "lru": Family(
        axes={"setup": ("setups", "run.setup"), "depth": ("depths", "model.depth"),
              "clip": ("clip_norms", "train.clip_norm"), "seed": ("seeds", "seed")},
        train_dir="{setup}/depth{depth}/{variant}/clip{clip}/seed{seed}",
        pretrain_dir="pretrained/{setup}/depth{depth}/{variant}/seed{seed}",
        lsc_procedure="lru",
    ),
}


@dataclass(frozen=True)
class JobKind:
    folder: str  # the Family attribute holding its folder pattern
    outputs: dict[str, str]  # output name -> file, the report first (rules/jobs.smk)
    log: str


# The two jobs of every family, as rules/jobs.smk writes them and status.py reads them
JOB_KINDS: dict[str, JobKind] = {
    "pretrain": JobKind("pretrain_dir", {"report": "pretrain.json", "weights": "weights.pt"}, "pretrain.log"),
    "train": JobKind("train_dir", {"metrics": "metrics.json", "history": "history.csv"}, "train.log"),
}
