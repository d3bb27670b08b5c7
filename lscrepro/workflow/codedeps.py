"""Code inputs of workflow jobs, derived from the import graph of their entry files, and
the digests that say when that code changed.

Snakemake does not track imports, so each rule lists the package files its job runs
as inputs; editing a module then reruns exactly the jobs that import it. The graph is
read statically with `ast` (nothing is imported): this runs while the Snakefile is
parsed, so it must be fast and must not need the job's dependencies (torch, ...).

A file's digest (``file_digests``, ``code_digest``) is the hash of its normalised syntax
tree: ``ast.dump`` without docstrings, so that a comment, a docstring or a blank line
changes nothing and reruns nothing, while any change of what the code does reruns the
jobs that run it. Other files (data, not Python) keep the hash of their bytes. The
digests depend on the Python version's ``ast`` (a new Python reruns every job once).

What a parse yields (imports and digest) is kept on disk by the SHA-256 of the file's
bytes (``use_source_cache``): a dry run then reads and hashes the files but parses none
that did not change.

Limits: imports built from strings (importlib.import_module) are not seen; imports
under `if TYPE_CHECKING:` are counted (harmless: a few extra reruns at most).
"""

from __future__ import annotations

import ast
import atexit
import functools
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["code_inputs", "code_digest", "direct_imports", "file_digests", "use_source_cache"]


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


def direct_imports(file: str | Path, root: str | Path = ".", package: str = "lscrepro") -> list[str]:
    """Repo-relative POSIX paths of the `package` files that importing `file` runs directly:
    the modules it imports and the package __init__.py files on their way (not transitively;
    tests/test_layers.py checks the package's layers on this graph)."""
    base = _norm(root)
    return [dep.relative_to(base).as_posix() for dep in _direct_deps(_norm(base / file), base, package)]


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
    for level, module, names in _imports(path):
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


Imports = tuple[tuple[int, str, tuple[str, ...]], ...]


def _imports(path: Path) -> Imports:
    """(level, module, imported names) of every import statement anywhere in the file."""
    return _facts(path)[1]


@functools.lru_cache(maxsize=None)
def _facts(path: Path) -> tuple[str, Imports]:
    """The file's digest and imports: from the source cache, else from one parse."""
    data = path.read_bytes()
    key = hashlib.sha256(data).hexdigest()
    if path.suffix != ".py":  # data and other files: their bytes are what they mean
        return key, ()
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    tree = ast.parse(data, filename=str(path))
    imports = _import_list(tree)  # before the digest, which takes the docstrings out of the tree
    facts = (_tree_digest(tree), imports)
    _CACHE.put(key, facts)
    return facts


def _import_list(tree: ast.Module) -> Imports:
    found: list[tuple[int, str, tuple[str, ...]]] = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or "", tuple(a.name for a in node.names)))
    return tuple(found)


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _tree_digest(tree: ast.Module) -> str:
    """SHA-256 of the syntax tree without docstrings; comments, blank lines and line
    numbers are not in ``ast.dump``'s output to begin with. Removes the docstrings."""
    for node in _statements(tree):
        first = node.body[0] if isinstance(node, _DOCUMENTED) and node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str):
            node.body = node.body[1:]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


# A catalog entry's presentation: what tables and figures show, never what a job computes.
# In the jobs' digests (``for_jobs``) these keyword arguments of the catalog's modules are
# left out, so a new title reruns the tables and figures that show it, not the jobs.
CATALOG_DIR = "catalog"
PRESENTATION_KEYWORDS = frozenset({"title", "title_latex", "metric_title", "metric_title_latex"})


def file_digests(files, root: str | Path = ".", for_jobs: bool = False) -> dict[str, str]:
    """{file: digest} (module docstring) of repo-relative ``files``; ``for_jobs``: the
    catalog's presentation keywords left out."""
    base = _norm(root)
    digest = _job_digest if for_jobs else (lambda path: _facts(path)[0])
    return {str(name): digest(_norm(base / name)) for name in files}


def code_digest(files, root: str | Path = ".", for_jobs: bool = False) -> str:
    """One digest of ``files`` together: it changes when any of them changes meaning, or
    when a file joins or leaves the set."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(file_digests(files, root, for_jobs).items()))
    return hashlib.sha256(lines.encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def _job_digest(path: Path) -> str:
    """The file's digest, for a catalog module without its entries' presentation keywords
    (a few small files: parsed again, not cached on disk)."""
    if path.suffix != ".py" or path.parent.name != CATALOG_DIR:
        return _facts(path)[0]
    tree = ast.parse(path.read_bytes(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            node.keywords = [k for k in node.keywords if k.arg not in PRESENTATION_KEYWORDS]
    return _tree_digest(tree)


class _SourceCache:
    """Parse results by the SHA-256 of a file's bytes, kept in a JSON file (a pure function
    of the bytes and of this Python's ``ast``, so an entry is never stale)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.stored: dict = {}
        self.used: dict = {}
        self.changed = False

    def open(self, path: Path) -> None:
        self.path = path
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: parse again
            stored = {}
        self.stored = stored if isinstance(stored, dict) else {}
        atexit.register(self.save)

    def get(self, key: str) -> tuple[str, Imports] | None:
        entry = self.stored.get(key)
        try:
            facts = (str(entry["digest"]), tuple((int(level), str(module), tuple(map(str, names)))
                                                 for level, module, names in entry["imports"]))
        except (TypeError, KeyError, ValueError):
            return None
        self.used[key] = entry
        return facts

    def put(self, key: str, facts: tuple[str, Imports]) -> None:
        digest, imports = facts
        self.used[key] = {"digest": digest, "imports": [[lvl, mod, list(names)] for lvl, mod, names in imports]}
        self.changed = self.path is not None

    def save(self) -> None:
        """Write the entries this process used (so old versions drop out), if one was new;
        by rename, so that concurrent Snakemake processes never read half a file."""
        if not self.changed:
            return
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump(self.used, handle)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; workflow folders are shared on clusters
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:  # only a cache: the next run parses again
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


_CACHE = _SourceCache()


def use_source_cache(folder: str | Path) -> None:
    """Keep parse results in ``folder`` (the workflow: .snakemake/lscrepro), one file per
    Python version, written when the process exits."""
    _CACHE.open(Path(folder) / f"sources-py{sys.version_info[0]}.{sys.version_info[1]}.json")


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
