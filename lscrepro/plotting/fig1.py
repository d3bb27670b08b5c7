"""Figure 1, drawn from the CSV tables of lscrepro.analytic alone.

a) schematic of gradient paths on the depth x time grid (no data);
b) number of descent paths, from paths.csv (panel, x, dt, dl, log10_paths);
c) outputs and input gradients of the PascalRNN and HeRNN, from pascal.csv
   (net, rho, sample, t, output, abs_grad, closed_form).
"""

from __future__ import annotations

import math
import os

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from lscrepro.results.saving import save_figure

PathLike = str | os.PathLike

PATH_COLUMNS = ["panel", "x", "dt", "dl", "log10_paths"]
GRADIENT_COLUMNS = ["net", "rho", "sample", "t", "output", "abs_grad", "closed_form"]
COUNT_COLOUR = "#018E32"
CLOSED_FORM_COLOUR = "#2AB307"
FONTSIZE = 12
CLOSED_FORM_LABEL = r"closed form $\sum_k \rho^{L+k}\binom{k+L-1}{L-1}$"
LABEL_SIZE = FONTSIZE + 2
LABEL_BOX = dict(facecolor="white", edgecolor="none", alpha=0.8, pad=0.5)


def _check_columns(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{name} lacks columns {sorted(missing)}")


def _arrow(ax, start, end, colour) -> None:
    # shrink (in points) keeps the arrow heads off the grid circles
    ax.add_patch(FancyArrowPatch(start, end, mutation_scale=10, color=colour, shrinkA=6, shrinkB=6))


def _bracket(ax, start, end, normal, colour) -> None:
    """A square bracket from start to end whose arms point along -normal."""
    start, end, normal = map(np.asarray, (start, end, normal))
    points = np.array([start - normal, start, end, end - normal])
    ax.add_line(Line2D(*points.T, lw=4, color=colour, alpha=0.4, solid_capstyle="butt"))


def _random_paths(n_time: int, n_depth: int, n_paths: int, seed: int) -> list[list[tuple]]:
    """Distinct random descending paths from the top-right grid node to (0, 0), as (col, row) lists.

    Each is a shuffle of n_depth - 1 diagonal moves (one step back in time and one layer down)
    and n_time - n_depth moves one step back in time.
    """
    if n_paths > math.comb(n_time - 1, n_depth - 1):
        raise ValueError(f"a {n_time} x {n_depth} grid has fewer than {n_paths} descending paths")
    rng = np.random.default_rng(seed)
    moves = [1] * (n_depth - 1) + [0] * (n_time - n_depth)
    paths: list[list[tuple[int, int]]] = []
    while len(paths) < n_paths:
        path = [(n_time - 1, n_depth - 1)]
        for diagonal in rng.permutation(moves):
            path.append((path[-1][0] - 1, path[-1][1] - diagonal))
        if path not in paths:
            paths.append(path)
    return paths


def _beside(start, end, distance: float) -> np.ndarray:
    """A point next to the middle of segment start -> end: up/left of it for distance > 0."""
    start, end = np.asarray(start), np.asarray(end)
    direction = end - start
    normal = np.array([direction[1], -direction[0]]) / np.hypot(*direction)
    return (start + end) / 2 + distance * normal


def draw_grid_schematic(ax, n_time: int = 6, n_depth: int = 4, n_paths: int = 3, seed: int = 17):
    """Panel a: the grid from (t, l) to (T, L) and a few gradient paths descending from (T, L)."""
    xs = np.linspace(0, 1, n_time)
    ys = np.linspace(0, 1, n_depth)
    grid_x, grid_y = np.meshgrid(xs, ys)
    ax.scatter(grid_x.ravel(), grid_y.ravel(), s=60, facecolors="none", edgecolors="k", zorder=3)

    paths = _random_paths(n_time, n_depth, n_paths, seed)
    segments = [list(zip(path[:-1], path[1:])) for path in paths]
    cmap = matplotlib.colormaps["tab20"]
    spread = 0.025  # separates paths that share a segment
    for i, path_segments in enumerate(segments):
        colour = cmap(0.4 + 0.4 * i / max(n_paths - 1, 1))
        offset = np.array([0.0, spread * (i - (n_paths - 1) / 2)])
        points = [[offset + (xs[c], ys[r]) for c, r in segment] for segment in path_segments]
        for start, end in points:
            _arrow(ax, start, end, colour)
        # label the path on a segment no other path uses, so the label is unambiguous
        shared = {segment for j, other in enumerate(segments) if j != i for segment in other}
        own = [k for k, segment in enumerate(path_segments) if segment not in shared]
        at = _beside(*points[own[0] if own else len(points) // 2], 0.08)
        ax.text(*at, f"$c_{i}$", color=colour, fontsize=LABEL_SIZE, ha="center", va="center", bbox=LABEL_BOX)
        if i == 0:  # M_k names one local Jacobian: a diagonal step of the first path
            diagonal = next(k for k, (head, tail) in enumerate(path_segments) if head[1] != tail[1])
            mk_at = _beside(*points[diagonal], -0.1)

    for row in range(n_depth - 1, 0, -1):  # feed-forward net: depth only, at the first time step
        _arrow(ax, (xs[0], ys[row]), (xs[0], ys[row - 1]), "k")
    ax.text(xs[0] - 0.04, 0.5, "$c_{FFN}$", fontsize=LABEL_SIZE, ha="right", va="center")
    for col in range(n_time - 1, 0, -1):  # single-layer RNN: time only, in the bottom layer
        _arrow(ax, (xs[col], ys[0]), (xs[col - 1], ys[0]), "r")
    ax.text(0.5, -0.12, r"$c_{1\text{-}RNN}$", color="r", fontsize=LABEL_SIZE, ha="center", va="top")

    ax.text(*mk_at, "$M_k$", color=CLOSED_FORM_COLOUR, fontsize=LABEL_SIZE + 2, ha="center", va="center",
            bbox=LABEL_BOX)
    _bracket(ax, (0, 1.22), (1, 1.22), (0, 0.03), "r")
    _bracket(ax, (1.18, 0), (1.18, 1), (0.03, 0), "r")
    ax.text(0.5, 1.27, r"$\Delta t$", color="r", alpha=0.6, fontsize=LABEL_SIZE, ha="center", va="bottom")
    ax.text(1.23, 0.5, r"$\Delta l$", color="r", alpha=0.6, fontsize=LABEL_SIZE, va="center")
    for text, x, y in [("t", 0, 1.1), ("T", 1, 1.1), ("l", 1.09, 0), ("L", 1.09, 1)]:
        ax.text(x, y, f"${text}$", fontsize=LABEL_SIZE, ha="center", va="center")
    ax.set_xlim(-0.25, 1.4)
    ax.set_ylim(-0.25, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")


def _thousands(value, _position) -> str:
    return f"{value / 1000:g}K" if abs(value) >= 1000 else f"{value:g}"


def _power_of_ten(value, _position) -> str:
    return f"$10^{{{value:g}}}$"


def draw_path_counts(axes, paths: pd.DataFrame) -> None:
    """Panel b on three axes: path counts against T, against dl, and along T = ratio * dl.

    The counts reach 1e240 and beyond, so log10 counts are drawn on a linear axis labelled in
    powers of ten: a log scale that cannot overflow.
    """
    _check_columns(paths, PATH_COLUMNS, "paths table")
    time, depth, diagonal = (paths[paths["panel"] == panel] for panel in ("time", "depth", "diagonal"))
    ratio = int(round((diagonal["dt"] / diagonal["dl"]).median()))
    panels = [
        (time, r"$T$", rf"$\Delta l = {time['dl'].iloc[0]}$"),
        (depth, r"$\Delta l$", rf"$T = {depth['dt'].iloc[0]}$"),
        (diagonal, rf"${ratio}\Delta l=T$", ""),
    ]
    for ax, numeral, (curve, xlabel, title) in zip(axes, ["i)", "ii)", "iii)"], panels):
        ax.plot(curve["x"], curve["log10_paths"], color=COUNT_COLOUR, lw=2)
        ax.set_xlabel(xlabel, fontsize=FONTSIZE)
        ax.set_title(f"{numeral} {title}", loc="left", fontsize=FONTSIZE)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        sns.despine(ax=ax)
    axes[0].set_ylabel("# descent paths", fontsize=FONTSIZE)


def draw_gradients(axes, gradients: pd.DataFrame) -> None:
    """Panel c on a (net x rho) grid of axes.

    y = Net(x) in blue and |dy/dx| in orange, one shade per sample; the closed form, where the
    table has one, dashed on top.
    """
    _check_columns(gradients, GRADIENT_COLUMNS, "gradient table")
    nets = list(dict.fromkeys(gradients["net"]))
    rhos = sorted(gradients["rho"].unique())
    n_samples = gradients["sample"].nunique()
    blues = sns.color_palette("Blues", n_samples + 2)[2:]
    oranges = sns.color_palette("Oranges", n_samples + 2)[2:]
    for row, net in enumerate(nets):
        for col, rho in enumerate(rhos):
            ax = axes[row][col]
            panel = gradients[(gradients["net"] == net) & (gradients["rho"] == rho)]
            for (_, sample), blue, orange in zip(panel.groupby("sample"), blues, oranges):
                ax.plot(sample["t"], sample["output"], color=blue, lw=1)
                ax.plot(sample["t"], sample["abs_grad"], color=orange, lw=1.5)
            closed = panel[panel["sample"] == panel["sample"].min()]
            if closed["closed_form"].notna().all():
                ax.plot(closed["t"], closed["closed_form"], color=CLOSED_FORM_COLOUR, ls="--")
            if row == 0:
                ax.set_title(rf"$\rho = {rho:g}$", fontsize=FONTSIZE)
            if row == len(nets) - 1:
                ax.set_xlabel("t", fontsize=FONTSIZE)
            if col == 0:
                ax.set_ylabel(f"{net}\namplitude", fontsize=FONTSIZE)
            sns.despine(ax=ax)


def _legend_handles() -> list[Line2D]:
    return [
        Line2D([0], [0], color=sns.color_palette("Blues", 3)[2], lw=2, label="y = Net(x)"),
        Line2D([0], [0], color=sns.color_palette("Oranges", 3)[2], lw=2, label="|dy/dx|"),
        Line2D([0], [0], color=CLOSED_FORM_COLOUR, lw=2, ls="--", label=CLOSED_FORM_LABEL),
    ]


def make_figure(paths: pd.DataFrame, gradients: pd.DataFrame) -> Figure:
    """The whole of Figure 1 as a matplotlib Figure (not registered with pyplot)."""
    n_rhos = gradients["rho"].nunique()
    n_nets = gradients["net"].nunique()
    with sns.axes_style("ticks"):
        fig = Figure(figsize=(12, 8.5), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
        sub_a, sub_b = top.subfigures(1, 2, width_ratios=[1, 1.9])
        draw_grid_schematic(sub_a.subplots())
        draw_path_counts(sub_b.subplots(1, 3), paths)
        axes_c = bottom.subplots(n_nets, n_rhos, squeeze=False)
        draw_gradients(axes_c, gradients)
    bottom.legend(handles=_legend_handles(), loc="outside lower center", ncols=3, frameon=False)
    for sub, letter in [(sub_a, "a"), (sub_b, "b"), (bottom, "c")]:
        sub.suptitle(letter, x=0.01, ha="left", fontweight="bold", fontsize=FONTSIZE + 4)
    return fig


def plot_fig1(paths_csv: PathLike, gradients_csv: PathLike, *outputs: PathLike) -> None:
    """Read the two CSV tables and save Figure 1 to each output path (format from the suffix)."""
    fig = make_figure(pd.read_csv(paths_csv), pd.read_csv(gradients_csv))
    save_figure(fig, *outputs)


def draw_fig1(paths: PathLike, pascal: PathLike, pdf: PathLike, png: PathLike) -> None:
    """Figure 1's drawer (lscrepro/workflow/outputs.py)."""
    plot_fig1(paths, pascal, pdf, png)
