"""A job's exact set-up without running it: the resolved spec, each parameter's shape and
the parameter count of the model the job whose output folder is RUN_DIR builds.

The model is built from the task's sizes: those of the prepared cache where it exists,
else the real dataset's (``Preparation.canonical_info``), so the paper grid's jobs can
be described before any data is downloaded.
"""

from __future__ import annotations

import json
import posixpath
import re
import string
from pathlib import Path

from .data.preparations import preparation
from .workflow.spec import FAMILIES, axis_values, output_roots, resolve_spec, variants_by_name
from .tasks import prepared_of, task_class


def _folder_pattern(folder: str) -> re.Pattern:
    """A path pattern such as ``{task}/{net}/depth{depth}`` as a regex with named groups."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(folder):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>[^/]+)")
    return re.compile("".join(parts))


def find_job(config: dict, run_dir: str) -> tuple[str, str, dict]:
    """(family, kind, wildcards) of the job of ``config`` whose output folder is ``run_dir``
    (relative to the workflow directory); an error lists the folders a job can have."""
    results = output_roots(config)[0]
    wanted = posixpath.normpath(run_dir.replace("\\", "/")).rstrip("/")
    tried = []
    for name, family in FAMILIES.items():
        if name not in config:
            continue
        for kind, folder in (("train", family.train_dir), ("pretrain", family.pretrain_dir)):
            pattern = f"{results}/{name}/{folder}"
            tried.append(pattern)
            match = _folder_pattern(pattern).fullmatch(wanted)
            if match and _on_grid(name, config[name], kind, match.groupdict()):
                return name, kind, match.groupdict()
    raise ValueError(f"{run_dir} is the output folder of no job of this config; a job folder looks "
                     f"like one of: {', '.join(tried)} (with values of the config's grid)")


def _on_grid(name: str, family_config: dict, kind: str, wildcards: dict) -> bool:
    axes = axis_values(FAMILIES[name], family_config)
    variants = variants_by_name(family_config)
    if wildcards.get("variant") not in variants:
        return False
    if kind == "pretrain" and not variants[wildcards["variant"]].get("lsc", False):
        return False
    return all(wildcards[key] in tags for key, tags in axes.items() if key in wildcards)


def data_info(spec: dict, root: Path) -> tuple[dict, str]:
    """The task's data sizes and where they come from: the prepared cache's meta.json, or
    the real dataset's canonical sizes where no cache exists yet."""
    meta_path = root / spec["data"]["cache"] / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        info = dict(meta["info"])
        if "x_train" in meta.get("arrays", {}):  # images: features from the array's shape
            info["in_features"] = meta["arrays"]["x_train"]["shape"][1]
        return info, str(meta_path)
    return dict(preparation(prepared_of(spec["task"])).canonical_info), "the real dataset's sizes"


def describe(config: dict, run_dir: str, root: str | Path = ".") -> dict:
    """The spec, layers and parameter count of the job whose output folder is ``run_dir``."""
    from .models import build_model  # torch only here: find_job stays light

    name, kind, wildcards = find_job(config, run_dir)
    spec = resolve_spec(config, name, kind, wildcards)
    info, source = data_info(spec, Path(root))
    dims = task_class(spec["task"]["name"]).dims_of(spec["task"], info)
    model = build_model(spec["model"], dims, spec["seed"])
    layers = [{"name": key, "shape": list(p.shape), "parameters": p.numel()}
              for key, p in model.named_parameters()]
    return {"run_dir": run_dir, "family": name, "kind": kind, "wildcards": wildcards, "spec": spec,
            "dims": dims, "dims_from": source, "layers": layers,
            "parameters": sum(layer["parameters"] for layer in layers)}


def as_text(description: dict) -> str:
    """The description for a reader: the job, its spec, one line per parameter tensor."""
    d = description
    lines = [f"{d['run_dir']}: {d['family']} {d['kind']} job {d['wildcards']}",
             f"task sizes {d['dims']} (from {d['dims_from']})", "spec:",
             json.dumps(d["spec"], indent=2, sort_keys=True), "parameters:"]
    width = max(len(layer["name"]) for layer in d["layers"])
    lines += [f"  {layer['name']:<{width}}  {'x'.join(map(str, layer['shape'])):>14}  {layer['parameters']:>12,}"
              for layer in d["layers"]]
    lines.append(f"total: {d['parameters']:,} parameters")
    return "\n".join(lines)
