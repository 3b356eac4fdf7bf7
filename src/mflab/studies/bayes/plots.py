"""Figures of the phase experiment: phase diagrams, learning curves, weight marginals."""
from __future__ import annotations

import numpy as np

from .plotting import format_learning_curve_axes, plt

COLORS = {"sgld": "C0", "mf": "C1", "mf-ard": "C2", "krr": "C3"}
LABELS = {"sgld": "SGLD (network)", "mf": "MF", "mf-ard": "MF-ARD", "krr": "NNGP-KRR (N=∞)"}


def _grid(rows, meth, Ps, kaps, key="overlap"):
    M = np.full((len(kaps), len(Ps)), np.nan)
    for i, k in enumerate(kaps):
        for j, P in enumerate(Ps):
            v = [r[key] for r in rows if r["method"] == meth and r["n_train"] == P and r["kappa"] == k]
            M[i, j] = np.nanmean(v) if v else np.nan
    return M


def phase_diagrams(rows, methods, Ps, kaps, crit, threshold):
    """Heatmaps of m over (P, κ), one per method, with the P_c(κ) estimates marked."""
    Ps, kaps = sorted(Ps), sorted(kaps)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.4), squeeze=False)
    for ax, meth in zip(axes[0], methods):
        M = _grid(rows, meth, Ps, kaps)
        im = ax.imshow(M, origin="lower", aspect="auto", vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(Ps)), [str(p) for p in Ps], rotation=45, fontsize=7)
        ax.set_yticks(range(len(kaps)), [f"{k:g}" for k in kaps], fontsize=7)
        for i, k in enumerate(kaps):
            for j in range(len(Ps)):
                if np.isfinite(M[i, j]):
                    ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=6,
                            color="w" if M[i, j] < 0.6 else "k")
            pc = [r["critical"] for r in crit if r["method"] == meth and r["kind"] == "P_c" and r["kappa"] == k]
            if pc and np.isfinite(pc[0]):
                ax.plot(np.interp(np.log(pc[0]), np.log(Ps), np.arange(len(Ps))), i, "r|", ms=14, mew=2)
        ax.set(title=LABELS.get(meth, meth), xlabel="P")
    axes[0][0].set_ylabel("κ")
    fig.colorbar(im, ax=axes[0].tolist(), label=f"target overlap m (red: P_c at m={threshold})", shrink=0.85)
    return fig


def learning_curves(rows, methods, kappa, task_name):
    """m and test MSE vs P at one κ, all methods on one figure (mean ± std over replicas)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for meth in methods:
        sel = [r for r in rows if r["method"] == meth and r["kappa"] == kappa]
        Ps = sorted(set(r["n_train"] for r in sel))
        for ax, key in zip(axes, ("overlap", "test_mse")):
            v = [[r[key] for r in sel if r["n_train"] == P] for P in Ps]
            ax.errorbar(Ps, [np.mean(x) for x in v], yerr=[np.std(x) for x in v], marker="o", capsize=3,
                        color=COLORS.get(meth), label=LABELS.get(meth, meth), ls="--" if meth == "krr" else "-")
    format_learning_curve_axes(fig, axes, sorted(set(r["n_train"] for r in rows)), f"{task_name}, κ={kappa:g}")
    return fig


def weight_marginals(clouds: dict, support, title):
    """Per method: the marginal of w_j on relevant vs irrelevant coordinates, and the |w| map."""
    n = len(clouds)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 6), squeeze=False)
    support = list(support)
    for col, (meth, W) in enumerate(clouds.items()):
        W = np.asarray(W)
        rest = [j for j in range(W.shape[1]) if j not in support]
        lim = np.abs(W).max()
        bins = np.linspace(-lim, lim, 50)
        ax = axes[0][col]
        if support:
            ax.hist(W[:, support].ravel(), bins=bins, density=True, alpha=0.6, label="relevant")
        ax.hist(W[:, rest].ravel(), bins=bins, density=True, alpha=0.6, label="irrelevant")
        ax.set(yscale="log", title=f"{LABELS.get(meth, meth)}: {title}", xlabel="w_j")
        ax.legend(fontsize=7)
        order = np.argsort(-(W[:, support] ** 2).sum(1)) if support else np.arange(len(W))
        axes[1][col].imshow(np.abs(W[order]).T, aspect="auto", cmap="magma", interpolation="nearest")
        axes[1][col].set(xlabel="neuron / particle (sorted)", ylabel="input coordinate")
    fig.tight_layout()
    return fig
