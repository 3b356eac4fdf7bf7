"""Shared figure style of every study: line styles and colour maps. Figure functions live with their
study family (``studies/<family>/plots.py``); they take plain arrays/tables and return a matplotlib
Figure, which :meth:`RunDir.save_figure` writes. Importing this module leaves matplotlib's backend alone
(a notebook keeps its own); the command line selects the non-interactive Agg backend itself."""
from __future__ import annotations

import matplotlib.pyplot as plt

LINESTYLES = ["-", "--", ":", "-."]


def size_colors(Ps) -> dict:
    """One viridis colour per distinct sample size (or width), in increasing order."""
    uniq = sorted(set(int(p) for p in Ps))
    cmap = plt.get_cmap("viridis")
    return {p: cmap(i / max(len(uniq) - 1, 1)) for i, p in enumerate(uniq)}


def ticks_at(ax, xs, fmt=str):
    """Major x ticks exactly at the measured values xs (labels ``fmt(x)``), no minor ticks: the sizes of a
    log-scaled sweep (widths, depths, sample sizes) read as themselves, not as powers of ten."""
    ax.set_xticks(xs, [fmt(x) for x in xs])
    ax.xaxis.set_minor_locator(plt.NullLocator())


def finish(fig, title: str, caption: str):
    """The setting as the figure's title and what its marks and symbols mean as a caption under it; laid out."""
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.text(0.5, -0.01, caption, ha="center", va="top", fontsize=7.5, wrap=True)
    return fig
