"""Cross-check harness: runs the reference's own TensorFlow code at the figure-era commits and
writes golden numbers into tests/golden/ (see crosscheck/README.md). Not part of the package;
the tests import only its numpy-only modules (golden, weightmap)."""
