"""Module aliases for the reference's code under the TensorFlow of crosscheck/requirements.txt.

The reference (2023) imported a few Keras-internal modules that later Keras 2 releases
renamed; each alias points the old name at the module that holds the same code now. Loaded
at start-up because crosscheck/run.py puts this folder on PYTHONPATH.
"""

import importlib
import importlib.abc
import importlib.util
import sys

ALIASES = {
    # Keras 2.12 renamed initializers_v2 to initializers (same VarianceScaling class)
    "keras.initializers.initializers_v2": "keras.initializers.initializers",
}


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in ALIASES:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(ALIASES[spec.name])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _AliasFinder())
