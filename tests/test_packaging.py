"""Every third-party package the project imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

from workflow_utils import REPO

SOURCES = ["lscrepro", "workflow_scripts", "benchmarks"]


def imported_top_level_modules() -> dict[str, str]:
    """{top-level module: a file importing it} over the project's code (absolute imports)."""
    found = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_third_party_imports_are_declared_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *sum(project["optional-dependencies"].values(), [])]
    declared = {normalise(re.split(r"[<>=!~ \[;]", requirement)[0]) for requirement in requirements}
    distributions = importlib.metadata.packages_distributions()
    # the project's own scripts, which benchmarks import as siblings (gpu_check: lsc_step, ...)
    local = {path.stem for folder in [*SOURCES, "tests"] for path in (REPO / folder).glob("*.py")}
    undeclared = {}
    for module, where in imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module == "lscrepro" or module in local:
            continue
        names = {normalise(d) for d in distributions.get(module, [module])}
        if not names & declared:
            undeclared[module] = where
    assert not undeclared, f"imported but not in pyproject dependencies: {undeclared}"
