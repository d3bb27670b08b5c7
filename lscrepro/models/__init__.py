"""Networks, each built from a config mapping."""

from .dense import ACTIVATIONS, INITIALIZATIONS, DenseStack, keras_truncated_normal_

__all__ = ["ACTIVATIONS", "INITIALIZATIONS", "DenseStack", "keras_truncated_normal_"]
