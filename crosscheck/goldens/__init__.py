"""Golden generators: one module per group, run by crosscheck/run.py inside the reference's
virtual environment with one era's sources on the path (the module's ERA)."""
