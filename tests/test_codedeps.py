"""code_inputs: package files a job's entry file imports, found statically."""

from __future__ import annotations

from pathlib import Path

import pytest

from lscrepro.workflow.codedeps import code_inputs

REPO = Path(__file__).resolve().parents[1]

# A fake package: nested subpackages, relative imports, `from pkg import submodule`,
# an import inside a function, a cycle, third-party imports and a look-alike name.
FAKE = {
    "pkg/__init__.py": '"""Top."""\n',
    "pkg/util.py": "import os\nimport numpy as np\n",
    "pkg/unused.py": "from . import util\n",
    "pkg/a/__init__.py": "from .core import thing\n",
    "pkg/a/core.py": "from ..util import helper\nfrom . import cyc\nthing = 1\n",
    "pkg/a/cyc.py": "from pkg.a import core\n",  # cycle: core -> cyc -> core
    "pkg/b/__init__.py": "",
    "pkg/b/sub/__init__.py": "",
    "pkg/b/sub/deep.py": "def f():\n    from pkg.c import lazy\n    return lazy\n",
    "pkg/c/__init__.py": "NAME = 1\n",
    "pkg/c/lazy.py": "import torch\n",
    "pkg/c/other.py": "",
    "pkg/d/__init__.py": "VALUE = 2\n",
    "pkg/d/heavy.py": "",
    "pkg_extra/__init__.py": "",  # shares a prefix with pkg, but is another package
    "scripts/job.py": (
        "import requests\nimport pkg_extra\nimport pkg.b.sub.deep\n"
        "from pkg import a\nfrom pkg.d import VALUE\n"
    ),
    "scripts/plain.py": "import json\n",
}


@pytest.fixture()
def fake(tmp_path: Path) -> Path:
    for name, text in FAKE.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_script_imports_followed_transitively(fake: Path) -> None:
    assert code_inputs("scripts/job.py", root=fake, package="pkg") == [
        "pkg/__init__.py",
        "pkg/a/__init__.py",
        "pkg/a/core.py",
        "pkg/a/cyc.py",
        "pkg/b/__init__.py",
        "pkg/b/sub/__init__.py",
        "pkg/b/sub/deep.py",
        "pkg/c/__init__.py",
        "pkg/c/lazy.py",
        "pkg/d/__init__.py",
        "pkg/util.py",
        "scripts/job.py",
    ]


def test_entry_inside_package_includes_its_package_inits(fake: Path) -> None:
    assert code_inputs("pkg/a/cyc.py", root=fake, package="pkg") == [
        "pkg/__init__.py",
        "pkg/a/__init__.py",
        "pkg/a/core.py",
        "pkg/a/cyc.py",
        "pkg/util.py",
    ]
    assert code_inputs("pkg/c/__init__.py", root=fake, package="pkg") == [
        "pkg/__init__.py",
        "pkg/c/__init__.py",
    ]


def test_several_entries_are_merged_and_deduplicated(fake: Path) -> None:
    both = code_inputs("scripts/plain.py", "pkg/unused.py", "pkg/util.py", root=fake, package="pkg")
    assert both == ["pkg/__init__.py", "pkg/unused.py", "pkg/util.py", "scripts/plain.py"]
    assert code_inputs(fake / "scripts" / "plain.py", root=fake, package="pkg") == ["scripts/plain.py"]


def test_missing_entry_is_a_value_error_naming_it(fake: Path) -> None:
    with pytest.raises(ValueError, match="scripts/nope.py"):
        code_inputs("scripts/plain.py", "scripts/nope.py", root=fake, package="pkg")


def test_real_repo_fetch_dataset() -> None:
    found = code_inputs("workflow_scripts/fetch_dataset.py", root=REPO)
    for path in (
        "workflow_scripts/fetch_dataset.py",
        "lscrepro/__init__.py",
        "lscrepro/data/__init__.py",
        "lscrepro/data/registry.py",
        "lscrepro/io.py",
    ):
        assert path in found


def test_real_repo_results_are_existing_files() -> None:
    for script in sorted((REPO / "workflow_scripts").glob("*.py")):
        found = code_inputs(script.relative_to(REPO).as_posix(), root=REPO)
        assert all((REPO / path).is_file() for path in found), script.name
        assert all(p.startswith(("lscrepro/", "workflow_scripts/")) for p in found), script.name


MODULE = '''"""A module."""

import os  # why


def f(x):
    """Double it."""
    # a comment
    return 2 * x


class C:
    """A class."""

    LIMIT = 3
'''


@pytest.mark.parametrize("edit, same", [
    (lambda text: text + "\n# a comment at the end\n", True),
    (lambda text: text.replace('"""Double it."""', '"""Double it, as the paper does."""'), True),
    (lambda text: text.replace('    """A class."""\n\n', ""), True),  # a docstring removed
    (lambda text: text.replace("import os  # why", "import os\n\n\n"), True),
    (lambda text: text.replace("LIMIT = 3", "LIMIT = 4"), False),
    (lambda text: text.replace("2 * x", "x * 2"), False),
    (lambda text: text + "EDIT = 1\n", False),
])
def test_a_digest_changes_with_what_the_code_does_only(tmp_path: Path, edit, same) -> None:
    from lscrepro.workflow.codedeps import code_digest, file_digests

    for name, text in (("a.py", MODULE), ("b.py", edit(MODULE))):
        (tmp_path / name).write_text(text)
    digests = file_digests(["a.py", "b.py"], root=tmp_path)
    assert (digests["a.py"] == digests["b.py"]) is same
    # a set's digest: its files' digests and names
    assert code_digest(["a.py"], root=tmp_path) != code_digest(["a.py", "b.py"], root=tmp_path)


ENTRIES = """ENTRIES = (Entry("ptb", "pkg.tasks:Task", title="PTB", metric="perplexity"),)\n"""


@pytest.mark.parametrize("edit, same_for_jobs", [
    (lambda text: text.replace('title="PTB"', 'title="Penn Treebank"'), True),
    (lambda text: text.replace('title="PTB"', 'title="PTB", title_latex="P"'), True),
    (lambda text: text.replace("pkg.tasks:Task", "pkg.tasks:Other"), False),
    (lambda text: text.replace("perplexity", "accuracy"), False),
])
def test_a_catalog_title_is_not_the_jobs_code(tmp_path: Path, edit, same_for_jobs) -> None:
    """The jobs' digests leave a catalog entry's presentation keywords out; everything
    else (tables, figures) and every other module keep them."""
    from lscrepro.workflow.codedeps import file_digests

    for folder in ("catalog", "elsewhere"):
        (tmp_path / folder).mkdir()
        for name, text in (("a.py", ENTRIES), ("b.py", edit(ENTRIES))):
            (tmp_path / folder / name).write_text(text)
    for folder, for_jobs, same in (("catalog", True, same_for_jobs), ("catalog", False, False),
                                   ("elsewhere", True, False)):
        digests = file_digests([f"{folder}/a.py", f"{folder}/b.py"], root=tmp_path, for_jobs=for_jobs)
        assert (digests[f"{folder}/a.py"] == digests[f"{folder}/b.py"]) is same, (folder, for_jobs)


def test_other_files_keep_the_hash_of_their_bytes(tmp_path: Path) -> None:
    import hashlib

    from lscrepro.workflow.codedeps import file_digests

    (tmp_path / "data.txt").write_text("# not a comment\n")
    assert file_digests(["data.txt"], root=tmp_path)["data.txt"] == hashlib.sha256(b"# not a comment\n").hexdigest()


def test_the_source_cache_gives_what_a_parse_gives(tmp_path: Path, fake: Path) -> None:
    # a later process reads imports and digests from the cache instead of parsing
    from lscrepro.workflow import codedeps

    expected = code_inputs("scripts/job.py", root=fake, package="pkg")
    digest = codedeps.code_digest(expected, root=fake)
    cache = codedeps._SourceCache()
    cache.open(tmp_path / "sources.json")
    for path in expected:
        data = (fake / path).read_bytes()
        cache.put(codedeps.hashlib.sha256(data).hexdigest(), codedeps._facts(fake / path))
    cache.save()
    reloaded = codedeps._SourceCache()
    reloaded.open(tmp_path / "sources.json")
    for path in expected:
        key = codedeps.hashlib.sha256((fake / path).read_bytes()).hexdigest()
        assert reloaded.get(key) == codedeps._facts(fake / path), path
    (tmp_path / "sources.json").write_text("{not json")  # a damaged cache is parsed anew
    damaged = codedeps._SourceCache()
    damaged.open(tmp_path / "sources.json")
    assert damaged.get(key) is None and codedeps.code_digest(expected, root=fake) == digest
