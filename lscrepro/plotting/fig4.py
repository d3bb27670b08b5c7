"""Figure 4, the reference's ``plot_losses`` for the ResLRU on PTB: a panel per depth, one
line per run (seed, no averaging) of the validation perplexity against the epoch, coloured
by the pre-training variant, dashed when the gradient was clipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from lscrepro.results.fig4 import read_curves
from lscrepro.results.lru import LRU_KEYS, VARIANT_ORDER
from lscrepro.results.saving import save_figure
from lscrepro.results.tables import ordered_present
from lscrepro.settings import settings_from

PathLike = str | os.PathLike

# the reference's lsc_colors
VARIANT_COLOURS = {"lsc_unbalanced": (.73, .43, .59), "lsc_half": (.43, .43, .59),
                   "lsc": (.43, .83, .59), "default": "k"}
OTHER_VARIANT_COLOURS = "colorblind"
# the reference's lsc_clean_comments
VARIANT_LABELS = {"default": "default", "lsc": r"$\rho_t=1$", "lsc_half": r"$\rho_t=0.5$",
                  "lsc_unbalanced": r"$\overline{\rho}_t=0.5$"}
CLIP_STYLES = {False: ("-", "no clipping"), True: ("--", "+ clip")}


@dataclass(frozen=True)
class Fig4Settings:
    """The config's lru.fig4_ylim: the perplexity axis range of every panel, LOW HIGH (the
    paper's 100 300), or None for automatic."""
    ylim: tuple[float, float] | None = (100, 300)

    def __post_init__(self):
        if self.ylim is None:
            return
        if len(self.ylim) != 2 or not all(isinstance(v, (int, float)) for v in self.ylim):
            raise ValueError(f"lru.fig4_ylim takes [LOW, HIGH] or null, got {self.ylim!r}")
        if not self.ylim[0] < self.ylim[1]:
            raise ValueError(f"lru.fig4_ylim: LOW must be below HIGH, got {self.ylim[0]:g} {self.ylim[1]:g}")
FONTSIZE = 9


def variant_colours(variants: list) -> dict:
    """The reference's colour per variant; a seaborn palette colour for any other."""
    others = sorted(v for v in variants if v not in VARIANT_COLOURS)
    palette = sns.color_palette(OTHER_VARIANT_COLOURS, max(len(others), 1))
    return {v: VARIANT_COLOURS[v] if v in VARIANT_COLOURS else palette[others.index(v)]
            for v in variants}


def draw_panel(ax, panel: pd.DataFrame, colours: dict) -> None:
    """One line per run; non-finite perplexities (a diverged epoch) leave a gap."""
    for key, run in panel.groupby(LRU_KEYS, sort=True):
        variant, clip = key[LRU_KEYS.index("variant")], key[LRU_KEYS.index("clip")]
        run = run.sort_values("epoch")
        values = run["val_perplexity"].to_numpy(dtype=float)
        values = np.where(np.isfinite(values), values, np.nan)
        ax.plot(run["epoch"], values, color=colours[variant], lw=1,
                ls=CLIP_STYLES[clip > 0][0])
    ax.set_xlabel("Epoch", fontsize=FONTSIZE)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.tick_params(labelsize=FONTSIZE - 1)
    sns.despine(ax=ax)


def _legend_handles(curves: pd.DataFrame, variants: list, colours: dict) -> list:
    handles = [Line2D([0], [0], color=colours[v], label=VARIANT_LABELS.get(v, v)) for v in variants]
    for clipped in sorted(set(curves["clip"] > 0)):
        style, label = CLIP_STYLES[clipped]
        handles.append(Line2D([0], [0], color="0.5", ls=style, label=label))
    return handles


def make_figure(curves: pd.DataFrame, ylim: tuple[float, float] | None = Fig4Settings.ylim) -> Figure:
    """Figure 4 as a matplotlib Figure (not registered with pyplot); a "no runs yet" note
    when ``curves`` is empty."""
    depths = sorted(curves["depth"].unique())
    with sns.axes_style("ticks"):
        fig = Figure(figsize=(max(3.2 * len(depths), 3.6), 3.0), layout="constrained")
        axes = fig.subplots(1, max(len(depths), 1), squeeze=False, sharey=True)[0]
    if not depths:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no runs yet", transform=axes[0].transAxes, ha="center",
                     va="center", color="0.6", fontsize=FONTSIZE)
        return fig
    variants = ordered_present(curves["variant"], VARIANT_ORDER)
    colours = variant_colours(variants)
    for ax, depth in zip(axes, depths):
        draw_panel(ax, curves[curves["depth"] == depth], colours)
        ax.set_title(f"{depth} layers", fontsize=FONTSIZE)
    axes[0].set_ylabel("Validation Perplexity", fontsize=FONTSIZE)
    if ylim is not None:
        axes[0].set_ylim(*ylim)  # shared by every panel
    handles = _legend_handles(curves, variants, colours)
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4),
               frameon=False, fontsize=FONTSIZE)
    return fig


def plot_fig4(curves: pd.DataFrame, *outputs: PathLike, settings: Fig4Settings = Fig4Settings()) -> None:
    """Draw Figure 4 from the fig4_curves table; save it to each output path, atomically."""
    missing = sorted({*LRU_KEYS, "epoch", "val_perplexity"} - set(curves.columns))
    if missing:
        raise ValueError(f"curves lack columns {missing}")
    save_figure(make_figure(curves, settings.ylim), *outputs)


def draw_fig4(curves: PathLike, pdf: PathLike, png: PathLike, **settings) -> None:
    """Figure 4's drawer (lscrepro/workflow/outputs.py): from fig4_curves.csv, with the
    config's lru.fig4_ylim as ``ylim`` (absent: the paper's axis)."""
    plot_fig4(read_curves(curves), pdf, png, settings=settings_from(Fig4Settings, settings, "lru.fig4"))
