"""Figures of the mean-field Langevin experiments (take plain arrays and rows, return a Figure)."""
from __future__ import annotations

import numpy as np

from ...framework.style import finish, plt, ticks_at


CHAOS_CAPTION = ("C_N(t) = (1/N) Σ_i |θ_i^N(t) − θ_i^ref(t)|²: mean squared distance of the N particles from their "
                 "synchronously coupled copies in the M_ref-particle reference; G_N(t) = ‖f_N(t) − f_ref(t)‖²_L²(ρ): "
                 "function gap. Error bars: ± 1 standard error over replicas. Theory: slope −1 in N, uniformly in t.")


def _stderr(a):
    """Standard error over the replicas (axis 0); 0 with one replica (a run whose others diverged)."""
    return a.std(0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros(a.shape[1:])


def chaos_rate_figure(metrics: dict, fits: dict, times, dist_rows, setting: str = ""):
    """Left: N·C_N(t) against t, one curve per N (flat and N-independent if the O(1/N) rate is
    uniform in time). Middle: sup_t C_N and sup_t G_N against N with the fitted slopes and a 1/N
    guide. Right: the distribution diagnostics at the final time with the sliced i.i.d. floor."""
    widths = sorted(metrics)
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 3, figsize=(12.6, 3.6))
    for i, n in enumerate(widths):
        c = metrics[n]["coupling"][:, 1:]
        m = n * c.mean(0)
        e = n * _stderr(c)
        axes[0].errorbar(times[1:], m, yerr=e, color=cmap(i / max(len(widths) - 1, 1)), marker="o", ms=2,
                         capsize=2, label=f"N={n}")
    axes[0].set(xlabel="time t = kη", ylabel="N · C_N(t)",
                title="N·C_N(t): curves flat and equal ⇔ O(1/N) uniformly in t")
    axes[0].legend(fontsize=7)
    ax = axes[1]
    for name, col, lab in (("coupling", "C0", "sup_t C_N"), ("function_gap", "C1", "sup_t G_N")):
        f = fits[name]["sup_over_time"]
        sup = [metrics[n][name][:, 1:].max(axis=1) for n in widths]
        m = np.array([s.mean() for s in sup])
        e = np.array([_stderr(s) for s in sup])
        ci = f["ci95"] or [np.nan, np.nan]
        ax.errorbar(widths, m, yerr=e, color=col, marker="o", ms=3, capsize=2,
                    label=f"{lab}: slope {f['slope']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")
        ax.plot(widths, m[0] * widths[0] / np.asarray(widths, float), color=col, lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="particles N", title="rate in N (dotted: 1/N)")
    ax.legend(fontsize=7)
    ax = axes[2]
    Ns = sorted({r["N"] for r in dist_rows})
    for key, lab, col in (("w2_sq", "W₂² (exact OT)", "C2"), ("sliced_w2_sq", "sliced W₂²", "C3"),
                          ("floor", "sliced floor (N-subsample of ref)", "0.5"), ("debiased", "sliced − floor", "C4")):
        v = [np.mean([r[key] for r in dist_rows if r["N"] == n]) for n in Ns]
        v = np.where(np.asarray(v) > 0, v, np.nan)
        ax.plot(Ns, v, marker="o", ms=3, color=col, label=lab, ls="--" if key == "floor" else "-")
    ax.set(xscale="log", yscale="log", xlabel="particles N", title="distribution diagnostics (final t)")
    ax.legend(fontsize=7)
    for a in axes[1:]:
        ticks_at(a, widths)
    if setting:
        fig.suptitle(f"propagation of chaos: {setting}", fontsize=10)
    fig.tight_layout()
    fig.text(0.5, -0.04, CHAOS_CAPTION, ha="center", va="top", fontsize=7, wrap=True)
    return fig


def movement_figure(rows, widths):
    """Per-particle movement against N, one curve per parametrization, with fitted slopes."""
    fig, ax = plt.subplots(figsize=(4.4, 3.4))
    for i, par in enumerate(sorted({r["parametrization"] for r in rows})):
        sel = sorted((r for r in rows if r["parametrization"] == par), key=lambda r: r["N"])
        Ns = [r["N"] for r in sel]
        for key, ls in (("rms_movement", "-"), ("max_movement", ":")):
            ax.plot(Ns, [r[key] for r in sel], color=f"C{i}", ls=ls, marker="o", ms=3,
                    label=f"{par} ({key.split('_')[0]})")
    ax.set(xscale="log", yscale="log", xlabel="width N", ylabel="|θ_i(t) − θ_i(0)|",
           title="per-particle movement (μP: Θ(1); NTK: N^-1/2)")
    ticks_at(ax, widths)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sparse_atoms_figure(rows, cfg):
    """Left: the staircase Ŝ(λ) with S_up (closed form) and the Frank–Wolfe support. Right: the final
    particle cloud of the smallest λ in the (w_1, w_2) plane, marker area ∝ |a||w|, atoms as stars."""
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.5))
    lams = [r["lam"] for r in rows]
    ax = axes[0]
    ax.step(lams, [r["S_hat"] for r in rows], where="mid", marker="o", label="Ŝ (atoms of the particle cloud)")
    ax.step(lams, [r["S_up"] for r in rows], where="mid", ls="--", label="S_up (closed form)")
    if "S_star_fw" in rows[0]:
        ax.plot(lams, [r["S_star_fw"] for r in rows], "s", mfc="none", label="S* (Frank–Wolfe)")
    for A in rows[0]["thresholds_A"]:
        ax.axvline(A, color="0.7", lw=0.8, ls=":")
    ax.set(xscale="log", xlabel="weight decay λ (dotted: thresholds A_j)", ylabel="number of atoms",
           title="sparsity staircase")
    ticks_at(ax, lams, lambda v: f"{v:g}")
    ax.legend(fontsize=7)
    r = rows[0]
    th = np.asarray(r["theta"])
    W, a = th[:, 1:], th[:, 0]
    size = 200 * np.abs(a) * np.linalg.norm(W, axis=1) / max(np.max(np.abs(a) * np.linalg.norm(W, axis=1)), 1e-12)
    axes[1].scatter(W[:, 0], W[:, 1], s=size + 1, c=np.sign(a), cmap="coolwarm", alpha=0.6)
    for atom in r["atoms"]:
        w = np.asarray(atom["direction"])
        axes[1].plot(w[0], w[1], "k*", ms=10)
    axes[1].set(xlabel="w₁", ylabel="w₂", title=f"particles at λ = {r['lam']:g}, (w₁, w₂) projection\n"
                "(area ∝ |a||w|; stars: unit atom directions)")
    axes[1].title.set_fontsize(9)
    amps = ", ".join(f"{b:g}" for b in cfg.amplitudes)
    return finish(fig,
                  f"sparse atoms: μP mean-field {cfg.activation} network, N = {cfg.width} particles, d = {cfg.d}, "
                  f"teacher amplitudes b = ({amps}) on e_1…e_{len(cfg.amplitudes)}, τ = {cfg.tau:g}, "
                  f"{cfg.steps} steps at η = {cfg.eta:g}",
                  f"Ŝ: atoms of the final particle cloud (clusters of the particles carrying {cfg.mass:g} of Σ|α_i|, "
                  f"amplitudes above {cfg.eps_amp:g} of the largest); "
                  "S_up: the coefficient-threshold count (closed form for orthogonal atoms); S*: the support of the "
                  "population TV problem by sliding Frank–Wolfe; A_j = |b_j|/2: the decay at which atom j drops out. "
                  "Expected: Ŝ ≤ S_up, a staircase in λ.")


def error_decomposition_figure(rows, cfg, tail, opt_rows=()):
    """Left: the four components against t (smallest N and n, replica means; the optimisation part on
    the reference's fine time grid when ``opt_rows`` are given) with the total and the unrealizable
    Hermite tail. Middle: chaos at T against N. Right: statistical at T against n."""
    fig, axes = plt.subplots(1, 3, figsize=(12.6, 3.5))
    N0, n0 = min(cfg.widths), min(cfg.n_train)
    ts = sorted({r["t"] for r in rows})
    for i, c in enumerate(("chaos", "optimization", "statistical", "residual", "total")):
        if c == "optimization" and opt_rows:
            tf = sorted({r["t"] for r in opt_rows})[:-1]
            v = [np.mean([r[c] for r in opt_rows if r["t"] == t and r["n"] == n0]) for t in tf]
            axes[0].plot(tf, np.where(np.asarray(v) > 0, v, np.nan), color=f"C{i}", label=c, lw=1.2)
            continue
        v = [np.mean([r[c] for r in rows if r["t"] == t and r["N"] == N0 and r["n"] == n0]) for t in ts]
        axes[0].plot(ts, np.where(np.asarray(v) > 0, v, np.nan), marker="o", ms=2, color=f"C{i}", label=c,
                     lw=2 if c == "total" else 1.2)
    axes[0].axhline(tail["unrealizable"], color="0.5", ls=":", label="unrealizable Hermite tail")
    axes[0].set(yscale="log", xlabel="time t", ylabel="‖Δ‖² in L²(ρ)", title=f"components (N = {N0}, n = {n0})")
    low = min((v for ln in axes[0].get_lines() for v in ln.get_ydata() if np.isfinite(v) and v > 0), default=1e-3)
    axes[0].set_ylim(bottom=low / 40)  # room under the curves for the legend
    axes[0].legend(fontsize=6.5, loc="lower right", ncol=2)
    T = max(ts)
    final = [r for r in rows if r["t"] == T]
    for ax, key, xs, comp, lab in ((axes[1], "N", sorted(set(cfg.widths)), "chaos", "particles N"),
                                   (axes[2], "n", sorted(set(cfg.n_train)), "statistical", "samples n")):
        for i, other in enumerate(sorted({r["n" if key == "N" else "N"] for r in final})):
            m = [np.mean([r[comp] for r in final if r[key] == x and r["n" if key == "N" else "N"] == other]) for x in xs]
            ax.plot(xs, m, marker="o", ms=3, color=f"C{i}", label=f"{'n' if key == 'N' else 'N'} = {other}")
        ax.plot(xs, m[0] * xs[0] / np.asarray(xs, float), color="0.6", ls=":", label="∝ 1/x")
        ax.set(xscale="log", yscale="log", xlabel=lab, title=f"{comp} at t = {T:g}")
        ticks_at(ax, xs)
        ax.legend(fontsize=7)
    return finish(fig, f"error decomposition: μP mean-field erf network, d = {cfg.d}, τ = {cfg.tau:g}, λ = {cfg.lam:g}, "
                  f"η = {cfg.eta:g}; N ∈ {sorted(set(cfg.widths))} against N_ref = {cfg.m_ref}",
                  "f_A − f* = (f_A − f_B) chaos + (f_B − f_C) optimisation + (f_C − f_D) statistical + "
                  "(f_D − f*) residual, with A: N particles on n samples at t; B: the coupled N_ref run; C: B at the final "
                  f"time; D: the population run; squared L²(N(0, I_d)) norms, means over {cfg.replicas} replicas. "
                  "Dotted: the energy of the target's degrees erf cannot represent.")
