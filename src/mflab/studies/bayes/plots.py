"""Figures of the Bayesian two-layer studies: SGLD trajectories and learning curves, phase diagrams,
all-method learning curves, weight maps and marginals."""
from __future__ import annotations

import numpy as np

from ...framework.style import LINESTYLES, plt, size_colors
from .design import ERRORS

COLORS = {"sgld": "C0", "mf": "C1", "mf-ard": "C2", "krr": "C3", "network-2": "C4"}  # network-2: a second network run beside the first (another sampler or budget)
LABELS = {"sgld": "SGLD (network)", "mf": "MF", "mf-ard": "MF-ARD", "krr": "NNGP-KRR (N=∞)"}


def method_label(meth: str, labels: dict | None = None) -> str:
    """A method's name in legends and titles: ``labels`` (e.g. the network's sampler) over :data:`LABELS`."""
    return {**LABELS, **(labels or {})}.get(meth, meth)


def _grid(rows, meth, Ps, kaps, key="overlap"):
    M = np.full((len(kaps), len(Ps)), np.nan)
    for i, k in enumerate(kaps):
        for j, P in enumerate(Ps):
            v = np.array([r[key] for r in rows if r["method"] == meth and r["n_train"] == P and r["kappa"] == k],
                         float)
            M[i, j] = np.nanmean(v) if np.isfinite(v).any() else np.nan  # every chain diverged: NaN, no warning
    return M


def phase_diagrams(rows, methods, Ps, kaps, crit, threshold, setting: str = "", labels: dict | None = None):
    """Heatmaps of m over (P, κ), one per method, with the P_c(κ) estimates marked; ``setting`` (task,
    d, k, N, activation) in the title."""
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
        ax.set(title=method_label(meth, labels), xlabel="training set size P")
    axes[0][0].set_ylabel("noise scale κ (T = 2κ²)")
    fig.colorbar(im, ax=axes[0].tolist(), label=f"target overlap m of ⟨f⟩ (red: P_c at m = {threshold})", shrink=0.85)
    fig.suptitle(f"phase diagram{f': {setting}' if setting else ''} (cells: m, mean over replicas)", fontsize=10,
                 y=1.04)
    return fig


def learning_curves(rows, methods, kappa, setting, labels: dict | None = None):
    """m and both test errors vs P at one κ, all methods on one figure (mean ± std over replicas): the
    error of each method's posterior mean, and its Gibbs error (mflab.theory.predictive)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for meth in methods:
        sel = [r for r in rows if r["method"] == meth and r["kappa"] == kappa]
        Ps = sorted(set(r["n_train"] for r in sel))
        for ax, key in zip(axes, ("overlap", *ERRORS)):
            v = [[r[key] for r in sel if r["n_train"] == P] for P in Ps]
            ax.errorbar(Ps, [np.mean(x) for x in v], yerr=[np.std(x) for x in v], marker="o", capsize=3,
                        color=COLORS.get(meth), label=method_label(meth, labels), ls="--" if meth == "krr" else "-")
    format_learning_curve_axes(fig, axes, sorted(set(r["n_train"] for r in rows)), f"{setting}, κ={kappa:g}")
    return fig


def target_basis(directions, d: int) -> np.ndarray:
    """An orthonormal basis of R^d (columns) whose first J columns span the target's directions v_j (J, d)
    and whose remaining d − J columns span their orthogonal complement (QR of [Vᵀ | I])."""
    V = np.atleast_2d(np.asarray(directions, float))
    Q, _ = np.linalg.qr(np.concatenate([V.T, np.eye(d)], axis=1))
    return Q[:, :d]


def weight_marginals(clouds: dict, support, title, directions=None, setting: str = "", labels: dict | None = None):
    """Per method: the marginal of the first-layer weights on relevant vs irrelevant inputs, and the |w| map.
    Coordinates (parity): relevant = the support's coordinates w_j. With ``directions`` (a Gaussian
    multi/single-index target) the weights are rotated to the target's basis (:func:`target_basis`):
    relevant = w·v* along the target directions, irrelevant = the d − J orthogonal directions, so that
    selection *of a direction* shows even when it mixes support coordinates."""
    n = len(clouds)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 6), squeeze=False)
    rotated = directions is not None
    support = list(range(np.atleast_2d(directions).shape[0])) if rotated else list(support)
    names = ("along w*", "orthogonal to w*") if rotated else ("relevant", "irrelevant")
    for col, (meth, W) in enumerate(clouds.items()):
        W = np.asarray(W, np.float64)  # a diverged chain's last finite float32 state (~1e38) squared stays finite
        if rotated:
            W = W @ target_basis(directions, W.shape[1])
        _support_marginals(axes[0][col], W, support, names, 50)
        axes[0][col].set(yscale="log", title=f"{method_label(meth, labels)}: {title}",
                         xlabel="w·u (u: target basis)" if rotated else "w_j", ylabel="density")
        _support_map(fig, axes[1][col], W, support, "|w·u|" if rotated else "|w_j|")
        axes[1][col].set(xlabel="neuron / particle (sorted by weight on the relevant inputs)",
                         ylabel="target basis direction (w* first)" if rotated else "input coordinate")
    what = "one posterior sample (network) / the particle cloud (MF)"
    fig.suptitle(f"{setting + ': ' if setting else ''}first-layer weights of {what}", fontsize=10)
    fig.tight_layout()
    return fig


def sgld_trajectories(trace, Ps, kappas, theory, setting):
    """Overlap and each sample's test MSE vs step for every chain (colour: P, style: κ); dashed: NNGP-KRR
    (its overlap, and its Gibbs error: the error of a sample of the N = ∞ posterior, like with like)."""
    colors = size_colors(Ps)
    kap_style = {k: LINESTYLES[i % 4] for i, k in enumerate(sorted(set(kappas)))}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for c in range(len(Ps)):
        col, ls = colors[int(Ps[c])], kap_style[kappas[c]]
        axes[0].plot(trace.steps, trace.values["overlap"][c], color=col, ls=ls, lw=1, alpha=0.8)
        axes[1].plot(trace.steps, trace.values["test_mse"][c], color=col, ls=ls, lw=1, alpha=0.8)
        if np.isfinite(theory["overlap"][c]):
            axes[0].axhline(theory["overlap"][c], color=col, lw=0.8, ls=(0, (2, 4)), alpha=0.6)
            axes[1].axhline(theory["test_mse_gibbs"][c], color=col, lw=0.8, ls=(0, (2, 4)), alpha=0.6)
    axes[0].set(xlabel="SGLD step", ylabel="target overlap m of the sample", title=f"{setting}: order parameter")
    axes[1].set(xlabel="SGLD step", ylabel="test MSE of the sample", yscale="log",
                title="test error of each sample (its average: the Gibbs error)")
    handles = [plt.Line2D([], [], color=col, label=f"P={p}") for p, col in colors.items()]
    handles += [plt.Line2D([], [], color="k", ls=ls, label=f"κ={k:g}") for k, ls in kap_style.items()]
    handles += [plt.Line2D([], [], color="gray", ls=(0, (2, 4)), label="NNGP-KRR (N=∞): m, Gibbs error")]
    fig.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def sgld_learning_curves(point_rows, setting, label="SGLD"):
    """Posterior-averaged overlap and both test errors vs P, per κ: the network's sampler (markers, ± std
    over replicas; ``label`` names it) and NNGP-KRR (dashed)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    kappas = sorted(set(r["kappa"] for r in point_rows))
    cmap = plt.get_cmap("plasma")
    for i, kap in enumerate(kappas):
        rows = sorted([r for r in point_rows if r["kappa"] == kap], key=lambda r: r["n_train"])
        P = np.array([r["n_train"] for r in rows])
        col = cmap(i / max(len(kappas), 1))
        for ax, key in zip(axes, ("overlap", *ERRORS)):
            y = np.array([r[key] for r in rows])
            e = np.array([r[key + "_std"] for r in rows])
            ax.errorbar(P, y, yerr=e, marker="o", color=col, capsize=3, label=f"{label} κ={kap:g}")
            ax.plot(P, [r["krr_" + key] for r in rows], ls="--", color=col, alpha=0.7, label=f"NNGP-KRR κ={kap:g}")
    format_learning_curve_axes(fig, axes, sorted(set(r["n_train"] for r in point_rows)),
                               f"{setting}: order parameter", legend_size=7)
    return fig


def format_learning_curve_axes(fig, axes, Ps, title, legend_size=8):
    """The (overlap, error of the posterior mean, Gibbs error) vs P panels: log axes labelled with the
    grid's sample sizes (no overlapping minor labels), legend on the overlap panel, error bars ± one
    standard deviation over replicas."""
    from matplotlib.ticker import NullFormatter

    axes[0].set(xscale="log", xlabel="training set size P", ylabel="target overlap m of ⟨f⟩", title=title)
    for ax, label in zip(axes[1:], ERRORS.values()):
        ys = [y for ln in ax.get_lines() for y in np.asarray(ln.get_ydata(), float).ravel()]
        positive = any(np.isfinite(y) and y > 0 for y in ys)
        ax.set(xscale="log", yscale="log" if positive else "linear", xlabel="training set size P", ylabel="test MSE",
               title=label)
        if not positive:  # e.g. the error of the posterior mean when each chain keeps only its final sample
            ax.text(0.5, 0.5, "not defined for these runs\n(one sample per chain)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8, color="0.4")
    for ax in axes:
        ax.set_xticks(Ps, [str(p) for p in Ps], fontsize=8)
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].legend(fontsize=legend_size)
    fig.text(0.5, -0.02, "error bars: ± one standard deviation over replicas (data set, initialisation, noise)",
             ha="center", fontsize=8)
    fig.tight_layout()


def _support_marginals(ax, W, support, names, n_bins):
    """Histograms of the weights W[:, j] on the ``support`` columns and on the rest (names: their labels)."""
    lim = np.abs(W).max()
    bins = np.linspace(-lim, lim, n_bins)
    if support:
        ax.hist(W[:, support].ravel(), bins=bins, density=True, alpha=0.6, label=names[0])
    ax.hist(W[:, [j for j in range(W.shape[1]) if j not in support]].ravel(), bins=bins, density=True, alpha=0.6,
            label=names[1])
    ax.legend(fontsize=7)


def _support_map(fig, ax, W, support, label):
    """|W| as an image (column: neuron, sorted by its squared weight on the ``support``; row: coordinate)."""
    order = np.argsort(-(W[:, support] ** 2).sum(1)) if support else np.arange(len(W))
    im = ax.imshow(np.abs(W[order]).T, aspect="auto", cmap="magma", interpolation="nearest")
    fig.colorbar(im, ax=ax, label=label)


def weight_map(W, support=(), title="|W|"):
    """|W_ij| (input coordinate × neuron, neurons sorted by weight on the support) and the
    marginals of relevant vs irrelevant coordinates: input feature selection at a glance. In float64, so
    that the last finite state of a diverged chain (float32, up to ~10³⁸) does not overflow its squares."""
    W = np.asarray(W, np.float64)
    support = list(support)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    _support_map(fig, axes[0], W, support, "|w_ij|")
    axes[0].set(xlabel="neuron i (sorted by its weight on the support S)" if support else "neuron i",
                ylabel="input coordinate j")
    _support_marginals(axes[1], W, support, ("relevant (j ∈ S)", "irrelevant"), 60)
    axes[1].set(yscale="log", xlabel="first-layer weight w_ij", ylabel="density (log scale)",
                title="marginals of w_ij over neurons")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
