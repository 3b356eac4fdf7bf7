"""Figures of the depth experiments (take plain rows, return a matplotlib Figure)."""
from __future__ import annotations

import numpy as np

from ...framework.style import finish as _finish
from ...framework.style import plt, ticks_at


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
        ticks_at(ax, cfg.depths)
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("rms update after GD (solid: Δh_L, dashed: Δz own)")
    axes[0][0].legend(fontsize=7)
    return _finish(fig, f"coordinate check: {cfg.activation} ResNets, d = {cfg.d}, P = {cfg.n_inputs} Gaussian inputs, "
                   f"{cfg.steps} GD step(s) at base rate η = {cfg.lr:g}",
                   f"Points: mean over {cfg.seeds} seeds; bars: min to max over seeds. Δh_L: rms change of the last "
                   "hidden layer's features; Δz own (two-layer blocks): rms change of a block's inner pre-activation "
                   "from its own first matrix's update. Flat in L and n: updates stable in depth and width.")


def depth_limit_figure(rows, cfg):
    """Two panels (init, after T GD steps): the coupled depth increment |E Δ_L| (noise-debiased) of
    each observable against the fine depth 2L, ±1 standard error; levels not resolved above 2
    standard errors are hollow ▽ at that upper bound. Dotted: the infinite-width prediction for K_h at init;
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
            e = np.array([r["stderr"] for r in sel])
            ok = np.array([bool(r["resolved"]) and r["debiased"] > 0 for r in sel])
            y = np.array([r["debiased"] for r in sel])
            ax.errorbar(x[ok], y[ok], yerr=e[ok], color=col, lw=1.2, capsize=2, marker="o", ms=4, label=labels[obs])
            # not resolved: drawn at its upper bound, 2 standard errors
            ax.scatter(x[~ok], 2 * e[~ok], marker="v", facecolor="white", edgecolor=col, s=22, zorder=3)
            if stage == "init" and obs == "K_h":
                ax.plot(x, [r["theory_infinite_width"] for r in sel], ":", color=col, label="K_h, n = ∞ theory")
        allx = np.array(sorted({r["fine_depth"] for r in rows}))
        ref = max((r["debiased"] for r in rows if r["stage"] == stage and r["resolved"]), default=1e-3)
        ax.plot(allx, ref * allx[0] / allx, color="0.6", lw=0.8, label="∝ 1/L")
        ax.set(xscale="log", yscale="log", xlabel="fine depth 2L",
               title=f"{'initialisation' if stage == 'init' else f'after {cfg.steps} GD steps'} (n = {cfg.width})")
        ticks_at(ax, allx, lambda v: str(int(v)))
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("|E[O(2L) − O(coarsened, L)]|")
    axes[0].legend(fontsize=7)
    return _finish(fig, f"depth limit: {cfg.activation} ResNets ({cfg.parametrization}), n = {cfg.width}, d = {cfg.d}, "
                   f"P = {cfg.n_inputs} inputs on the sphere, GD at η = {cfg.lr:g}",
                   f"O(2L) − O(L): a depth-2L network minus its coarsened depth-L partner (shared Brownian increments); "
                   f"|mean| over {cfg.seeds} seeds, noise-debiased; bars ± 1 standard error; hollow ▽: not resolved above "
                   "2 standard errors, drawn at that bound. K_h = h hᵀ/n, K_φ = φ(h) φ(h)ᵀ/n of the last layer.")


def depth_transfer_figure(rows, optima, cfg):
    """Rows: tasks; columns: variants. Seed-mean final train loss against the base rate η, one curve
    per depth (diverged rates left out); stars mark the refined optima η*(L) at the best measured loss."""
    T, V = len(cfg.tasks), len(cfg.variants)
    fig, axes = plt.subplots(T, V, figsize=(3.4 * V, 3.0 * T), sharex=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ti, t in enumerate(cfg.tasks):
        for vi, v in enumerate(cfg.variants):
            ax, top = axes[ti][vi], 0.0
            for li, L in enumerate(cfg.depths):
                col = cmap(li / max(len(cfg.depths) - 1, 1))
                sel = [r for r in rows if r["task"] == t and r["variant"] == vi and r["depth"] == L]
                xs, ys = [], []
                for lr in cfg.lrs:
                    rs = [r for r in sel if r["lr"] == lr]
                    if rs and all(r["alive"] and r["train_loss"] is not None for r in rs):
                        xs.append(lr)
                        ys.append(np.mean([r["train_loss"] for r in rs]))
                ax.plot(xs, ys, color=col, lw=1.3, marker="o", ms=2, label=f"L={L}")
                top = max([top] + [3 * ys[0]] * bool(ys))
                for o in optima:
                    if o["task"] == t and o["variant"] == vi and o["depth"] == L and np.isfinite(o["lr_opt"]):
                        ax.plot([o["lr_opt"]], [o["train_loss_opt"]], marker="*", ms=9, color=col, mec="k", mew=0.5)
            ax.set(xscale="log", yscale="log", title=f"{t}: {v.label}")
            if top > 0:
                ax.set_ylim(top=top)  # runs that blew up but stayed finite would hide the curves
            ax.title.set_fontsize(9)
            if vi == 0:
                ax.set_ylabel(f"train loss after {cfg.steps} steps")
            if ti == T - 1:
                ax.set_xlabel("base learning rate η")
    axes[0][0].legend(fontsize=7)
    return _finish(fig, f"learning-rate transfer across depth: {cfg.activation} ResNets, n = {cfg.width}, "
                   f"{cfg.steps} full-batch GD steps, P = {cfg.n_train}",
                   f"Lines: train loss averaged over the last 10 % of the steps, mean over {cfg.seeds} seeds; rates "
                   "at which a seed diverged are left out. Stars: the refined optimum η*(L). A transferring "
                   "parametrization keeps η* fixed as L grows.")


def depth_coupling_figure(rows, cfg):
    """Left: the accumulated coupling a_k at the last step (solid) and its null (dashed) against L,
    one colour per width. Right: the ablation effect |f_std − f_abl| (solid) and the null swap's
    (dashed) after the last step; seed means ± standard errors."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
    cmap = plt.get_cmap("viridis")
    panels = ((axes[0], cfg.steps - 1, "coupling", "coupling_null", "accumulated coupling a_k (last step)"),
              (axes[1], cfg.steps, "ablation_effect", "null_effect", f"rms |f_std − f_abl| after {cfg.steps} steps"))
    for ax, step, key, null, ylabel in panels:
        for wi, n in enumerate(cfg.widths):
            col = cmap(wi / max(len(cfg.widths) - 1, 1))
            for k, ls in ((key, "-"), (null, "--")):
                Ls, m, e = [], [], []
                for L in cfg.depths:
                    v = [r[k] for r in rows if r["width"] == n and r["depth"] == L and r["step"] == step and r["alive"]]
                    if v:
                        Ls.append(L)
                        m.append(np.mean(v))
                        e.append(np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)
                ax.errorbar(Ls, m, yerr=e, color=col, ls=ls, marker="o", ms=3, capsize=2,
                            label=f"n={n}" if k == key else None)
        ax.set(xscale="log", yscale="log", xlabel="depth L", ylabel=ylabel)
        ticks_at(ax, cfg.depths)
    for ax in axes:  # room above the curves for the legend
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi * (hi / lo) ** 0.35)
    axes[0].legend(fontsize=7, title="solid: measured, dashed: null", title_fontsize=7, ncol=3, loc="upper center")
    return _finish(fig, f"reused-weight coupling: depth-μP {cfg.activation} ResNets, d = {cfg.d}, P = {cfg.n_inputs} "
                   f"inputs on the sphere, {cfg.steps} GD steps at η = {cfg.lr:g}",
                   f"Mean over {cfg.seeds} seeds, bars ± 1 standard error. a_k: the accumulated effect "
                   "at step k of the conditional mean of W(0)ᵀ given its forward products (the reused-weight coupling) "
                   "on the input layer's backward vector; f_abl: the network trained with it replaced by an "
                   "independent draw; dashed: the null (the same swap along a random subspace of equal size).")


NFD_STYLE = {"both": ("k", "-"), "forward": ("C2", "--"), "none": ("C3", ":")}
NET_COLOURS = {"backprop": "C0", "decoupled": "C1", "ablate-coupling": "C4"}
NFD_PANELS = (("f_T-f_0[0]", "f_T − f_0, input 0"), ("G0[00]@T", "G₀ (0,0) after T steps"),
              ("Phi_L[00]@T", "Φ_L (0,0) after T steps"))


def nfd_width_figure(rows, ext, cfg):
    """At the largest depth: network seed means ± 1 standard error against 1/n for each training mode, with
    their 1/n fit (thin line, to n = ∞), and the simulator's three response modes as horizontal lines."""
    L = max(cfg.depths)
    fig, axes = plt.subplots(1, len(NFD_PANELS), figsize=(3.6 * len(NFD_PANELS), 3.4))
    for ax, (obs, title) in zip(axes, NFD_PANELS):
        for mode, col in NET_COLOURS.items():
            sel = sorted((r for r in rows if r["depth"] == L and r["source"] == "network" and r["variant"] == mode
                          and r["observable"] == obs and np.isfinite(r["mean"])), key=lambda r: r["width"])
            if not sel:
                continue
            x = np.array([1.0 / r["width"] for r in sel])
            ax.errorbar(x, [r["mean"] for r in sel], yerr=[r["se"] for r in sel], color=col, marker="o", ms=4,
                        lw=0, elinewidth=1.2, capsize=2, label=f"{mode} networks")
            fit = [e for e in ext if e["depth"] == L and e["mode"] == mode and e["observable"] == obs]
            if fit:
                xs = np.array([0.0, x.max()])
                ax.plot(xs, fit[0]["limit"] + fit[0]["slope_1_over_n"] * xs, color=col, lw=0.8, alpha=0.7)
        for resp, (col, ls) in NFD_STYLE.items():
            v = [r["mean"] for r in rows if r["depth"] == L and r["source"] == "simulator" and r["variant"] == resp
                 and r["observable"] == obs]
            if v:
                ax.axhline(v[0], color=col, ls=ls, lw=1.2, label=f"simulator, responses = {resp}")
        ax.set(xlabel="1 / width", title=f"{title} (L = {L})")
        ax.title.set_fontsize(9)
        ax.set_xlim(left=-0.02 * ax.get_xlim()[1])
    axes[0].legend(fontsize=6.5)
    return _finish(fig, f"NFD limit against finite width: {cfg.activation} ResNets at depth L = {L}, {cfg.steps} GD "
                   f"steps at η = {cfg.lr:g}, P = {len(cfg.targets)} inputs on the sphere",
                   f"Points: networks, mean over {cfg.seeds} seeds ± 1 standard error; thin lines: their fit in 1/n, "
                   "extrapolated to n = ∞; horizontal lines: the NFD simulator with each response mode. G₀: the "
                   "input-layer gradient kernel; Φ_L: the last layer's feature kernel.")


def nfd_gap_figure(gap, cfg):
    """The backprop − decoupled gap of the first input's output against depth: paired network differences at
    the largest width (± 1 standard error) and the simulator's both − none."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.3), sharey=True)
    for ax, obs in zip(axes, ("f_1-f_0[0]", "f_T-f_0[0]")):
        sel = sorted((r for r in gap if r["observable"] == obs), key=lambda r: r["depth"])
        L = [r["depth"] for r in sel]
        ax.errorbar(L, [r["network_gap"] for r in sel], yerr=[r["network_gap_se"] for r in sel], marker="o", ms=4,
                    capsize=2, color="C0", label=f"networks, n = {sel[0]['width']}" if sel else None)
        sim = [(r["depth"], r["simulator_gap"]) for r in sel if r.get("simulator_gap") is not None]
        if sim:
            ax.plot(*zip(*sim), "s--", color="k", ms=4, label="simulator, both − none")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set(xscale="log", xlabel="depth L", title=f"backprop − decoupled: {obs.replace('[0]', ', input 0')}")
        ticks_at(ax, L)
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("gap")
    axes[0].legend(fontsize=7)
    return _finish(fig, f"the reused-weight (response) terms against depth: {cfg.activation} ResNets, "
                   f"{cfg.steps} GD steps at η = {cfg.lr:g}",
                   f"Gap: backprop minus decoupled training (the backward pass through independent weight copies), "
                   f"paired networks, mean over {cfg.seeds} seeds ± 1 standard error; the simulator's gap is "
                   "its both-responses minus no-responses run.")


def nfd_euler_figure(rows, fits, cfg):
    """Left: f_T − f_0 of every input against 1/K_τ with the fit O_∞ + c/K. Right: |O(K) − O(2K)| against K
    (log-log; the grey guide has slope −1)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.8, 3.3))
    names = sorted({r["observable"] for r in rows if r["observable"].startswith("f_T")})
    for i, name in enumerate(names):
        sel = sorted((r for r in rows if r["observable"] == name), key=lambda r: r["K_tau"])
        K = np.array([r["K_tau"] for r in sel], float)
        m = np.array([r["mean"] for r in sel])
        col = f"C{i}"
        axes[0].plot(1 / K, m - fits[name]["limit"], "o", color=col, ms=4, label=name)
        xs = np.linspace(0, 1 / K.min(), 20)
        axes[0].plot(xs, fits[name]["c"] * xs, color=col, lw=0.8)
        inc = [(K[j], abs(m[j] - m[j + 1])) for j in range(len(K) - 1)]
        axes[1].plot(*zip(*inc), "o-", color=col, ms=4, label=name)
    Ks = np.array(sorted({r["K_tau"] for r in rows}), float)[:-1]
    if len(Ks):
        axes[1].plot(Ks, 2e-3 * Ks[0] / Ks, color="0.6", lw=1, label="∝ 1/K")
    axes[0].set(xlabel="1 / K_τ (layer-slices)", ylabel="value − fitted limit", title="Euler error in layer-time")
    axes[1].set(xscale="log", yscale="log", xlabel="K_τ", ylabel="|O(K) − O(2K)|", title="increments")
    if len(Ks):
        ticks_at(axes[1], Ks, lambda k: str(int(k)))
    for ax in axes:
        ax.title.set_fontsize(9)
        ax.legend(fontsize=6.5)
    return _finish(fig, f"NFD simulator: Euler discretisation of layer-time, {cfg.particles} particles, "
                   f"{cfg.steps} GD steps",
                   "K_τ: layer slices of the depth-time integration, nested grids with common random numbers; "
                   "the fitted limit O_∞ + c/K_τ is subtracted on the left. An O(1/L) limit shows slope −1 on the right.")
