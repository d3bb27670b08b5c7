"""LSC pre-training: per-sample Jacobians and their spectral radii, and the loop that
drives them to a target."""

from .jacobians import RadiusMethod, batched_jacobian, spectral_radius, square_block
from .loop import LSCResult, LSCSettings, measure_radii, pretrain_lsc

__all__ = ["LSCResult", "LSCSettings", "RadiusMethod", "batched_jacobian", "measure_radii",
           "pretrain_lsc", "spectral_radius", "square_block"]
