r"""Convergence of finite-depth ResNets to their depth limit, by multilevel coupling.

For a depth-2L network θ and its coarse partner coarsen(θ) of depth L
(:func:`mflab.networks.resnet.coarsen`), the coupled increment of an observable O is

    Δ_L = O(θ; 2L) − O(coarsen(θ); L),

at initialisation and after T steps of full-batch GD run separately on each network. If
O(L) = O_∞ + c/L + o(1/L) then E Δ_L = −c/(2L): |E Δ_L| has log-log slope −1 in L, and the
remaining depth error of the depth-2L network is ≈ |E Δ_L| (Richardson: O_∞ ≈ O(2L) + Δ_L).
The coupling is what makes this measurable: the seed-to-seed spread of Δ_L is far smaller than
that of the difference of independent networks (reported as ``std_independent``).

Observables: the outputs f(x_μ), the residual-stream kernel K_h = h_L h_Lᵀ / n and the feature
kernel K_φ = φ(h_L) φ(h_L)ᵀ / n on P inputs; the size of a matrix- or vector-valued E Δ is the
rms over its entries.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..networks.resnet import ResNet, coarsen
from ..dynamics.resnet_training import train

OBSERVABLES = ("f", "K_h", "K_phi")


def observables(net: ResNet, params, X) -> dict:
    h = net.features(params, X)
    p = net.activation.fn(h)
    return {"f": net.readout_scale * p @ params.v, "K_h": h @ h.T / net.width, "K_phi": p @ p.T / net.width}


def coupled_level(fine: ResNet, X, y, lr: float, steps: int, keys) -> dict:
    """Per seed (rows of ``keys``): observables of the fine net, its coupled coarse partner and an
    independent coarse net, at init (``*_init``) and after ``steps`` GD steps (``*_trained``), flattened
    to (seeds, entries); plus ``alive`` (no rejected step in any of the three trainings)."""
    coarse = dataclasses.replace(fine, depth=fine.depth // 2)

    def one(key):
        pf = fine.init(key, X.shape[1], X.dtype)
        _, pc = coarsen(fine, pf)
        pi = coarse.init(jax.random.fold_in(key, 7), X.shape[1], X.dtype)
        out, alive = {}, True
        for tag, net, p in (("fine", fine, pf), ("coupled", coarse, pc), ("independent", coarse, pi)):
            st = train(net, p, X, y, lr, steps)
            alive = alive & st.alive
            for stage, q in (("init", p), ("trained", st.params)):
                for name, v in observables(net, q, X).items():
                    out[f"{tag}_{stage}_{name}"] = v.ravel()
        out["alive"] = alive
        return out

    return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one))(keys).items()}


def debiased_size(d: np.ndarray) -> float:
    """rms over entries of E Δ from seeds ``d`` (seeds, entries): the squared seed mean overestimates
    (E Δ)² by Var/S, so sqrt(max(mean² − var/S, 0)) summed over entries (0 when noise-dominated)."""
    S = d.shape[0]
    sq = np.mean(d.mean(0) ** 2 - (d.var(0, ddof=1) / S if S > 1 else 0.0))
    return float(np.sqrt(max(sq, 0.0)))


def increment_stats(fine: np.ndarray, coupled: np.ndarray, independent: np.ndarray) -> dict:
    """|E Δ| (rms over entries of the seed mean; also noise-debiased), its standard error, and the rms
    over entries of the seed-to-seed standard deviation of Δ for coupled and for independent coarse
    networks. ``resolved``: the debiased size exceeds twice the standard error."""
    d, di = fine - coupled, fine - independent
    S = d.shape[0]
    stderr = float(np.sqrt(np.mean(d.var(0, ddof=1) / S))) if S > 1 else float("nan")
    size = debiased_size(d)
    return {"abs_mean": float(np.sqrt(np.mean(d.mean(0) ** 2))), "debiased": size,
            "resolved": bool(size > 2 * stderr), "stderr": stderr,
            "std_coupled": float(np.sqrt(np.mean(d.var(0, ddof=1)))) if S > 1 else float("nan"),
            "std_independent": float(np.sqrt(np.mean(di.var(0, ddof=1)))) if S > 1 else float("nan")}


def slope_with_ci(Ls, deltas: list[np.ndarray], n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Least-squares log-log slope of the debiased |E Δ_L| against L, with a bootstrap interval from
    resampling seeds within each level. ``deltas[i]``: (seeds, entries). Needs ≥ 2 levels; a bootstrap
    draw in which a level's size is 0 (pure noise) is dropped, and the interval is NaN when more than
    half of the draws are."""
    logL = np.log(np.asarray(Ls, float))

    def slope(ds):
        sizes = np.array([debiased_size(d) for d in ds])
        return float(np.polyfit(logL, np.log(sizes), 1)[0]) if np.all(sizes > 0) else np.nan

    rng = np.random.default_rng(seed)
    boots = np.array([slope([d[rng.integers(0, d.shape[0], d.shape[0])] for d in deltas]) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    if len(boots) < n_boot / 2:
        return slope(deltas), float("nan"), float("nan")
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return slope(deltas), float(lo), float(hi)


def theory_init_increment(net_fine: ResNet, X) -> float:
    """Infinite-width prediction of |Δ_L| for K_h at init: rms of Σ_{2L} − Σ_L (Euler recursion of
    :mod:`mflab.theory.depth`, float64 quadrature)."""
    from ..theory.depth import resnet_init_covariance

    phi = lambda u: np.asarray(net_fine.activation.fn(jnp.asarray(u)))  # noqa: E731
    Xn = np.asarray(X, float)
    coarse = dataclasses.replace(net_fine, depth=net_fine.depth // 2)
    S_f = resnet_init_covariance(phi, Xn, net_fine.depth, net_fine.branch_scale)
    S_c = resnet_init_covariance(phi, Xn, coarse.depth, coarse.branch_scale)
    return float(np.sqrt(np.mean((S_f - S_c) ** 2)))
