"""Run one step of a figure or table (a reducer or a drawer of lscrepro/workflow/outputs.py):
call the function its request names with the request's inputs, outputs and settings as
keywords.

    python workflow_scripts/product.py REQUEST.json

The request is a JSON file the workflow writes when it plans (rules/products.smk):
{"function": "module:function", "inputs": {...}, "outputs": {...}, "settings": {...}}.
This file imports no module of the package itself, so that a step's code inputs are this
file and the function's module with what it imports: editing one figure's code reruns that
figure only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from pathlib import Path


def load_function(name: str):
    """The function a "module:function" name points to; a clear error if there is none."""
    module_name, _, function_name = name.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"{name!r}: a step's function is named 'module:function'")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        raise ValueError(f"{name!r}: module {module_name} has no function {function_name!r}")
    return function


def run_request(request: dict) -> None:
    """Call the request's function with its inputs, outputs and settings as keywords."""
    groups = [request.get(key, {}) for key in ("inputs", "outputs", "settings")]
    keywords = {}
    for group in groups:
        clash = sorted(set(keywords) & set(group))
        if clash:
            raise ValueError(f"{request['function']}: keyword(s) {clash} given twice (inputs, outputs and "
                             "settings need distinct names)")
        keywords.update(group)
    load_function(request["function"])(**keywords)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("request", type=Path, help="the step's request, a JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    run_request(json.loads(args.request.read_text()))


if __name__ == "__main__":
    main()
