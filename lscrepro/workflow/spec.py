"""Job families and the run spec: one JSON-able mapping per job, resolved once from the
config, that the job runs from and stores with its outputs.

A family is an entry of lscrepro.catalog.families: the config keys whose values span its
grid, where each grid value goes in the spec, which grid axes its pre-training depends on,
and its path layout.
No torch here: the Snakefile imports this at parse time.
"""

from __future__ import annotations

import itertools
import posixpath

import pandas as pd

from ..catalog.families import FAMILIES, Family
from ..tasks import dataset_of, prepared_of


# variant key -> the spec path it sets; a variant's other keys are its name and `lsc`
VARIANT_KEYS = {"init": "model.init", "target": "lsc.target", "lsc_mode": "lsc.mode",
                "clip_norm": "train.clip_norm", "unbalanced": "lsc.unbalanced"}


def output_roots(config: dict) -> tuple[str, str]:
    """Where results and logs go: results/ and logs/, or results/<prefix>/ and
    logs/<prefix>/ for a config with a `prefix` (the demo grid: demo), so that grids do
    not overwrite each other's files."""
    prefix = config.get("prefix") or ""
    return posixpath.join("results", prefix).rstrip("/"), posixpath.join("logs", prefix).rstrip("/")


def tag(value) -> str:
    """How a grid value appears in paths: 0.01, 0.00316, 3.16e-05, relu, 3 ..."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def variants_by_name(family_config: dict) -> dict[str, dict]:
    """Variants are a list in the config (a --configfile replaces lists wholesale); jobs
    look them up by name. Duplicate names would make two jobs write one path."""
    names = [v["name"] for v in family_config["variants"]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"variants: duplicate variant names {duplicates}; names must be unique")
    return {v["name"]: v for v in family_config["variants"]}


def axis_values(family: Family, family_config: dict) -> dict[str, dict[str, object]]:
    """{wildcard: {tag: value}}; two values with one tag would share a path, so refuse them."""
    out = {}
    for wildcard, (key, _) in family.axes.items():
        values = family_config[key]
        tags = {tag(v): v for v in values}
        if len(tags) != len(values):
            raise ValueError(f"{key}: values {values} do not all have distinct path tags "
                             f"({[tag(v) for v in values]}); make them differ in 6 significant digits")
        out[wildcard] = tags
    return out


def train_runs(name: str, family_config: dict) -> pd.DataFrame:
    """One row per training job: the product of the axes and the variants (path tags)."""
    family = FAMILIES[name]
    check_overrides(name, family_config)
    axes = axis_values(family, family_config)
    variants = variants_by_name(family_config)
    rows = [dict(zip([*axes, "variant"], combo))
            for combo in itertools.product(*(list(tags) for tags in axes.values()), variants)]
    frame = pd.DataFrame(rows)
    frame["pretrained"] = [bool(variants[v].get("lsc", False)) for v in frame["variant"]]
    return frame


def pretrain_runs(name: str, family_config: dict) -> pd.DataFrame:
    """One row per pre-training job, shared by every value of the axes it ignores."""
    runs = train_runs(name, family_config)
    return runs[runs["pretrained"]][FAMILIES[name].pretrain_keys].drop_duplicates().reset_index(drop=True)


def _set(spec: dict, dotted: str, value) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        spec = spec.setdefault(key, {})
    spec[leaf] = value


def _matches(when: dict, run: dict) -> bool:
    """A `when` holds where every key's grid value is the value given (or one of a list)."""
    return all(run.get(key) in (wanted if isinstance(wanted, list) else [wanted])
               for key, wanted in when.items())


def apply_overrides(spec: dict, overrides: list[dict], sources: dict | None = None) -> None:
    """Settings that depend on grid values, in config order (later entries win): each
    ``{when: {axis: value(s)}, set: {dotted.path: value}}`` whose ``when`` matches the
    run sets its paths in the sections this job has (train or lsc, task, model).
    ``sources``, if given, gets {dotted path: the entry's number} of what each entry set."""
    for number, entry in enumerate(overrides, start=1):
        if _matches(entry.get("when", {}), spec["run"]):
            for path, value in entry["set"].items():
                if path.split(".")[0] in spec:
                    _set(spec, path, value)
                    if sources is not None:
                        sources[path] = ("overrides", number)


def check_overrides(name: str, family_config: dict) -> None:
    """Refuse an override whose `when` names no axis of the family, or whose `set` path
    starts outside task, model, train and lsc: it would silently never apply."""
    axes = [*FAMILIES[name].axes, "variant"]
    for number, entry in enumerate(family_config.get("overrides", []), start=1):
        unknown = sorted(set(entry.get("when", {})) - set(axes))
        if unknown:
            raise ValueError(f"{name}.overrides entry {number}: `when` keys {unknown} are not axes of "
                             f"the {name} grid; use {axes}")
        roots = sorted({p.split(".")[0] for p in entry["set"]} - {"task", "model", "train", "lsc"})
        if roots:
            raise ValueError(f"{name}.overrides entry {number}: `set` paths must start with task., "
                             f"model., train. or lsc. (got {roots})")


def registered_names(name: str, family_config: dict, section: str, key: str = "name") -> list[str]:
    """The catalog names a family's jobs use at ``section``.``key`` (task.name, model.name,
    model.cell): the section's own value and the values of any axis that sets it."""
    names = [family_config[section][key]] if key in family_config[section] else []
    for axis_key, path in FAMILIES[name].axes.values():
        if path == f"{section}.{key}":
            names += family_config[axis_key]
    return sorted(set(names))


def resolve_spec(config: dict, name: str, kind: str, wildcards: dict, sources: dict | None = None) -> dict:
    """The spec of one ``kind`` ("pretrain" or "train") job of family ``name``. ``sources``,
    if given, gets {dotted path: where its value was set} for the values the grid axes
    ("axis", config key), the variant ("variant", name) and `overrides` ("overrides",
    entry number) set; the others come from the family's config section."""
    family, family_config = FAMILIES[name], config[name]
    axes = axis_values(family, family_config)
    variant = variants_by_name(family_config)[wildcards["variant"]]
    section = "lsc" if kind == "pretrain" else "train"
    sources = {} if sources is None else sources
    spec = {"family": name, "kind": kind, "device": config.get("device", "auto"),
            **({"lsc_procedure": family.lsc_procedure} if kind == "pretrain" else {}),
            "run": {}, "task": dict(family_config["task"]), "model": dict(family_config["model"]),
            section: dict(family_config[section])}
    for wildcard, (key, path) in family.axes.items():
        if wildcard in wildcards:
            value = axes[wildcard][wildcards[wildcard]]
            spec["run"][wildcard] = value
            if not path.startswith(("train.", "lsc.")) or path.startswith(section):
                _set(spec, path, value)
                sources[path] = ("axis", key)
    spec["run"]["variant"] = variant["name"]
    for key, path in VARIANT_KEYS.items():
        if key in variant and path.split(".")[0] in spec:
            _set(spec, path, variant[key])
            sources[path] = ("variant", variant["name"])
    apply_overrides(spec, family_config.get("overrides", []), sources)
    spec["pretrained"] = kind == "train" and bool(variant.get("lsc", False))
    results = output_roots(config)[0]
    spec["data"] = {"dataset": dataset_of(spec["task"]),
                    "cache": f"{results}/prepared/{prepared_of(spec['task'])}",
                    "stamp": f"{results}/data/{dataset_of(spec['task'])}.json"}
    return spec
