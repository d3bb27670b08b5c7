"""Recurrent cells of the deep RNNs: one entry per cell, in the order of Figure 3 and the
table. A new cell is a layer module (``step``, ``forward``, ``initial_state`` and
``lsc_view()``; lscrepro/lsc/views.py) plus one entry here, or ``register_cell``."""

from __future__ import annotations

from dataclasses import dataclass

from .entrypoints import entry_file


@dataclass(frozen=True)
class CellEntry:
    name: str
    # "module:function" (or the function): builder(n_in, n, generator, *, activation, steps)
    # -> one layer; its module is code of the jobs that build the cell
    builder: object
    # in Markdown tables and figures (default: the name), and in LaTeX tables (default: the
    # title, escaped); given as keywords: the jobs' code digest leaves them out (codedeps)
    title: str = ""
    title_latex: str = ""


CELLS: dict[str, CellEntry] = {entry.name: entry for entry in (
    CellEntry("LSTM", "lscrepro.models.rnn:lstm_layer"),
    CellEntry("GRU", "lscrepro.models.rnn:gru_layer"),
    CellEntry("rsimplernn", "lscrepro.models.rnn:relu_rnn_layer", title="RNN-ReLU"),
    CellEntry("ssimplernn", "lscrepro.models.rnn:sigmoid_rnn_layer", title="RNN-σ", title_latex=r"RNN-$\sigma$"),
    CellEntry("maLSNN", "lscrepro.models.rnn:alif_layer", title="ALIF₊", title_latex=r"ALIF$_+$"),
    CellEntry("maLSNNb", "lscrepro.models.rnn:alif_gauss_beta_layer", title="ALIF±", title_latex=r"ALIF$_\pm$"),
)}


def register_cell(name: str, builder, title: str = "", title_latex: str = "") -> None:
    """Add a cell (its builder, or its ``"module:function"``) under ``name``."""
    CELLS[name] = CellEntry(name, builder, title, title_latex)


def cell_entry(name: str) -> CellEntry:
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; valid cells: {', '.join(CELLS)}")
    return CELLS[name]


def cell_files(names) -> list[str]:
    """Repo-relative files of the registered cells ``names``: the deep RNN imports a cell's
    module by name, which an import graph cannot see, so it is code of the jobs that build it."""
    return [path for name in names if name in CELLS for path in entry_file(CELLS[name].builder)]
