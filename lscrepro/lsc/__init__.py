"""LSC pre-training: sites (the local Jacobians a model exposes), per-sample Jacobians
and their spectral radii, and the loop that drives them to a target.

Import from the submodules (``lscrepro.lsc.loop``, ``.jacobians``, ``.sites``): models
import ``sites`` and ``views`` only (the interfaces they implement), and must not pull in (and
rerun on edits of) the loop. The procedures' entries (settings, pre-training, what cost/ asks of them) are in the catalog,
lscrepro.catalog.procedures.
"""
