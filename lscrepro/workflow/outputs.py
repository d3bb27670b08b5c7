"""The workflow's figures and tables as data: one product entry each (no torch: the Snakefile
imports this).

A product is a reducer (a step that writes tables from the runs' files) and, for a figure, a
drawer (a step that draws the figure from the reducer's tables). rules/products.smk makes one
rule per step from one template; `rule all`, the `status` rule and status.py read the paths
from here (``product_outputs``, ``final_outputs``). A step's function, named "module:function"
(imported by workflow_scripts/product.py at run time, never here), is called with its inputs,
its outputs and its settings as keywords; a rule reruns when that module or one it imports
changes meaning. Paths are under the results root. The recipe for a new figure is in
docs/operating.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..io import write_text
from .spec import output_roots


@dataclass(frozen=True)
class Runs:
    """Every run's ``filename`` of one family and kind ("train" or "pretrain"), in plan order."""
    family: str
    filename: str
    kind: str = "train"


@dataclass(frozen=True)
class FamilyFile:
    """A file read only when its family is on the grid (else the keyword is not passed)."""
    family: str
    path: str


Source = str | Runs | FamilyFile  # a path under the results root, or one of the above
Settings = Callable[[dict], dict]  # the config -> the step's settings (JSON values)


def no_settings(config: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Step:
    """One rule: ``function`` is called with ``inputs``, ``outputs`` and the settings as
    keywords. ``needs`` are inputs it is not given (files it finds beside others)."""
    rule: str
    function: str  # "module:function"
    outputs: dict[str, str]
    inputs: dict[str, Source] = field(default_factory=dict)
    needs: dict[str, Source] = field(default_factory=dict)
    settings: Settings = no_settings


@dataclass(frozen=True)
class Drawer:
    """A figure's step: ``function`` draws the reducer's outputs named in ``reads`` (its
    keyword -> the reducer's output keyword) into figures/<figure>.pdf and .png (keywords
    pdf and png)."""
    rule: str
    function: str
    reads: dict[str, str]
    figure: str
    settings: Settings = no_settings


@dataclass(frozen=True)
class Product:
    """A paper item (or another aggregate). ``files``: the item's final outputs as output
    keywords, the first being the one status.py names (none: not an item, as the claims);
    ``captions``: output keyword -> its report caption under report/ (the report's category
    is the product's name). `rule all` asks for every output either way."""
    reducer: Step
    drawer: Drawer | None = None
    family: str | None = None  # made only when this family is in the config
    setup: str | None = None  # ... and, if given, this setup in the family's setups
    files: tuple[str, ...] = ()
    captions: dict[str, str] = field(default_factory=dict)
    logs: str = "figures"  # the steps' logs: <logs root>/<logs>/<rule>.log


def _figure_files(name: str) -> dict[str, str]:
    return {"pdf": f"figures/{name}.pdf", "png": f"figures/{name}.png"}


def _lru_option(key: str, name: str) -> Settings:
    """An optional lru config key as one setting (absent: the function's default)."""
    return lambda config: {name: config["lru"][key]} if key in config.get("lru", {}) else {}


FIGURE_3 = Product(
    reducer=Step("fig3_data", "lscrepro.results.fig3:write_fig3_data",
                 inputs={"summary_csv": "rnn/summary.csv", "metrics": Runs("rnn", "metrics.json")},
                 needs={"histories": Runs("rnn", "history.csv")},
                 outputs={"out": "rnn/fig3_runs.csv", "wins_out": "rnn/fig3_wins.csv",
                          "table_out": "rnn/table.csv", "markdown_out": "rnn/table.md",
                          "latex_out": "rnn/table.tex"}),
    drawer=Drawer("plot_fig3", "lscrepro.plotting.fig3:draw_fig3", {"runs": "out", "wins": "wins_out"}, "fig3"),
    family="rnn", files=("pdf", "png", "wins_out", "table_out"),
    captions={"png": "fig3.rst", "wins_out": "fig3_wins.rst", "table_out": "rnn_table.rst"})

# product name (the paper item, and the report's category) -> its entry, in the report's order
PRODUCTS: dict[str, Product] = {
    "Figure 1": Product(
        reducer=Step("fig1_numbers", "lscrepro.results.fig1:write_fig1_tables",
                     outputs={"paths": "fig1/paths.csv", "pascal": "fig1/pascal.csv"},
                     settings=lambda config: config["fig1"]),
        drawer=Drawer("plot_fig1", "lscrepro.plotting.fig1:draw_fig1", {"paths": "paths", "pascal": "pascal"},
                      "fig1"),
        files=("pdf", "png"), captions={"png": "fig1.rst"}, logs="fig1"),
    "Figure 2": Product(
        reducer=Step("fig2_data", "lscrepro.results.fig2:write_fig2_data",
                     inputs={"summary_csv": "ffn/summary.csv"}, outputs={"out": "ffn/fig2_data.csv"}),
        drawer=Drawer("plot_fig2", "lscrepro.plotting.fig2:draw_fig2", {"data": "out"}, "fig2"),
        family="ffn", files=("pdf", "png", "out"), captions={"png": "fig2.rst", "out": "fig2_data.rst"}),
    "Figure 3": FIGURE_3,
    "Figure 4": Product(
        reducer=Step("fig4_data", "lscrepro.results.fig4:write_fig4_data",
                     inputs={"metrics": Runs("lru", "metrics.json")}, needs={"histories": Runs("lru", "history.csv")},
                     outputs={"out": "lru/fig4_curves.csv"}, settings=lambda config: {"setup": "fig4"}),
        drawer=Drawer("plot_fig4", "lscrepro.plotting.fig4:draw_fig4", {"curves": "out"}, "fig4",
                      settings=_lru_option("fig4_ylim", "ylim")),
        family="lru", setup="fig4", files=("pdf", "png", "out"),
        captions={"png": "fig4.rst", "out": "fig4_curves.rst"}),
    "Table 1": Product(
        reducer=Step("table1", "lscrepro.results.table1:write_table1",
                     inputs={"summary_csv": "lru/summary.csv"},
                     outputs={"out": "tables/table1.csv", "markdown_out": "tables/table1.md",
                              "latex_out": "tables/table1.tex"},
                     settings=lambda config: {"setup": "table1", **_lru_option("table1_bold", "bold")(config)}),
        family="lru", setup="table1", files=("markdown_out", "out", "latex_out"), captions={"out": "table1.rst"}),
    # the paper's claims, each checked on this grid's runs; not an item (the report opens with it)
    "Claims": Product(
        reducer=Step("claims", "lscrepro.results.claims:write_claims",
                     inputs={"ffn_summary": FamilyFile("ffn", "ffn/summary.csv"),
                             "rnn_summary": FamilyFile("rnn", "rnn/summary.csv"),
                             "rnn_runs": FamilyFile("rnn", FIGURE_3.reducer.outputs["out"]),
                             "lru_summary": FamilyFile("lru", "lru/summary.csv")},
                     outputs={"out": "claims.csv", "markdown_out": "claims.md"},
                     settings=lambda config: {"demo": bool(config["data"].get("demo", False))}),
        captions={"out": "claims.rst"}),
}


def steps(product: Product) -> list[Step]:
    """The product's rules: its reducer, then its drawer as a Step reading the reducer's files."""
    if product.drawer is None:
        return [product.reducer]
    drawer = product.drawer
    inputs = {name: product.reducer.outputs[output] for name, output in drawer.reads.items()}
    return [product.reducer, Step(drawer.rule, drawer.function, _figure_files(drawer.figure), inputs,
                                  settings=drawer.settings)]


def step_named(rule: str, products: dict[str, Product] | None = None) -> Step:
    """The step whose rule is ``rule``."""
    for product in (PRODUCTS if products is None else products).values():
        for step in steps(product):
            if step.rule == rule:
                return step
    raise KeyError(f"no product step makes rule {rule!r}")


def outputs_of(product: Product) -> dict[str, str]:
    """Every output of the product's steps, by keyword."""
    return {name: path for step in steps(product) for name, path in step.outputs.items()}


def products_made(config: dict, products: dict[str, Product] | None = None) -> dict[str, Product]:
    """The products this config's families and setups make."""
    made = {}
    for name, product in (PRODUCTS if products is None else products).items():
        if product.family is not None and product.family not in config:
            continue
        if product.setup is not None and product.setup not in config[product.family].get("setups", []):
            continue
        made[name] = product
    return made


def final_outputs(config: dict) -> dict[str, list[str]]:
    """{paper item: its files} for the items this config makes (`rule all`, status.py)."""
    results = output_roots(config)[0]
    return {name: [f"{results}/{outputs_of(product)[key]}" for key in product.files]
            for name, product in products_made(config).items() if product.files}


def product_outputs(config: dict) -> list[str]:
    """Every file of every product this config makes."""
    results = output_roots(config)[0]
    return [f"{results}/{path}" for product in products_made(config).values()
            for path in outputs_of(product).values()]


def paper_setups() -> list[str]:
    """The setups the paper's items read (Figure 4, Table 1)."""
    return sorted({product.setup for product in PRODUCTS.values() if product.setup})


def module_file(function: str, root: str | os.PathLike = ".") -> str:
    """The repo-relative file of a "module:function" name (a step's code input)."""
    module, _, name = function.partition(":")
    if not module or not name:
        raise ValueError(f"{function!r}: a step's function is named 'module:function'")
    path = Path(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if (Path(root) / candidate).is_file():
            return candidate.as_posix()
    raise ValueError(f"{function!r}: no file for module {module!r} under {Path(root).resolve()}")


def request_file(request: dict, folder: str | os.PathLike) -> str:
    """A step's request (function, inputs, outputs, settings) as a JSON file named by its
    digest: the path changes exactly when the request does (Snakemake's params trigger)."""
    text = json.dumps(request, sort_keys=True, indent=1)
    path = Path(folder) / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    if not path.is_file():
        write_text(path, text)  # atomic: concurrent planners never read half a file
    return path.as_posix()
