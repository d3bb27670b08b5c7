"""Figure 3, drawn from the tables of lscrepro.results.fig3 (fig3_wins.csv, fig3_runs.csv).

(a) The reference's ``nice_bar_plot`` on the run sets its grid scheduled (no ALIF run with
rho = 0.5; its rho = 1 bar for the other nets counts their rho = 0.5 runs too): per comparison,
the percentage of matched (task, net, seed) pairs in which the pre-trained variant beats the
other, for 2 and 5 layers, with a dashed line at 50 %. (b) The same bars on every run of this
grid, ALIF rho = 0.5 included, rho = 1 bars from rho = 1 runs only. (c) What the bars hide, the
effect sizes: every run's metric (test accuracy in %, or test perplexity) by net and variant, a
row per task and a column per depth, with the mean ± std over seeds beside the runs.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lscrepro.results.fig3 import FIG3_COMPARISONS, FIG3_PANELS, read_runs, read_wins
from lscrepro.results.rnn_table import VARIANT_ORDER, net_order, net_title, task_order, task_title
from lscrepro.results.saving import save_figure
from lscrepro.results.tables import ordered_present

PathLike = str | os.PathLike

BAR_WIDTH = 0.33
DEPTH_COLOURS = {2: "#C6C580", 5: "#609208"}  # the reference's '2 layers' / '5 layers'
OTHER_DEPTH_COLOURS = "colorblind"
BAR_LABELS = {  # the reference's x-tick labels
    "ρ=0.5 better than ρ=1": "$\\rho_t=0.5$\nbetter than\n$\\rho_t=1$",
    "ρ=0.5 better than none": "$\\rho_t=0.5$\nbetter than\nnone",
    "ρ=1 better than none (ALIFs)": "$\\rho_t=1$\nbetter than\nnone\n(ALIFs)",
    "ρ=1 better than none (no ALIFs)": "$\\rho_t=1$\nbetter than\nnone\n(no ALIFs)",
}
# what each bar panel holds, under its title
PANEL_NOTES = {
    "paper": "no ALIF run with $\\rho_t=0.5$, as the reference's grid;\n"
             "$\\rho_t=1$ (no ALIFs) counts their $\\rho_t=0.5$ runs too",
    "all": "every net with every variant;\n$\\rho_t=1$ bars: $\\rho_t=1$ runs only",
}
VARIANT_COLOURS = {"default": "#7F7F7F", "lsc": "#1B9E77", "lsc_half": "#D95F02"}
VARIANT_LABELS = {"default": "none", "lsc": r"$\rho_t=1$", "lsc_half": r"$\rho_t=0.5$"}
METRIC_LABELS = {"mode_accuracy": "Test accuracy (%)", "perplexity": "Test perplexity"}
FONTSIZE = 9


def _depth_colours(depths: list) -> dict:
    others = [d for d in depths if d not in DEPTH_COLOURS]
    palette = sns.color_palette(OTHER_DEPTH_COLOURS, max(len(others), 1))
    return {d: DEPTH_COLOURS.get(d) or palette[others.index(d)] for d in depths}


def draw_bars(ax, wins: pd.DataFrame, depths: list | None = None, legend: bool = True) -> None:
    """One bar panel (the rows of one panel of fig3_wins): a bar per comparison and depth at
    100 wins/pairs; "no pairs" where none matched. ``depths``: those to draw (default: the
    table's)."""
    comparisons = list(FIG3_COMPARISONS)
    depths = sorted(wins["depth"].unique()) if depths is None else list(depths)
    colours = _depth_colours(depths)
    x = np.arange(len(comparisons))
    for i, depth in enumerate(depths):
        shift = (i - (len(depths) - 1) / 2) * BAR_WIDTH  # two depths: +-0.165, as the reference
        rows = wins[wins["depth"] == depth].set_index("comparison").reindex(comparisons)
        heights = rows["percent"].fillna(0).to_numpy()
        ax.bar(x + shift, heights, width=BAR_WIDTH, color=colours[depth], label=f"{depth} layers")
        for position, height, won, pairs in zip(x + shift, heights, rows["wins"].fillna(0),
                                                rows["pairs"].fillna(0)):
            # wins/pairs above each bar: how many experiments a percentage rests on
            text, y = ("no pairs", 2) if pairs == 0 else (f"{won:.0f}/{pairs:.0f}", height + 1)
            # on a white box above the 50 % line, which would otherwise strike through a
            # label just under it (4/9 = 44 %)
            ax.text(position, y, text, rotation=90 if pairs == 0 else 0, ha="center", va="bottom",
                    fontsize=FONTSIZE - 2, color="0.4", zorder=3,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.3})
    ax.axhline(50, color="k", ls="--", lw=1, zorder=2)
    ax.set_yticks([0, 25, 50, 75])
    ax.set_ylim(0, 108)
    ax.set_ylabel("Percentage\nof experiments", fontsize=FONTSIZE)
    ax.set_xticks(x, [BAR_LABELS[c] for c in comparisons], fontsize=FONTSIZE - 1)
    if depths and legend:
        ax.legend(frameon=False, fontsize=FONTSIZE, loc="upper left", bbox_to_anchor=(1, 1))
    sns.despine(ax=ax)


def draw_panels(subfig, wins: pd.DataFrame) -> list:
    """Panels (a) and (b): a bar plot per panel of FIG3_PANELS side by side, sharing the y-axis
    and the depths, the depth legend right of the last. ValueError if ``wins`` lacks the panel
    column or a panel."""
    if "panel" not in wins.columns:
        raise ValueError("wins lacks the panel column (fig3_wins, not matched_wins)")
    missing = [p for p in FIG3_PANELS if p not in set(wins["panel"])]
    if missing:
        raise ValueError(f"wins lacks the panels {missing}")
    depths = sorted(wins["depth"].unique())
    axes = []
    for panel_fig, (panel, spec) in zip(subfig.subfigures(1, len(FIG3_PANELS)), FIG3_PANELS.items()):
        ax = panel_fig.subplots()
        if axes:
            ax.sharey(axes[0])
        draw_bars(ax, wins[wins["panel"] == panel], depths, legend=False)
        panel_fig.suptitle(spec.title, x=0.02, ha="left", fontsize=FONTSIZE + 1, fontweight="bold")
        ax.set_title(PANEL_NOTES.get(panel, ""), fontsize=FONTSIZE - 1, color="0.3", loc="left")
        axes.append(ax)
    for ax in axes[1:]:
        ax.set_ylabel("")
    if depths:  # one legend for both panels, so that they keep the same width
        handles, labels = axes[0].get_legend_handles_labels()
        subfig.legend(handles, labels, loc="outside upper right", ncols=len(depths), frameon=False,
                      fontsize=FONTSIZE)
    return axes


def draw_runs(ax, panel: pd.DataFrame, nets: list, variants: list) -> None:
    """Panel (c) for one task and depth: each run as a dot, the mean ± std as a bar beside."""
    palette = {v: VARIANT_COLOURS.get(v, "0.2") for v in variants}
    common = dict(data=panel, x="net", y="value", hue="variant", order=nets, hue_order=variants,
                  palette=palette, ax=ax, legend=False)
    # jitter off keeps the figure deterministic; dodge splits the variants within a net
    sns.stripplot(**common, dodge=True, jitter=False, size=3, alpha=0.5)
    # the same offsets as the strip's dodge (0.8 wide, split among the variants)
    spread = 0.8 * (len(variants) - 1) / len(variants)
    sns.pointplot(**common, dodge=spread if len(variants) > 1 else False, errorbar="sd",
                  markers="_", markersize=8, linestyle="none", err_kws={"linewidth": 1.2})
    ax.set_xticks(range(len(nets)), [net_title(n) for n in nets], rotation=30,
                  fontsize=FONTSIZE - 1)
    ax.set_xlabel("")
    sns.despine(ax=ax)


def _plot_values(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs with a finite metric, accuracy in %, as the table reports it."""
    scale = runs["metric_name"].map({"mode_accuracy": 100}).fillna(1)
    values = runs.assign(value=runs["metric"] * scale)
    return values[np.isfinite(values["value"])]


def draw_effects(subfig, runs: pd.DataFrame) -> list:
    """Panels (c): a row per task, a column per depth; "no runs" where a pair has none."""
    tasks = ordered_present(runs["task"], task_order())
    depths = sorted(runs["depth"].unique())
    nets, variants = ordered_present(runs["net"], net_order()), ordered_present(runs["variant"], VARIANT_ORDER)
    values = _plot_values(runs)
    axes = subfig.subplots(len(tasks), len(depths), squeeze=False)
    for row, task in zip(axes, tasks):
        metric = runs.loc[runs["task"] == task, "metric_name"].iloc[0]
        for ax, depth in zip(row, depths):
            panel = values[(values["task"] == task) & (values["depth"] == depth)]
            ax.set_title(f"{task_title(task)}, {depth} layers", fontsize=FONTSIZE)
            if panel.empty:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center", va="center",
                        color="0.6", fontsize=FONTSIZE)
                continue
            draw_runs(ax, panel, nets, variants)
            ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=FONTSIZE)
    return variants


def make_figure(wins: pd.DataFrame, runs: pd.DataFrame) -> Figure:
    """Figure 3 as a matplotlib Figure (not registered with pyplot): the bar panels of
    ``wins`` (fig3_wins) side by side above the per-run panel of ``runs`` (rnn_runs)."""
    if runs.empty:
        raise ValueError("no runs to plot")
    n_tasks, n_depths = runs["task"].nunique(), runs["depth"].nunique()
    with sns.axes_style("ticks"):
        fig = Figure(figsize=(max(11.0, 3.2 * n_depths + 0.8), 3.3 + 2.3 * n_tasks), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[3.3, 2.3 * n_tasks])
        top.suptitle("Matched runs (RNN-ReLU left out): how often pre-training wins", x=0.02, ha="left",
                     fontsize=FONTSIZE + 1)
        draw_panels(top, wins)
        bottom.suptitle("(c) every run", x=0.02, ha="left", fontsize=FONTSIZE + 1, fontweight="bold")
        variants = draw_effects(bottom, runs)
    handles = [Line2D([0], [0], color=VARIANT_COLOURS.get(v, "0.2"), marker="o", ls="none",
                      label=VARIANT_LABELS.get(v, v)) for v in variants]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               fontsize=FONTSIZE, title="pre-training", title_fontsize=FONTSIZE)
    return fig


def plot_fig3(wins: pd.DataFrame, runs: pd.DataFrame, *outputs: PathLike) -> None:
    """Draw Figure 3 from the fig3_wins and rnn_runs tables; save it to each output path."""
    save_figure(make_figure(wins, runs), *outputs)


def draw_fig3(runs: PathLike, wins: PathLike, pdf: PathLike, png: PathLike) -> None:
    """Figure 3's drawer (lscrepro/workflow/outputs.py): from fig3_runs.csv and fig3_wins.csv."""
    plot_fig3(read_wins(wins), read_runs(runs), pdf, png)
