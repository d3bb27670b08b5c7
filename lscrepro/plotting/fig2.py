"""Figure 2, drawn from fig2_data.csv (lscrepro.results.fig2) alone.

Test accuracy of the dense stacks against the learning rate, one panel per dataset x
activation, one line per initialisation: the mean over seeds with a band of mean ± std/2 (one
std wide in all, as in the reference). The paper lays the nine panels out in one row; here they
form a grid, one row per dataset (bold, above its row, sharing the y axis) and one column per
activation, which stays readable at print size.
"""

from __future__ import annotations

import os

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from lscrepro.catalog.datasets import prepared_entries
from lscrepro.results.fig2 import read_fig2_data
from lscrepro.results.saving import save_figure
from lscrepro.results.tables import entry_title, ordered_present

PathLike = str | os.PathLike

# the datasets' order and titles: their entries in lscrepro.catalog.datasets
ACTIVATION_ORDER = ["cos", "relu", "sin"]
ACTIVATION_TITLES = {"relu": "ReLU", "sin": "Sin", "cos": "Cos"}  # one case: capitalised
# the paper's colours and legend labels (lsc_colors and the July 2023 lsc_clean_comments)
VARIANT_COLOURS = {"glorot": (0.25, 0.50, 0.36), "he": (0.97, 0.28, 0.26), "lsc": (0.43, 0.83, 0.59)}
VARIANT_LABELS = {"glorot": "Glorot", "he": "He", "lsc": r"LSC ($\rho_t=1$)"}
OTHER_PALETTE = "colorblind"
FONTSIZE = 10
BAND_ALPHA = 0.5


def variant_styles(variants: list[str]) -> dict[str, tuple[str, tuple]]:
    """Legend label and colour per variant; variants the paper lacks get their own name and
    the next colour of a seaborn palette."""
    others = [v for v in variants if v not in VARIANT_COLOURS]
    palette = sns.color_palette(OTHER_PALETTE, max(len(others), 1))
    styles = {v: (VARIANT_LABELS[v], VARIANT_COLOURS[v]) for v in variants if v in VARIANT_COLOURS}
    styles |= {v: (v, colour) for v, colour in zip(others, palette)}
    return {v: styles[v] for v in variants}


def draw_panel(ax, panel: pd.DataFrame, styles: dict[str, tuple[str, tuple]]) -> None:
    """One dataset x activation panel from rows of the figure table."""
    for variant, (label, colour) in styles.items():
        curve = panel[panel["variant"] == variant].sort_values("lr")
        if curve.empty:
            continue
        lr, mean = curve["lr"].to_numpy(), curve["test_accuracy_mean"].to_numpy()
        half = curve["test_accuracy_std"].to_numpy() / 2
        # markers keep a learning rate without neighbours visible
        ax.plot(lr, mean, color=colour, lw=1, marker="o", ms=2.5, label=label)
        # std is NaN where only one seed ran: fill_between leaves a gap there
        ax.fill_between(lr, mean - half, mean + half, color=colour, alpha=BAND_ALPHA, lw=0)
    ax.set_xscale("log")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    sns.despine(ax=ax)


def make_figure(table: pd.DataFrame) -> Figure:
    """Figure 2 from the figure table (lscrepro.results.fig2.fig2_table) as a matplotlib
    Figure (not registered with pyplot). Dataset x activation pairs without runs stay blank."""
    if table.empty:
        raise ValueError("no runs to plot")
    if (table["lr"] <= 0).any():
        raise ValueError("learning rates must be positive for the log axis")
    datasets = ordered_present(table["dataset"], list(prepared_entries()))
    activations = ordered_present(table["activation"], ACTIVATION_ORDER)
    styles = variant_styles(ordered_present(table["variant"], list(VARIANT_COLOURS)))
    with sns.axes_style("ticks"):
        fig = Figure(figsize=(2.2 * len(activations) + 0.8, 1.9 * len(datasets) + 0.6),
                     layout="constrained")
        rows = fig.subfigures(len(datasets), 1, squeeze=False)[:, 0]
        for row, dataset in zip(rows, datasets):
            row.suptitle(entry_title(prepared_entries(), dataset), fontweight="bold", fontsize=FONTSIZE + 1)
            row.supylabel("Accuracy", fontsize=FONTSIZE)
            axes = row.subplots(1, len(activations), sharey=True, squeeze=False)[0]
            drawn = []
            for ax, activation in zip(axes, activations):
                panel = table[(table["dataset"] == dataset) & (table["activation"] == activation)]
                ax.set_title(ACTIVATION_TITLES.get(activation, activation), fontsize=FONTSIZE)
                if panel.empty:
                    ax.set_axis_off()
                    ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", va="center",
                            color="0.6", fontsize=FONTSIZE)
                else:
                    draw_panel(ax, panel, styles)
                    drawn.append(ax)
            # sharey labels only the first column; if that panel is blank, label the first drawn
            if drawn:
                drawn[0].tick_params(labelleft=True)
        rows[-1].supxlabel("Learning rate", fontsize=FONTSIZE)
    handles = [Line2D([0], [0], color=colour, lw=4, label=label) for label, colour in styles.values()]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize=FONTSIZE)
    return fig


def plot_fig2(table: pd.DataFrame, *outputs: PathLike) -> None:
    """Save Figure 2 of the figure table (fig2_data.csv) to each output path (format from the suffix)."""
    save_figure(make_figure(table), *outputs)


def draw_fig2(data: PathLike, pdf: PathLike, png: PathLike) -> None:
    """Figure 2's drawer (lscrepro/workflow/outputs.py): from fig2_data.csv."""
    plot_fig2(read_fig2_data(data), pdf, png)
