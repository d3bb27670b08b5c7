"""Plan-time checks of a family's grid values against its `overrides` (rules/common.smk).

An override applies where its `when` matches a grid point, and a setup exists only
through the overrides that fill it in; so a misspelt value does not fail anywhere, it
silently never applies (`maLSNB`), or drops a setup's settings, and with them a figure
(`tabel1`). These checks make each of those an error that names the config entry and the
closest valid value.

A `when` value that is valid for its axis but not on this run's grid (depth 5 in a run
of `rnn.depths: [2]`) is no mistake: an overlay that runs part of the paper's grid keeps
the config's overrides, and the entries for the rest are skipped, each named in one
line of the plan. Valid is what the schema allows in the axis's list (lscrepro nets,
tasks, depths >= 1 ...); a setup must also be one a paper item reads (outputs.ITEMS) and
a variant one the run's `variants` define, as their schema allows any name.
No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

from jsonschema import validators

from .configcheck import closest, resolve
from .outputs import paper_setups
from .spec import FAMILIES

# the setups the paper's items read (Figure 4, Table 1): the known ones besides the grid's
PAPER_SETUPS = paper_setups()


class GridError(ValueError):
    """A grid value or an override that can never take effect."""


def check_grid(name: str, family_config: dict, schema: dict) -> list[str]:
    """Raise GridError on the first setup, `when` value or override of family ``name``
    that names nothing valid; return one line per override skipped because its `when`
    names valid values this run's grid leaves out."""
    grid = grid_values(name, family_config)
    overrides = family_config.get("overrides", [])
    check_named_axes(name, family_config, grid, overrides)
    valid = valid_values(name, grid, schema)
    skipped = []
    for number, entry in enumerate(overrides, start=1):
        reasons = check_when(name, number, entry.get("when", {}), grid, valid)
        if reasons:
            skipped.append(f"{name}.overrides entry {number} (when {flow(entry.get('when', {}))}) is "
                           f"skipped: {'; '.join(reasons)}.")
    return skipped


def grid_values(name: str, family_config: dict) -> dict[str, tuple[str, list]]:
    """{when key: (the config key listing its values, the values)}: the family's axes and
    its variants' names."""
    grid = {wildcard: (key, list(family_config[key])) for wildcard, (key, _) in FAMILIES[name].axes.items()}
    grid["variant"] = ("variants", [variant["name"] for variant in family_config["variants"]])
    return grid


def valid_values(name: str, grid: dict, schema: dict) -> dict:
    """{when key: (is_valid(value) -> bool, what a valid value is)} from the schema of the
    axis's list items; where that allows any name (setups, variants), the known names."""
    properties = schema["properties"][name]["properties"]
    valid = {}
    for key, (config_key, values) in grid.items():
        items = resolve(properties[config_key].get("items", {}), schema)
        if key == "variant" or items.get("type") == "string" and "enum" not in items:
            known = values + [s for s in PAPER_SETUPS if key == "setup" and s not in values]
            valid[key] = (lambda value, known=known: value in known, f"one of {flow(known)}", known)
        else:
            validator = validators.validator_for(items)({**items, "$defs": schema.get("$defs", {})})
            valid[key] = (validator.is_valid, _described(items), list(items.get("enum", [])))
    return valid


def _described(items: dict) -> str:
    if "enum" in items:
        return f"one of {flow(items['enum'])}"
    kind = {"integer": "an integer", "number": "a number"}.get(items.get("type"), "a value")
    bounds = [f">= {items['minimum']}"] if "minimum" in items else []
    bounds += [f"> {items['exclusiveMinimum']}"] if "exclusiveMinimum" in items else []
    return " ".join([kind, *bounds])


def check_named_axes(name: str, family_config: dict, grid: dict, overrides: list[dict]) -> None:
    """An axis whose values set no setting themselves (spec path run.*, e.g. lru's setups)
    is a list of names that only `overrides` give a meaning: each must be defined there."""
    for wildcard, (key, path) in FAMILIES[name].axes.items():
        if not path.startswith("run."):
            continue
        defined = defining_entries(overrides, wildcard)
        for value in grid[wildcard][1]:
            if value not in defined:
                raise GridError(_undefined(name, key, wildcard, value, defined))


def defining_entries(overrides: list[dict], key: str) -> dict:
    """{value: [entry numbers]} of the overrides whose `when` names ``key``."""
    found: dict = {}
    for number, entry in enumerate(overrides, start=1):
        for value in _listed(entry.get("when", {}).get(key, [])):
            found.setdefault(value, []).append(number)
    return found


def _undefined(name: str, key: str, wildcard: str, value, defined: dict) -> str:
    known = ", ".join(f"{v} ({'entry' if len(n) == 1 else 'entries'} {', '.join(map(str, n))})"
                      for v, n in defined.items()) or "none"
    return (f"{name}.{key}: {value!r} is not a defined {wildcard}{_suggestion(value, list(defined))} "
            f"A {wildcard} is defined by the {name}.overrides entries whose `when` names it, and "
            f"none names {wildcard}: {value}, so its runs would get none of a {wildcard}'s settings "
            f"(and a figure reading another {wildcard} would silently drop out of `all`). Defined: "
            f"{known}. Fix the name in {name}.{key}, or add overrides with `when: {{{wildcard}: {value}}}`.")


def check_when(name: str, number: int, when: dict, grid: dict, valid: dict) -> list[str]:
    """Raise GridError on a `when` value valid nowhere (or a key listing none); return why
    the entry matches no grid point of this run (empty where it may match one)."""
    where = f"{name}.overrides entry {number} (when {flow(when)})"
    reasons = []
    for key, wanted in when.items():
        if key not in grid:
            continue  # spec.check_overrides names `when` keys that are no axis
        config_key, values = grid[key]
        is_valid, description, known = valid[key]
        if not _listed(wanted):
            raise GridError(f"{where} matches no grid point: {key} lists no value. Its settings would "
                            "never apply: fix the value, or remove the entry.")
        for value in _listed(wanted):
            if not is_valid(value):
                raise GridError(f"{where}: {key} {value!r} is not a valid {key} ({description})"
                                f"{_suggestion(value, values + known)} It would never apply: fix the "
                                "value, or remove it.")
        if not any(value in values for value in _listed(wanted)):
            reasons.append(f"{key} {flow(wanted)} is not on this run's grid ({name}.{config_key} "
                           f"{flow(values)})")
    return reasons


def _listed(wanted) -> list:
    return wanted if isinstance(wanted, list) else [wanted]


def _suggestion(value, values) -> str:
    by_text = {str(v): v for v in values}
    # a case slip first: difflib finds no match for lstm among LSTM, GRU ...
    match = [text for text in by_text if text.lower() == str(value).lower()] or closest(str(value), by_text)
    return f"; did you mean {by_text[match[0]]!r}?" if match else "."


def flow(value) -> str:
    """A value as YAML's flow style writes it: {task: wordptb, net: [maLSNN, maLSNNb]}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    return str(value)
