"""LSC procedures: one entry per procedure a family pre-trains with (its families entry names
it), each naming its code as "module:attribute" (lscrepro.catalog.entrypoints): what a
pre-training job runs, what lscrepro/cost asks of it, and whether it batches the task's data."""

from __future__ import annotations

from typing import NamedTuple


class Procedure(NamedTuple):
    """An LSC procedure's code, as "module:attribute" entries (lscrepro.catalog.entrypoints):
    what a pre-training job runs, and what lscrepro/cost asks of it."""

    settings: str  # its settings dataclass (the config's lsc section)
    pretrain: str  # (model, task, settings, seed, device, checkpoint, fingerprint, log) -> result
    # (model, settings, inputs, generator, timer) -> {"lsc_step_s": timer(one step), ...}: the
    # step it repeats and its measurement's pieces, timed (or counted) by ``timer``
    cost_step: str
    # (settings, dims, sizes, timed) -> (the stop rule's most steps, the seconds of the before
    # and after measurements from cost_step's pieces)
    step_bound: str
    # whether its lsc.batch_size batches the task's data (the dry run checks those against the
    # splits, lscrepro/workflow/sizecheck.py); the lru procedure draws noise
    batches_data: bool = True


# A family's LSC procedure by name: "sites" drives the LSC sites a model exposes (the dense
# stack), "recurrent" unrolls a deep RNN over time, "lru" is the ResLRU's gradient-free lruLSC.
PROCEDURES = {
    "sites": Procedure("lscrepro.lsc.loop:LSCSettings", "lscrepro.lsc.loop:pretrain_lsc",
                       "lscrepro.lsc.loop:cost_step", "lscrepro.lsc.loop:step_bound"),
    "recurrent": Procedure("lscrepro.lsc.recurrent:RecurrentLSCSettings", "lscrepro.lsc.recurrent:pretrain_recurrent",
                           "lscrepro.lsc.recurrent:cost_step", "lscrepro.lsc.recurrent:step_bound"),
    "lru": Procedure("lscrepro.lsc.lru:LRULSCSettings", "lscrepro.lsc.lru:pretrain_lru",
                     "lscrepro.lsc.lru:cost_step", "lscrepro.lsc.lru:step_bound", batches_data=False),
}
