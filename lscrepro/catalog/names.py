"""The names a config may use for each plug-in kind: what the config schema's plug-in enums
hold. The schema marks such an enum with ``x-catalog: <kind>`` or ``<kind>:<family>``
(schemas/config.schema.yaml), and lscrepro.workflow.configcheck fills it from here before
validating, so a plug-in registered in the catalog is valid without editing the schema."""

from __future__ import annotations

from .cells import CELLS
from .models import MODELS
from .tasks import TASKS

LISTS = ("cells", "tasks", "models", "datasets")  # the kinds an x-catalog mark may name


def catalog_names(source: str) -> list[str]:
    """The names of ``source``: "cells", or "tasks", "models" or "datasets" with ":<family>"
    (the tasks and models that family's config may name; the prepared data its tasks pick
    from as `dataset`), in catalog order."""
    kind, _, family = source.partition(":")
    if kind not in LISTS or (kind == "cells") == bool(family):
        raise ValueError(f"x-catalog: {source!r} names no catalog list; use cells, or tasks, models "
                         "or datasets with ':<family>'")
    if kind == "cells":
        return list(CELLS)
    if kind == "models":
        return [name for name, entry in MODELS.items() if family in entry.families]
    tasks = [entry for entry in TASKS.values() if family in entry.families]
    if kind == "tasks":
        return [entry.name for entry in tasks]
    return list(dict.fromkeys(name for entry in tasks if len(entry.datasets) > 1 for name in entry.datasets))
