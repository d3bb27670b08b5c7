"""LSC pre-training: sites (the local Jacobians a model exposes), per-sample Jacobians
and their spectral radii, and the loop that drives them to a target.

Import from the submodules (``lscrepro.lsc.loop``, ``.jacobians``, ``.sites``): models
import ``sites`` and ``views`` only (the interfaces they implement), and must not pull in (and
rerun on edits of) the loop.
"""

# A family's LSC procedure -> its settings class and pre-training function, as
# "module:attribute" (lscrepro.catalog.entrypoints): "sites" drives the LSC sites a model exposes
# (the dense stack), "recurrent" unrolls a deep RNN over time, "lru" is the ResLRU's
# gradient-free lruLSC.
PROCEDURES = {
    "sites": ("lscrepro.lsc.loop:LSCSettings", "lscrepro.lsc.loop:pretrain_lsc"),
    "recurrent": ("lscrepro.lsc.recurrent:RecurrentLSCSettings", "lscrepro.lsc.recurrent:pretrain_recurrent"),
    "lru": ("lscrepro.lsc.lru:LRULSCSettings", "lscrepro.lsc.lru:pretrain_lru"),
}
