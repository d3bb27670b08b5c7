"""The layers of lscrepro (docs/layout.md, "Layers"): no module imports from a layer above its
own, and no import cycle runs between modules. The import graph is read with ast
(lscrepro.workflow.codedeps.direct_imports): nothing is imported."""

from __future__ import annotations

import graphlib
from pathlib import Path

from lscrepro.workflow.codedeps import direct_imports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lscrepro"


def declared_layers(layout: str) -> dict[str, int]:
    """{package or top-level module: its layer} from the first code block under "## Layers":
    a line per layer, its number, then its members."""
    block = layout.split("\n## Layers\n", 1)[1].split("```", 2)[1]
    layers: dict[str, int] = {}
    for line in block.strip().splitlines():
        number, *members = line.split()
        for member in members:
            assert member not in layers, f"docs/layout.md puts {member} in two layers"
            layers[member] = int(number)
    return layers


def member_of(file: str) -> str:
    """lscrepro/lsc/loop.py -> lsc, lscrepro/io.py -> io; the package's own __init__.py -> ""."""
    parts = Path(file).parts[1:]
    return "" if parts == ("__init__.py",) else Path(parts[0]).stem


def import_graph(root: Path) -> dict[str, list[str]]:
    """{file: the package files it imports directly}, less the __init__.py files of its own
    packages: Python runs those before the file anyway, and a package's __init__.py that
    imports its modules makes no cycle."""
    graph = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        file = path.relative_to(root).as_posix()
        own = {f"{parent.as_posix()}/__init__.py" for parent in Path(file).parents if parent.parts}
        graph[file] = [dep for dep in direct_imports(file, root, PACKAGE) if dep not in own | {file}]
    return graph


def upward_imports(graph: dict[str, list[str]], layers: dict[str, int]) -> list[str]:
    """Each import of a file from a layer above its own (the package's __init__.py: layer 0)."""
    def layer(file: str) -> int:
        return layers[member_of(file)] if member_of(file) else 0
    return [f"{file} (layer {layer(file)}) imports {dep} (layer {layer(dep)})"
            for file, deps in graph.items() for dep in deps if layer(dep) > layer(file)]


def import_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle of imports, as the files around it; None where there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return error.args[1]
    return None


def _project() -> tuple[dict[str, list[str]], dict[str, int]]:
    return import_graph(ROOT), declared_layers((ROOT / "docs/layout.md").read_text())


def test_every_package_and_module_is_in_one_declared_layer():
    graph, layers = _project()
    members = {member_of(file) for file in graph} - {""}
    assert members - set(layers) == set(), "put these in a line of docs/layout.md's Layers block"
    assert set(layers) - members == set(), "docs/layout.md's Layers block names what lscrepro/ lacks"


def test_no_module_imports_from_a_layer_above_its_own():
    upward = upward_imports(*_project())
    assert not upward, "move the module, or what it imports, into the layer it serves:\n" + "\n".join(upward)


def test_no_import_cycle_runs_between_modules():
    cycle = import_cycle(_project()[0])
    assert cycle is None, "an import cycle: " + " -> ".join(cycle)


def test_the_checks_find_an_upward_import_and_a_cycle(tmp_path):
    files = {"io.py": "from .plotting.fig import draw\n", "plotting/__init__.py": "",
             "plotting/fig.py": "from .. import io\n\ndef draw():\n    pass\n", "__init__.py": ""}
    for name, text in files.items():
        (tmp_path / PACKAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / name).write_text(text)
    graph = import_graph(tmp_path)
    assert upward_imports(graph, {"io": 1, "plotting": 8}) == [
        "lscrepro/io.py (layer 1) imports lscrepro/plotting/__init__.py (layer 8)",
        "lscrepro/io.py (layer 1) imports lscrepro/plotting/fig.py (layer 8)"]
    assert set(import_cycle(graph)) == {"lscrepro/io.py", "lscrepro/plotting/fig.py"}
