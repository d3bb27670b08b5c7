"""Plan-time checks of every resolved job spec (rules/common.smk), so that a bad value
set by `overrides`, a variant or a grid axis fails the dry run instead of each job 40 s
into its run; the error names the job, the value, and the config entry that set it.

- The train and lsc sections hold settings classes' fields (lscrepro.training.TrainSettings;
  the classes of lscrepro.catalog.procedures). They are checked against the schema's settings
  definitions (train_settings, lsc_settings, ...), which list exactly those fields, with
  their types and ranges (tests/test_speccheck.py holds them equal), instead of against
  the classes themselves: importing those imports torch, about 2 s on every dry run.
- The task and model sections are checked against the family's schema section, plus the
  keys its grid axes and variants set there (their values are checked where they are set).
- Batch sizes against the data (lscrepro.workflow.sizecheck).

Each distinct section is checked once (the paper grid's 1,688 specs hold a few hundred).
No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

from .configcheck import closest
from .gridcheck import flow
from ..catalog.procedures import PROCEDURES
from .sizecheck import batch_problem, split_sizes
from .spec import FAMILIES, VARIANT_KEYS, resolve_spec
from ..tasks import prepared_of

SETTINGS_CLASSES = {"train": "lscrepro.training:TrainSettings"}  # lsc: the family's procedure's
_BOUNDS = (("minimum", lambda v, b: v >= b, ">="), ("exclusiveMinimum", lambda v, b: v > b, ">"),
           ("maximum", lambda v, b: v <= b, "<="), ("exclusiveMaximum", lambda v, b: v < b, "<"))
_TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,), "string": (str,),
          "array": (list,), "object": (dict,), "null": (type(None),)}


class SpecError(ValueError):
    """A job's resolved settings that its job would refuse, or a batch its data cannot fill."""


def check_specs(config: dict, schema: dict, runs: dict, resolve) -> None:
    """Raise SpecError for the first job whose spec has a bad setting or batch size.
    ``runs``: {family: {kind: run table}}; ``resolve(family, kind, wildcards)``: its spec."""
    checker = SpecChecker(config, schema)
    for name, kinds in runs.items():
        for kind, table in kinds.items():
            for wildcards in table.drop(columns="pretrained", errors="ignore").to_dict("records"):
                problem = checker.problem(resolve(name, kind, wildcards))
                if problem:
                    raise SpecError(describe(config, name, kind, wildcards, *problem))


class SpecChecker:
    """What is wrong with a spec, as (dotted path, text), or None; remembers the sections
    and batch sizes it has seen."""

    def __init__(self, config: dict, schema: dict):
        self.config, self.schema = config, schema
        self.allow_full_batch = bool(config["data"].get("allow_full_batch", False))
        self.seen: dict = {}

    def problem(self, spec: dict):
        for section in ("task", "model", "lsc" if spec["kind"] == "pretrain" else "train"):
            key = (spec["family"], section, repr(spec[section]))
            if key not in self.seen:
                self.seen[key] = self.section_problem(spec["family"], section, spec[section])
            if self.seen[key]:
                return self.seen[key]
        return self.size_problem(spec)

    def section_problem(self, name: str, section: str, values: dict):
        node = resolved(self.schema, self.schema["properties"][name]["properties"][section])
        known, extra = node.get("properties", {}), set_by_grid(name, section)
        for key, value in values.items():
            if key in known:
                problem = value_problem(value, known[key], self.schema)
                if problem:
                    return f"{section}.{key}", f"= {value!r} {problem}"
            elif key not in extra:
                return f"{section}.{key}", _unknown(name, section, key, value, sorted(known))
        return None

    def size_problem(self, spec: dict):
        data = spec["data"]
        if ("sizes", data["cache"]) not in self.seen:
            self.seen["sizes", data["cache"]] = split_sizes(prepared_of(spec["task"]), data["cache"],
                                                            bool(self.config["data"].get("demo")))
        sizes = self.seen["sizes", data["cache"]]
        return batch_problem(spec, sizes, self.allow_full_batch) if sizes else None


def resolved(schema: dict, node: dict) -> dict:
    while "$ref" in node:  # local "#/$defs/name" references only: the schema has no others
        node = schema["$defs"][node["$ref"].rpartition("/")[2]]
    return node


def set_by_grid(name: str, section: str) -> set[str]:
    """Keys the family's axes and variants set in a task or model section: not config keys
    of the section, and checked where they are set. The train and lsc sections get none:
    every key there must be a field of the job's settings class."""
    if section not in ("task", "model"):
        return set()
    paths = [path for _, path in FAMILIES[name].axes.values()] + list(VARIANT_KEYS.values())
    return {path.partition(".")[2] for path in paths if path.partition(".")[0] == section}


def value_problem(value, node: dict, schema: dict) -> str | None:
    """What the schema ``node`` says is wrong with ``value`` (the subset of JSON schema the
    settings use: type, enum, bounds, array items), or None."""
    node = resolved(schema, node)
    if "enum" in node and value not in node["enum"]:
        return f"is not one of {flow(node['enum'])}"
    kind = node.get("type")
    if kind and (not isinstance(value, _TYPES[kind]) or (kind != "boolean" and isinstance(value, bool))):
        return f"is not of type {kind}"
    for bound, holds, sign in _BOUNDS:
        if bound in node and isinstance(value, (int, float)) and not holds(value, node[bound]):
            return f"must be {sign} {node[bound]}"
    if isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            return f"needs at least {node['minItems']} entries"
        for index, item in enumerate(value):
            problem = value_problem(item, node.get("items", {}), schema)
            if problem:
                return f"has entry {index} = {item!r}, which {problem}"
    return None


def _unknown(name: str, section: str, key: str, value, known: list[str]) -> str:
    if section == "train":
        owner = f"a setting of {SETTINGS_CLASSES['train']}"
    elif section == "lsc":
        owner = f"a setting of {PROCEDURES[FAMILIES[name].lsc_procedure][0]}"
    else:
        owner = f"a key of the {name} {section} (schemas/config.schema.yaml: {name}.{section})"
    match = closest(key, known)
    hint = f"; did you mean {match[0]!r}?" if match else "."
    return f"(value {value!r}) is not {owner}{hint} Known: {', '.join(known)}"


def describe(config: dict, name: str, kind: str, wildcards: dict, path: str, problem: str) -> str:
    """The error: the job, the value and what is wrong with it, and the entry that set it."""
    sources: dict = {}
    resolve_spec(config, name, kind, wildcards, sources)
    point = " ".join(f"{key}={wildcards[key]}" for key in FAMILIES[name].run_keys if key in wildcards)
    return (f"{name} {kind} job {point}: {path} {problem}. It is set by "
            f"{source_text(config, name, path, sources.get(path))}: fix it there.")


def source_text(config: dict, name: str, path: str, source) -> str:
    """Where a spec value came from, as a config reader finds it."""
    if source is None:
        return f"{name}.{path} (the {name} section of the config)"
    kind, detail = source
    if kind == "overrides":
        when = config[name]["overrides"][detail - 1].get("when", {})
        return f"{name}.overrides entry {detail} (when {flow(when)})"
    if kind == "variant":
        return f"the {name} variant {detail!r} ({name}.variants)"
    return f"the grid axis {name}.{detail}"
