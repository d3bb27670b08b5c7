"""Code inputs of workflow jobs, derived from the import graph of their entry files.

Snakemake does not track imports, so each rule lists the package files its job runs
as inputs; editing a module then reruns exactly the jobs that import it. The graph is
read statically with `ast` (nothing is imported): this runs while the Snakefile is
parsed, so it must be fast and must not need the job's dependencies (torch, ...).

Limits: imports built from strings (importlib.import_module) are not seen; imports
under `if TYPE_CHECKING:` are counted (harmless: a few extra reruns at most).
"""

from __future__ import annotations

import ast
import functools
import os
import re
from pathlib import Path

__all__ = ["code_inputs"]


def code_inputs(*entries: str | Path, root: str | Path = ".", package: str = "lscrepro") -> list[str]:
    """Repo-relative POSIX paths of `entries` and every file of `package` they import.

    Imports are followed transitively (absolute, relative, and those inside functions);
    importing `package.a.b` also runs `package/__init__.py` and `package/a/__init__.py`,
    so those are included. An entry inside the package counts as imported as a module.
    Results are sorted and de-duplicated. Files are parsed once per process (cached),
    so edits made after the first call are not seen by later calls in that process.
    """
    base = _norm(root)
    found: set[str] = set()
    for entry in entries:
        path = _norm(base / entry)  # an absolute entry stays as it is
        if not path.is_file():
            raise ValueError(f"code_inputs: entry file {str(entry)!r} does not exist under {base}")
        if base not in path.parents:
            raise ValueError(f"code_inputs: entry file {str(entry)!r} is outside root {base}")
        found |= _closure(path, base, package)
    return sorted(found)


def _norm(path: str | Path) -> Path:
    """Absolute, normalised path without resolving symlinks: a stable cache key."""
    return Path(os.path.normpath(os.path.abspath(path)))


@functools.lru_cache(maxsize=None)
def _closure(entry: Path, root: Path, package: str) -> frozenset[str]:
    """The entry and every package file reachable from it (visited set: cycles are fine)."""
    parts = _module_parts(entry, root, package)
    seen = {entry, *(_module_files(parts, root) if parts else ())}
    todo = list(seen)
    while todo:
        for dep in _direct_deps(todo.pop(), root, package):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return frozenset(p.relative_to(root).as_posix() for p in seen)


@functools.lru_cache(maxsize=None)
def _direct_deps(path: Path, root: Path, package: str) -> tuple[Path, ...]:
    """Package files that importing `path` executes directly (not transitively)."""
    current = _package_of(path, root, package)
    files: list[Path] = []
    for level, module, names in _imports(path, package):
        if level:
            # Relative imports need a containing package; beyond its top Python raises.
            if current is None or level > len(current):
                continue
            parts = current[: len(current) - level + 1] + (tuple(module.split(".")) if module else ())
        else:
            parts = tuple(module.split("."))
        if parts[0] != package:
            continue  # stdlib or third party
        files += _module_files(parts, root)
        # `from pkg import name`: name may be a submodule or subpackage; else nothing is added.
        for name in names:
            if name != "*":
                files += _module_files(parts + (name,), root)
    return tuple(dict.fromkeys(files))


@functools.lru_cache(maxsize=None)
def _imports(path: Path, package: str) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """(level, module, imported names) of every import statement anywhere in the file."""
    source = path.read_bytes()
    # Parsing dominates the cost; a file that neither names the package nor has a
    # relative import cannot import from the package, so it is not parsed.
    if not re.search(rb"\b%s\b|\bfrom[\s\\]+\." % re.escape(package.encode()), source):
        return ()
    found: list[tuple[int, str, tuple[str, ...]]] = []
    for node in _statements(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", tuple(a.name for a in node.names)))
    return tuple(found)


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(tree: ast.Module):
    """Every statement at any depth (inside functions, classes, if/try/with/match too).
    Imports are statements, so expressions are skipped: ~10x fewer nodes than ast.walk."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        for field in _BODIES:
            todo += getattr(node, field, ())


def _module_files(parts: tuple[str, ...], root: Path) -> list[Path]:
    """Files Python runs to import module `parts`: each package __init__.py on the way,
    then the module itself; stops where the name is no longer a file (an attribute)."""
    files: list[Path] = []
    path = root
    for part in parts:
        path = path / part
        if (path / "__init__.py").is_file():  # a package wins over a same-named module
            files.append(path / "__init__.py")
        elif path.with_suffix(".py").is_file():
            files.append(path.with_suffix(".py"))
            break
        elif not path.is_dir():  # namespace packages (no __init__) are descended into
            break
    return files


def _package_of(path: Path, root: Path, package: str) -> tuple[str, ...] | None:
    """The file's __package__ as name parts (what relative imports start from);
    None for files outside the package, such as workflow scripts."""
    try:
        rel = path.relative_to(root / package)
    except ValueError:
        return None
    return (package, *rel.parent.parts)


def _module_parts(path: Path, root: Path, package: str) -> tuple[str, ...] | None:
    """Module name of a file inside the package, as parts; None outside it."""
    current = _package_of(path, root, package)
    if current is None or path.suffix != ".py":
        return None
    return current if path.stem == "__init__" else current + (path.stem,)
