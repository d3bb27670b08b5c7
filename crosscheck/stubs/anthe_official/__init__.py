"""Stub of ``anthe_official`` (LuCeHe's ANTHE package), which stable_spike's
``neural_models/full_model.py``@d253a69 imports at its top for ``HSoftPOS`` alone.

The package is not on PyPI in a form that installs next to the reference's TensorFlow 2.12
without replacing it, so this stub stands in. It is safe for the goldens: ``full_model``
uses ``HSoftPOS`` only when the comments contain ``hsoftpos`` (``ModelBuilder``'s embedding),
which no run of the paper's grid, and no generator here, sets; the ``reslruffn`` block
(``Expert`` -> ``ResLRUFFN``) never touches it. Calling the stub raises, so a path that did
need it would fail loudly instead of computing something else.
"""
