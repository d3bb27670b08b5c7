"""What every table shares: the order of names, each metric's direction (from its task
class), the best mark, whole-number columns and the Markdown / LaTeX row syntax."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd


@functools.lru_cache(maxsize=None)
def higher_is_better(task: str, metric: str) -> bool:
    """The direction the task class gives ``metric`` (Task.metrics: "max" or "min").
    Imported here, not at the top: the task modules import torch."""
    from lscrepro.tasks import task_class

    directions = task_class(task).metrics
    if metric not in directions:
        raise ValueError(f"task {task!r} has no metric {metric!r}; its metrics: {sorted(directions)}")
    return directions[metric] == "max"


def entry_title(entries: dict, name: str, field: str = "title") -> str:
    """The ``field`` title of entry ``name`` in ``entries`` (a table of lscrepro.catalog); its
    name where it has none or is not in the catalog."""
    return (getattr(entries[name], field) if name in entries else "") or name


def ordered_present(values, preferred: list) -> list:
    """The values present: those in ``preferred`` in its order, then the others sorted."""
    present = set(values)
    return [v for v in preferred if v in present] + sorted(present - set(preferred), key=str)


def mark_best(values: pd.Series, groups: list, higher_is_better, rtol: float = 0.0) -> pd.Series:
    """True for the best finite value(s) within each group of ``groups`` (ties all marked;
    within ``rtol`` counts as a tie). ``higher_is_better``: a bool or one per row."""
    finite = values.where(values.abs() != float("inf"))
    higher = pd.Series(higher_is_better, index=values.index).astype(bool)
    signed = finite.where(higher, -finite)  # larger is better throughout
    best = signed.groupby(groups).transform("max")
    return pd.Series(np.isclose(signed, best, rtol=rtol, atol=0.0), index=values.index)


def whole_numbers(values: pd.Series, what: str) -> pd.Series:
    """Whole numbers as a nullable integer column; ValueError on anything else."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = (values.notna() & numbers.isna()) | (numbers.notna() & (numbers % 1 != 0))
    if bad.any():
        raise ValueError(f"{what} should be whole numbers, got {values[bad].tolist()[:3]}")
    return numbers.astype("Int64")


def markdown_row(cells) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def latex_escape(text: str) -> str:
    return str(text).replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")


def latex_row(cells) -> str:
    return " & ".join(cells) + r" \\"


def latex_tabular(columns: str, body: list[str], packages: str = r"\usepackage{booktabs}") -> str:
    """A booktabs tabular around ``body`` (its lines, header and rules included), after a
    comment naming the ``packages`` it needs."""
    return "\n".join([f"% requires {packages}", rf"\begin{{tabular}}{{{columns}}}", r"\toprule", *body,
                      r"\bottomrule", r"\end{tabular}"]) + "\n"


def spread_text(counts: pd.Series) -> str:
    """How a table's cells read: "Mean ± std over seeds", or, where no cell has two seeds
    (no std), "One seed per cell (no std)"."""
    return "Mean ± std over seeds" if (pd.to_numeric(counts, errors="coerce") > 1).any() \
        else "One seed per cell (no std)"
