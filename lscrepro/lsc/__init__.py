"""LSC pre-training: sites (the local Jacobians a model exposes), per-sample Jacobians
and their spectral radii, and the loop that drives them to a target.

Import from the submodules (``lscrepro.lsc.loop``, ``.jacobians``, ``.sites``): models
import ``sites`` only, and must not pull in (and rerun on edits of) the loop.
"""
