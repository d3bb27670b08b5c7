"""Plan-time checks of a family's grid values against its `overrides` (rules/common.smk).

An override applies where its `when` matches a grid point, and a setup exists only
through the overrides that fill it in; so a misspelt value does not fail anywhere, it
silently never applies (`maLSNB`), or drops a setup's settings, and with them a figure
(`tabel1`). These checks make each of those an error that names the config entry and the
closest valid value. No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

from .configcheck import closest
from .spec import FAMILIES


class GridError(ValueError):
    """A grid value or an override that can never take effect."""


def check_grid(name: str, family_config: dict) -> None:
    """Raise GridError on the first setup, `when` value or override of family ``name``
    that names nothing on its grid."""
    grid = grid_values(name, family_config)
    overrides = family_config.get("overrides", [])
    check_named_axes(name, family_config, grid, overrides)
    for number, entry in enumerate(overrides, start=1):
        check_when(name, number, entry.get("when", {}), grid)


def grid_values(name: str, family_config: dict) -> dict[str, tuple[str, list]]:
    """{when key: (the config key listing its values, the values)}: the family's axes and
    its variants' names."""
    grid = {wildcard: (key, list(family_config[key])) for wildcard, (key, _) in FAMILIES[name].axes.items()}
    grid["variant"] = ("variants", [variant["name"] for variant in family_config["variants"]])
    return grid


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


def check_when(name: str, number: int, when: dict, grid: dict) -> None:
    """Every value of the entry's `when` must be on the grid; an entry none of whose
    values for some key is on it matches no grid point at all."""
    for key, wanted in when.items():
        if key not in grid:
            continue  # spec.check_overrides names `when` keys that are no axis
        config_key, values = grid[key]
        missing = [value for value in _listed(wanted) if value not in values]
        if _listed(wanted) and not missing:
            continue
        where = f"{name}.overrides entry {number} (when {flow(when)})"
        detail = (f"{key} {missing[0]!r} is not one of the grid's {config_key} {flow(values)}"
                  f"{_suggestion(missing[0], values)}" if missing else f"{key} lists no value.")
        if len(missing) == len(_listed(wanted)):
            raise GridError(f"{where} matches no grid point: {detail} Its settings would never apply: "
                            f"fix the value, or remove the entry.")
        raise GridError(f"{where}: {detail} That part of the entry would never apply: fix the "
                        f"value, or remove it from the list.")


def _listed(wanted) -> list:
    return wanted if isinstance(wanted, list) else [wanted]


def _suggestion(value, values) -> str:
    by_text = {str(v): v for v in values}
    match = closest(str(value), by_text)
    return f"; did you mean {by_text[match[0]]!r}?" if match else "."


def flow(value) -> str:
    """A value as YAML's flow style writes it: {task: wordptb, net: [maLSNN, maLSNNb]}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    return str(value)
