"""Numbers in README.md and docs/*.md that come from a run, written from that run's outputs.

A generated block in a Markdown file reads

    <!-- generated: demo-table1 -->
    ...
    <!-- end generated -->

(or, inline in a sentence, the same markers on one line). ``write_blocks`` rewrites the body
of every block from the run's outputs; ``check_blocks`` compares each body with a fresh
generation and names the block and its first difference. Each body is stamped with the run's
date and commit: the date is the newest modification time of the files the block is read from
(the jobs record no date), the commit the ``git_commit`` the run's jobs recorded in their
``metrics.json`` / ``pretrain.json`` (``result.environment``).

Numbers agree when they differ by at most one unit of their last printed digit (a rounding
flip between machines) or, both printed as plain integers (counts), when equal; dates and
commits are not compared; the rest of the text must be the same, up to spacing.
"""

from __future__ import annotations

import csv
import datetime
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lscrepro.io import write_text
from lscrepro.verdicts import verdict_counts

# a marker in backticks is text about markers (docs/operating.md), not a block
BLOCK_RE = re.compile(r"(?<!`)<!-- generated: (?P<name>[\w-]+) -->(?P<body>.*?)<!-- end generated -->", re.S)
BLOCK_START_RE = re.compile(r"(?<!`)<!-- generated: [\w-]+ -->")
# a number as the tables print it: sign, thousands commas, decimals, exponent; not inside a
# word or a path (table1, lr0.01, depth2)
NUMBER_RE = re.compile(r"(?<![\w.])(?P<sign>[+\-−]?)(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?P<fraction>\.\d+)?"
                       r"(?P<exponent>[eE][+\-]?\d+)?(?![\w])")
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
COMMIT = r"(?:[0-9a-f]{7,40}(?:-dirty)?|unknown)"
# the stamp's date and commits, which a check does not compare
STAMP_RE = re.compile(rf"\b\d{{1,2}} (?:{MONTHS}) \d{{4}}\b|\bcommits? {COMMIT}(?:, {COMMIT})*")
REGENERATE = "python workflow_scripts/docs_numbers.py --results {results}"


class DocsNumbersError(ValueError):
    """A run's outputs or a document's blocks that cannot be read or do not agree."""


@dataclass(frozen=True)
class Run:
    """A run's outputs: ``root`` the workflow folder, ``results`` its results folder as the
    docs name it (e.g. results/demo), ``configfile`` the config that made it (status)."""

    root: Path
    results: str
    configfile: str

    def path(self, relative: str) -> Path:
        """A file of the run; an error naming it and the fix where it is missing."""
        path = self.root / self.results / relative
        if not path.is_file():
            raise DocsNumbersError(
                f"{self.results}/{relative} does not exist: run the grid first (the demo: snakemake all "
                f"--cores 2 --configfile config/smoke.yaml), or give its results folder with --results")
        return path

    def commits(self, family: str = "") -> list[str]:
        """The git commits the jobs of ``family`` (all: "") recorded, most jobs first."""
        found: Counter = Counter()
        folder = self.root / self.results / family
        for report in [*folder.rglob("metrics.json"), *folder.rglob("pretrain.json")]:
            try:
                commit = json.loads(report.read_text())["result"]["environment"]["git_commit"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # an unreadable or older report: no commit to add
            found[_short(str(commit))] += 1
        return [commit for commit, _ in found.most_common()] or ["unknown"]

    def stamp(self, sources: list[str], family: str = "") -> str:
        """"run of <date>, commit <hash>": the newest source file's date, the jobs' commits."""
        newest = max(self.path(source).stat().st_mtime for source in sources)
        date = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
        commits = self.commits(family)
        return f"run of {date.day} {date:%b %Y}, commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}"

    def caption(self, sources: list[str], family: str = "") -> str:
        """The stamp line above a block: where its text comes from, the run's date and commit."""
        files = ", ".join(f"`{self.results}/{source}`" for source in sources)
        return f"*From {files}: {self.stamp(sources, family)}; written by " \
               f"`{REGENERATE.format(results=self.results)}`.*"


def _short(commit: str) -> str:
    if commit == "unknown" or not re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", commit):
        return "unknown"
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def copied_file(relative: str, family: str) -> Callable[[Run], str]:
    """A block holding one output file as it is, under its stamp line."""
    def make(run: Run) -> str:
        text = run.path(relative).read_text().strip()
        return f"\n{run.caption([relative], family)}\n\n{text}\n\n"
    return make


def claims_rows(run: Run) -> tuple[list[dict], list[str], str]:
    """claims.csv's rows, claims.md's header and table rows (in the same order), and its
    verdict counts as text."""
    with open(run.path("claims.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    lines = run.path("claims.md").read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| Figure | Claim |")), None)
    if start is None:
        raise DocsNumbersError(f"{run.results}/claims.md has no claims table (a '| Figure | Claim |' header)")
    table = [line for line in lines[start + 2:] if line.startswith("|")][:len(rows)]
    if len(table) != len(rows):
        raise DocsNumbersError(f"{run.results}/claims.md has {len(table)} table rows, claims.csv {len(rows)}: "
                               "rerun the claims rule")
    tally = verdict_counts(run.path("claims.csv"))
    counts = ", ".join(f"{verdict} {n}" for verdict, n in tally.items())
    return rows, lines[start:start + 2] + table, f"{counts} of {len(rows)} rows"


def claims_block(run: Run) -> str:
    """The verdict counts and the first claims row of each figure and family."""
    rows, lines, counts = claims_rows(run)
    header, table = lines[:2], lines[2:]
    seen, picked = set(), []
    for row, line in zip(rows, table):
        if (row["claim"], row["family"]) not in seen:
            seen.add((row["claim"], row["family"]))
            picked.append(line)
    return (f"\n{run.caption(['claims.csv', 'claims.md'])}\n\nVerdicts: {counts}. Below, the first row of "
            "each figure and family:\n\n" + "\n".join(header + picked) + "\n\n")


def verdicts_inline(run: Run) -> str:
    """The verdict counts in a sentence: "holds 1, ... of 50 rows (run of ..., commit ...)"."""
    return f"{claims_rows(run)[2]} ({run.stamp(['claims.csv'])})"


def status_block(run: Run) -> str:
    """What `python workflow_scripts/status.py --configfile <config>` prints on the run (its
    CSV goes to a scratch file, so the run's status.csv stays as the workflow wrote it)."""
    script = Path(__file__).resolve().parents[1] / "workflow_scripts/status.py"
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "status.csv"
        done = subprocess.run([sys.executable, str(script), "--configfile", run.configfile, "--out", str(out)],
                              cwd=run.root, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise DocsNumbersError(f"status.py --configfile {run.configfile} failed:\n{done.stdout}{done.stderr}")
    printed = "\n".join(line.rstrip() for line in done.stdout.replace(str(out), f"{run.results}/status.csv")
                         .rstrip().splitlines())
    sources = ["status.csv"] if (run.root / run.results / "status.csv").is_file() else ["claims.csv"]
    command = f"$ python workflow_scripts/status.py --configfile {run.configfile}"
    return f"\n{run.caption(sources)}\n\n```\n{command}\n{printed}\n```\n\n"


# block name -> how its body is made from a run
BLOCKS: dict[str, Callable[[Run], str]] = {
    "demo-table1": copied_file("tables/table1.md", "lru"),
    "demo-rnn-table": copied_file("rnn/table.md", "rnn"),
    "demo-claims": claims_block,
    "demo-verdicts": verdicts_inline,
    "demo-status": status_block,
}


def documents(root: Path) -> list[Path]:
    """The files whose blocks are generated: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks_in(path: Path) -> list[re.Match]:
    """The generated blocks of one document; an unknown or unclosed block is an error."""
    text = path.read_text()
    found = list(BLOCK_RE.finditer(text))
    if len(found) != len(BLOCK_START_RE.findall(text)):
        raise DocsNumbersError(f"{path}: a '<!-- generated: NAME -->' marker has no '<!-- end generated -->' "
                               "after it (or blocks nest): close each block")
    for match in found:
        if match["name"] not in BLOCKS:
            raise DocsNumbersError(f"{path}: unknown generated block {match['name']!r}; known: {', '.join(BLOCKS)}")
    return found


def fresh_bodies(run: Run, names: set[str]) -> dict[str, str]:
    """Each named block's body made from the run (each made once however often it appears)."""
    return {name: BLOCKS[name](run) for name in sorted(names)}


def write_blocks(run: Run) -> list[str]:
    """Rewrite every generated block of README.md and docs/*.md from the run; the files
    rewritten (atomically, and only those that changed)."""
    found = {path: blocks_in(path) for path in documents(run.root) if path.is_file()}
    bodies = fresh_bodies(run, {m["name"] for matches in found.values() for m in matches})
    changed = []
    for path, matches in found.items():
        text = path.read_text()
        new = BLOCK_RE.sub(lambda m: f"<!-- generated: {m['name']} -->{bodies[m['name']]}<!-- end generated -->",
                           text)
        if new != text:
            write_text(path, new)
            changed.append(str(path.relative_to(run.root)))
    return changed


def check_blocks(run: Run) -> list[str]:
    """One message per block that differs from a fresh generation from the run (and per
    block name that no document holds): [] when the docs agree with the run."""
    found = {path: blocks_in(path) for path in documents(run.root) if path.is_file()}
    names = {m["name"] for matches in found.values() for m in matches}
    problems = [f"no document holds the generated block {name!r} (README.md, docs/*.md): its numbers go "
                "unchecked; put its markers back" for name in BLOCKS if name not in names]
    bodies = fresh_bodies(run, names)
    for path, matches in found.items():
        for match in matches:
            difference = compare_text(match["body"], bodies[match["name"]])
            if difference:
                problems.append(f"{path.relative_to(run.root)}: block {match['name']!r} disagrees with "
                                f"{run.results}: {difference}. If the run is right, regenerate the docs: "
                                f"{REGENERATE.format(results=run.results)}")
    return problems


def _skeleton(line: str) -> str:
    """The line without its stamp, numbers as '#', spacing collapsed."""
    return re.sub(r"\s+", " ", NUMBER_RE.sub("#", STAMP_RE.sub("STAMP", line))).strip()


def _numbers(line: str) -> list[re.Match]:
    return list(NUMBER_RE.finditer(STAMP_RE.sub("STAMP", line)))


def numbers_agree(printed: re.Match, fresh: re.Match) -> bool:
    """Within one unit of the last printed digit (the finer one where the two are printed to
    different digits: 0.1 against 0.099); two plain integers (counts) equal."""
    def value(m: re.Match) -> float:
        return float((m["sign"].replace("−", "-")) + m["digits"].replace(",", "") + (m["fraction"] or "")
                     + (m["exponent"] or ""))

    def unit(m: re.Match) -> float:
        decimals = len(m["fraction"]) - 1 if m["fraction"] else 0
        return 10.0 ** (int(m["exponent"][1:]) if m["exponent"] else 0) * 10.0 ** -decimals

    plain = [not (m["sign"] or m["fraction"] or m["exponent"]) for m in (printed, fresh)]
    if all(plain):
        return value(printed) == value(fresh)
    tolerance = min(unit(printed), unit(fresh)) * (1 + 1e-9)
    return abs(value(printed) - value(fresh)) <= tolerance


def compare_text(printed: str, fresh: str) -> str | None:
    """The first difference between a block as the docs print it and as the run gives it,
    in words (line N: of the block, from the line after its marker); None when they agree
    (numbers within rounding, dates and commits ignored, blank lines and spacing too)."""
    def lines(text: str) -> list[tuple[int, str]]:
        return [(n, line.strip()) for n, line in enumerate(text.lstrip("\n").splitlines(), start=1) if line.strip()]

    old, new = lines(printed), lines(fresh)
    for (number, old_line), (_, new_line) in zip(old, new):
        if _skeleton(old_line) != _skeleton(new_line):
            return f"line {number} reads {old_line!r}, the run gives {new_line!r}"
        for a, b in zip(_numbers(old_line), _numbers(new_line)):
            if not numbers_agree(a, b):
                return f"line {number} has {a.group(0)} where the run gives {b.group(0)} ({new_line!r})"
    if len(old) != len(new):
        return f"the block has {len(old)} lines of text, the run gives {len(new)}"
    return None
