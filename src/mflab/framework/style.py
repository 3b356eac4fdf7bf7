"""Figures. Functions take plain arrays/tables and return a matplotlib Figure (saved by RunDir)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LINESTYLES = ["-", "--", ":", "-."]


def _p_colors(Ps):
    uniq = sorted(set(int(p) for p in Ps))
    cmap = plt.get_cmap("viridis")
    return {p: cmap(i / max(len(uniq) - 1, 1)) for i, p in enumerate(uniq)}


def sgld_trajectories(trace, Ps, kappas, theory):
    """Overlap and test MSE vs step for every chain (colour: P, style: κ); dashed: NNGP-KRR."""
    colors = _p_colors(Ps)
    kap_style = {k: LINESTYLES[i % 4] for i, k in enumerate(sorted(set(kappas)))}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for c in range(len(Ps)):
        col, ls = colors[int(Ps[c])], kap_style[kappas[c]]
        axes[0].plot(trace.steps, trace.values["overlap"][c], color=col, ls=ls, lw=1, alpha=0.8)
        axes[1].plot(trace.steps, trace.values["test_mse"][c], color=col, ls=ls, lw=1, alpha=0.8)
        if np.isfinite(theory["overlap"][c]):
            axes[0].axhline(theory["overlap"][c], color=col, lw=0.8, ls=(0, (2, 4)), alpha=0.6)
            axes[1].axhline(theory["test_mse"][c], color=col, lw=0.8, ls=(0, (2, 4)), alpha=0.6)
    axes[0].set(xlabel="SGLD step", ylabel="target overlap m", title="order parameter")
    axes[1].set(xlabel="SGLD step", ylabel="test MSE", yscale="log", title="test error")
    handles = [plt.Line2D([], [], color=col, label=f"P={p}") for p, col in colors.items()]
    handles += [plt.Line2D([], [], color="k", ls=ls, label=f"κ={k:g}") for k, ls in kap_style.items()]
    handles += [plt.Line2D([], [], color="gray", ls=(0, (2, 4)), label="NNGP-KRR (N=∞)")]
    axes[1].legend(handles=handles, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def learning_curves(point_rows, task_name="task"):
    """Posterior-averaged overlap and test MSE vs P, per κ: SGLD (markers, ±std) and NNGP-KRR (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    kappas = sorted(set(r["kappa"] for r in point_rows))
    cmap = plt.get_cmap("plasma")
    for i, kap in enumerate(kappas):
        rows = sorted([r for r in point_rows if r["kappa"] == kap], key=lambda r: r["n_train"])
        P = np.array([r["n_train"] for r in rows])
        col = cmap(i / max(len(kappas), 1))
        for ax, key in zip(axes, ("overlap", "test_mse")):
            y = np.array([r[key] for r in rows])
            e = np.array([r[key + "_std"] for r in rows])
            ax.errorbar(P, y, yerr=e, marker="o", color=col, capsize=3, label=f"SGLD κ={kap:g}")
            ax.plot(P, [r["krr_" + key] for r in rows], ls="--", color=col, alpha=0.7, label=f"NNGP-KRR κ={kap:g}")
    format_learning_curve_axes(fig, axes, sorted(set(r["n_train"] for r in point_rows)),
                               f"{task_name}: order parameter", legend_size=7)
    return fig


def format_learning_curve_axes(fig, axes, Ps, title, legend_size=8):
    """The (overlap, test MSE) vs P panel pair: log axes labelled with the grid's sample sizes
    (no overlapping minor labels), legend on the overlap panel."""
    from matplotlib.ticker import NullFormatter

    axes[0].set(xscale="log", xlabel="training set size P", ylabel="target overlap m", title=title)
    axes[1].set(xscale="log", yscale="log", xlabel="training set size P", ylabel="test MSE", title="learning curves")
    for ax in axes:
        ax.set_xticks(Ps, [str(p) for p in Ps], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=legend_size)
    fig.tight_layout()


def weight_map(W, support=(), title="|W|"):
    """|W_ij| (input coordinate × neuron, neurons sorted by weight on the support) and the
    marginals of relevant vs irrelevant coordinates: input feature selection at a glance."""
    W = np.asarray(W)
    support = list(support)
    rest = [j for j in range(W.shape[1]) if j not in support]
    order = np.argsort(-(W[:, support] ** 2).sum(1)) if support else np.arange(W.shape[0])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    im = axes[0].imshow(np.abs(W[order]).T, aspect="auto", cmap="magma", interpolation="nearest")
    axes[0].set(xlabel="neuron (sorted)", ylabel="input coordinate", title=title)
    fig.colorbar(im, ax=axes[0])
    bins = np.linspace(-np.abs(W).max(), np.abs(W).max(), 60)
    if support:
        axes[1].hist(W[:, support].ravel(), bins=bins, density=True, alpha=0.6, label="relevant (j ∈ S)")
    axes[1].hist(W[:, rest].ravel(), bins=bins, density=True, alpha=0.6, label="irrelevant")
    axes[1].set(yscale="log", xlabel="w_ij", title="weight marginals")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
