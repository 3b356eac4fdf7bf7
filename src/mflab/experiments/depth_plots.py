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


def depth_limit_figure(rows, cfg):
    """Two panels (init, after T GD steps): the coupled depth increment |E Δ_L| (noise-debiased) of
    each observable against the fine depth 2L, ±1 standard error; hollow markers are levels not
    resolved above 2 standard errors. Dotted: the infinite-width prediction for K_h at init;
    grey: a 1/L guide."""
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.5), sharey=True)
    colours = {"f": "C0", "K_h": "C1", "K_phi": "C2"}
    labels = {"f": "outputs f", "K_h": "kernel K_h", "K_phi": "feature kernel K_φ"}
    for ax, stage in zip(axes, ("init", "trained")):
        for obs, col in colours.items():
            sel = sorted((r for r in rows if r["stage"] == stage and r["observable"] == obs), key=lambda r: r["depth"])
            if not sel:
                continue
            x = np.array([r["fine_depth"] for r in sel])
            y = np.array([max(r["debiased"], 1e-12) for r in sel])
            e = np.array([r["stderr"] for r in sel])
            ok = np.array([r["resolved"] for r in sel])
            ax.errorbar(x, y, yerr=e, color=col, lw=1.2, capsize=2, label=labels[obs])
            ax.scatter(x[ok], y[ok], color=col, s=16, zorder=3)
            ax.scatter(x[~ok], y[~ok], facecolor="white", edgecolor=col, s=16, zorder=3)
            if stage == "init" and obs == "K_h":
                ax.plot(x, [r["theory_infinite_width"] for r in sel], ":", color=col, label="K_h, n = ∞ theory")
        allx = np.array(sorted({r["fine_depth"] for r in rows}))
        ref = max((r["debiased"] for r in rows if r["stage"] == stage and r["resolved"]), default=1e-3)
        ax.plot(allx, ref * allx[0] / allx, color="0.6", lw=0.8, label="∝ 1/L")
        ax.set(xscale="log", yscale="log", xlabel="fine depth 2L",
               title=f"{'initialisation' if stage == 'init' else f'after {cfg.steps} GD steps'} (n = {cfg.width})")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("|E[O(2L) − O(coarsened, L)]|")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
