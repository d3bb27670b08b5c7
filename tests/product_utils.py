"""Run one step of the product table (lscrepro/workflow/outputs.py) as the workflow does:
workflow_scripts/product.py reads a request file naming the step's function, files and settings."""

from __future__ import annotations

import os

from lscrepro.workflow.outputs import Product, request_file, step_named
from workflow_utils import load_script



def _plain(value):
    return [str(item) for item in value] if isinstance(value, (list, tuple)) else str(value)


def run_step(rule: str, folder: str | os.PathLike, settings: dict | None = None,
             products: dict[str, Product] | None = None, **files) -> str:
    """Make the step of rule ``rule`` from ``files`` (its input and output keywords in the
    table: every output, any inputs); the request file goes into ``folder``. Returns its path."""
    step = step_named(rule, products)
    unknown = set(files) - set(step.inputs) - set(step.outputs)
    missing = set(step.outputs) - set(files)
    assert not unknown and not missing, f"{rule}: unknown {sorted(unknown)}, missing outputs {sorted(missing)}"
    request = {"function": step.function, "settings": settings or {},
               "inputs": {key: _plain(value) for key, value in files.items() if key in step.inputs},
               "outputs": {key: _plain(value) for key, value in files.items() if key in step.outputs}}
    path = request_file(request, folder)
    load_script("workflow_scripts/product.py").main([path])
    return path
