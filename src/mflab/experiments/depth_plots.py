"""Figures of the depth experiments (take plain rows, return a matplotlib Figure)."""
from __future__ import annotations

import numpy as np

from .plotting import plt


def coordinate_check_figure(rows, cfg):
    """One panel per variant: Δh_L (solid) and, for two-layer blocks, Δz^own (dashed) against depth,
    one colour per width; seed means with min–max bars."""
    V = len(cfg.variants)
    fig, axes = plt.subplots(1, V, figsize=(3.4 * V, 3.4), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for vi, (ax, v) in enumerate(zip(axes[0], cfg.variants)):
        for wi, n in enumerate(cfg.widths):
            col = cmap(wi / max(len(cfg.widths) - 1, 1))
            for key, ls in (("dh_L", "-"), ("dz_own", "--")):
                sel = [r for r in rows if r["variant"] == vi and r["width"] == n and key in r and r["alive"]]
                Ls = sorted({r["depth"] for r in sel})
                if not Ls:
                    continue
                vals = [[r[key] for r in sel if r["depth"] == L] for L in Ls]
                m = np.array([np.mean(x) for x in vals])
                err = np.array([[m_ - min(x), max(x) - m_] for m_, x in zip(m, vals)]).T
                ax.errorbar(Ls, m, yerr=err, color=col, ls=ls, marker="o", ms=3, lw=1.2, capsize=2,
                            label=f"n={n}" if key == "dh_L" else None)
        ax.set(xscale="log", yscale="log", xlabel="depth L", title=v.label)
        ax.set_xticks(cfg.depths, [str(L) for L in cfg.depths])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("rms update after GD (solid: Δh_L, dashed: Δz own)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
