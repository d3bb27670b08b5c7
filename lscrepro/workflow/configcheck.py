"""Config checks that run before Snakemake's schema validation (rules/common.smk).

The schema stays the one description of the config; this module reads it to
- turn numeric strings into numbers where the schema wants a number: YAML 1.1 (PyYAML)
  reads ``1e-3`` as the string "1e-3", and a learning rate written so should just work;
- name an unknown key with the closest known one (the schema says only "Additional
  properties are not allowed", which does not point at a typo);
- name the file, line and column of a YAML syntax error in the Snakefile's own config file,
  and, run as ``python -m lscrepro.workflow.configcheck FILE...``, in a ``--configfile``:
  Snakemake reads those before the workflow, so no workflow code sees their errors, and its
  own messages name no line (a tab) or bury the file in a traceback (a missing file).
No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import reprlib
import sys
from pathlib import Path

import yaml

from ..catalog.names import catalog_names
from ..io import write_text

# decimal numbers only: not "nan", "inf", "1_000", "0x10", which float()/int() also accept
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_SHORT = reprlib.Repr()  # a short repr of an unknown key's value: a section is long
_SHORT.maxlevel, _SHORT.maxstring = 1, 40
# libyaml's loader where PyYAML has it: the pure-Python one takes ~0.15 s on the schema,
# on every Snakemake call
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_schema(path: str | Path) -> dict:
    """The schema at ``path`` with its plug-in enums filled from the catalog."""
    return fill_catalog_enums(yaml.load(Path(path).read_text(), Loader=_LOADER))


def fill_catalog_enums(schema):
    """``schema`` with an ``enum`` of the catalog's names (lscrepro.catalog.names) wherever it
    says ``x-catalog: <kind>[:<family>]``, in place: the schema lists no plug-in's name."""
    if isinstance(schema, dict):
        if "x-catalog" in schema:
            schema["enum"] = catalog_names(schema["x-catalog"])
        for value in schema.values():
            fill_catalog_enums(value)
    elif isinstance(schema, list):
        for value in schema:
            fill_catalog_enums(value)
    return schema


def schema_file(schema: dict, folder: str | Path) -> str:
    """``schema`` (its enums filled) as a JSON file in ``folder``, for Snakemake's validate(),
    which reads a file. Named by its content: concurrent writers write the same bytes."""
    text = json.dumps(schema, indent=1)  # in the schema's order: the checks' order, and the messages
    path = Path(folder) / f"config.schema.{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        write_text(path, text)
    return str(path.resolve())


def prepare_config(config: dict, schema: dict | str | Path) -> None:
    """Check ``config``'s keys and coerce its numbers, in place (Snakemake's ``config``)."""
    schema = schema if isinstance(schema, dict) else load_schema(schema)
    check_keys(config, schema)
    config.update(coerce_numbers(config, schema))
    coerce_override_values(config, schema)


def coerce_override_values(config: dict, schema: dict) -> None:
    """Numbers in `overrides` entries' `set` too, typed by the setting each path names (the
    schema cannot type them: a `set` maps dotted paths to values), in place."""
    for family, section in config.items():
        if not isinstance(section, dict) or not isinstance(section.get("overrides"), list):
            continue
        sections = resolve(schema.get("properties", {}).get(family, {}), schema).get("properties", {})
        for entry in section["overrides"]:
            values = entry.get("set") if isinstance(entry, dict) else None
            for path, value in (values.items() if isinstance(values, dict) else ()):
                head, _, key = str(path).partition(".")
                setting = resolve(sections.get(head, {}), schema).get("properties", {}).get(key, {})
                values[path] = coerce_numbers(value, setting, schema)


def check_yaml_syntax(path: str | Path) -> None:
    """Raise ValueError naming the file, line and column of a YAML syntax error: Snakemake's
    own message for one ("Config file is not valid JSON or YAML") names neither."""
    text = Path(path).read_text()
    try:
        yaml.load(text, Loader=_LOADER)
        if "\t" in text:  # Snakemake's loader (yte: PyYAML's pure-Python one) refuses tabs libyaml takes
            yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = " ".join(filter(None, [error.context, error.problem]))
        lines = text.splitlines()
        # libyaml's message for a tab leaves the character out: look at the line
        tab = mark is not None and mark.line < len(lines) and "\t" in lines[mark.line][:mark.column + 1]
        cause = ("a tab: YAML indents and separates with spaces, replace it by spaces" if tab else
                 "an unclosed bracket or quote, or an indentation that does not line up with the "
                 "keys above, are the usual causes")
        raise ValueError(f"{where}: not valid YAML ({problem}). Fix the file at that line ({cause}).") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error}).") from None


def check_config_files(paths: list[str]) -> list[str]:
    """What is wrong with each of ``paths`` that Snakemake's --configfile loader would
    refuse: a missing file, a YAML error (file, line, column); empty where nothing is."""
    problems = []
    for path in paths:
        if not Path(path).is_file():
            problems.append(f"{path}: no such file (from {Path.cwd()}). A --configfile path is "
                            "relative to the folder snakemake runs in, and a target written after "
                            "--configfile is read as one more config file (`--configfile F all` "
                            "reads a file `all`): put the targets first.")
            continue
        try:
            check_yaml_syntax(path)
        except ValueError as error:
            problems.append(str(error))
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    problems = check_config_files(paths)
    print("\n".join(problems or [f"{path}: valid YAML" for path in paths]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


def resolve(schema: dict, root: dict) -> dict:
    # only local "#/$defs/name" references: the schema has no others
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rpartition("/")[2]]
    return schema


def coerce_numbers(value, schema: dict, root: dict | None = None):
    """``value`` with numeric strings made numbers where ``schema`` types a number, and
    integral floats made ints where it types an integer. Names and paths are left as
    they are: only values the schema says are numbers are touched."""
    root = root if root is not None else schema
    schema = resolve(schema, root)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: coerce_numbers(item, properties.get(key, {}), root) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_numbers(item, schema.get("items", {}), root) for item in value]
    kind = schema.get("type")
    if kind not in ("number", "integer") or isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value) if re.search(r"[.eE]", value) else int(value)
    # jsonschema accepts 5.0 as an integer, but range(5.0) fails in a job
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


def check_keys(value, schema: dict, root: dict | None = None, path: str = "") -> None:
    """Raise ValueError on the first key the schema does not allow, naming the closest
    known key; recurse into known keys and list items."""
    root = root if root is not None else schema
    schema = resolve(schema, root)
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_keys(item, schema.get("items", {}), root, f"{path}[{index}]")
        return
    if not isinstance(value, dict):
        return
    known = schema.get("properties", {})
    for key, item in value.items():
        where = f"{path}.{key}" if path else str(key)
        if key in known:
            check_keys(item, known[key], root, where)
        elif schema.get("additionalProperties") is False:
            raise ValueError(_unknown_key(where, key, item, known))


def closest(key: str, known) -> list[str]:
    """The closest known key, if any; among near ties, one with the same first letter
    (typos rarely hit it: 'fnn' is 'ffn', not 'rnn')."""
    close = difflib.get_close_matches(key, known, n=3)
    same_start = [k for k in close if k[:1] == key[:1]]
    return (same_start or close)[:1]


def _unknown_key(where: str, key, item, known: dict) -> str:
    close = closest(str(key), known)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return (f"config key {where!r} (value {_SHORT.repr(item)}) is not known{hint} "
            f"known keys: {', '.join(sorted(known))}")
