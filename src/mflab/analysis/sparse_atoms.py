r"""Atoms of a long-time particle cloud (notes A §4.2, [PROP]).

Pipeline (:func:`extract_atoms`):

1. canonicalise every particle (:func:`mflab.analysis.identifiability.canonical_particles`: unit
   directions and amplitudes c·|w|^p for p-homogeneous σ, sign-fixed directions for a single full part);
2. contribution weight α_i = c_i ‖σ(w_i·x)‖_{L²(ρ)} (Gaussian ρ: √E[σ(w_i·x)²] from the dual kernel);
3. active filter: the smallest set of particles carrying ``mass`` (99 %) of Σ|α_i|;
4. cluster the active directions (plus log|w| for non-homogeneous σ) by average-linkage hierarchical
   clustering in cosine distance (scipy), the threshold δ chosen in the middle of the longest plateau of
   the cluster count over a log grid of thresholds (the stability curve);
5. merge each cluster into an atom: α-weighted mean direction, median radius;
6. refit the atom amplitudes by least squares in L²(ρ) against the particle network (kernel Gram
   matrices), prune atoms below ``eps_amp`` of the largest, refit again;
7. report Ŝ, the matching of atoms to the target's directions (Hungarian on |cos|), the sparse residual
   ‖f_μ̂ − f_atoms‖² and the target residual ‖f_atoms − f*‖² (closed forms).

The odd/even parts that σ sees only through moments (ReLU's linear part, :mod:`~mflab.analysis.identifiability`)
are not atoms: their contribution stays in the sparse residual unless the refit absorbs it.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment

from ..theory.gaussian import gaussian_gram, target_cross_moments
from ..networks.activations import get_activation
from .identifiability import canonical_particles, float64, signed_atoms


def _plateau_threshold(Z, grid):
    counts = np.array([len(np.unique(fcluster(Z, t, criterion="distance"))) for t in grid])
    best, start = (0, 0), 0
    for i in range(1, len(grid) + 1):
        if i == len(grid) or counts[i] != counts[start]:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = i
    mid = (best[0] + best[1] - 1) // 2
    return float(grid[mid]), counts


def extract_atoms(theta, activation, target=None, weights=None, mass: float = 0.99, eps_amp: float = 0.05,
                  grid=None) -> dict:
    """Atoms of a particle cloud θ (rows (a, w)); ``target`` (HermiteDictionary or Teacher) for the
    matching and target residual. Returns Ŝ, the atoms (amplitudes of σ(w·x), directions w), the
    chosen threshold with the stability curve, and the residuals."""
    act = get_activation(activation)
    with float64():
        amp, D, radii, active, st = canonical_particles(theta, act, weights)
        c, W = signed_atoms(theta, weights)
        norm = np.sqrt(np.maximum(np.asarray(act.dual(np.sum(W**2, 1), np.sum(W**2, 1), np.sum(W**2, 1))), 0))
        alpha = c * norm
        order = np.argsort(-np.abs(alpha))
        cum = np.cumsum(np.abs(alpha[order])) / max(np.abs(alpha).sum(), 1e-300)
        keep = order[: int(np.searchsorted(cum, mass) + 1)]
        keep = keep[active[keep]]
        homog = st.homogeneity is not None
        U = D[keep] / np.linalg.norm(D[keep], axis=1, keepdims=True)
        grid = np.geomspace(1e-3, 0.5, 40) if grid is None else np.asarray(grid)
        if len(keep) >= 2:
            feats = U if homog else np.concatenate([U, 0.1 * np.log(radii[keep])[:, None]], axis=1)
            Z = linkage(feats, method="average", metric="cosine")
            delta, counts = _plateau_threshold(Z, grid)
            labels = fcluster(Z, delta, criterion="distance")
        else:
            delta, counts, labels = float("nan"), np.ones(len(grid), int), np.ones(len(keep), int)
        dirs = []
        for lab in np.unique(labels):
            idx = keep[labels == lab]
            u = np.average(U[labels == lab], axis=0, weights=np.abs(alpha[idx]) + 1e-300)
            u /= np.linalg.norm(u)
            r = 1.0 if homog else float(np.median(radii[idx]))
            dirs.append(u * r)
        A_dirs = np.array(dirs).reshape(-1, W.shape[1])

        def refit(Wa):
            Kaa = np.asarray(gaussian_gram(act, jnp.asarray(Wa)))
            Kap = np.asarray(gaussian_gram(act, jnp.asarray(Wa), jnp.asarray(W)))
            return np.linalg.lstsq(Kaa, Kap @ c, rcond=None)[0], Kaa, Kap

        a_amp, _, _ = refit(A_dirs) if len(A_dirs) else (np.zeros(0), None, None)
        big = np.abs(a_amp) > eps_amp * (np.abs(a_amp).max() if len(a_amp) else 0)
        A_dirs = A_dirs[big]
        a_amp, Kaa, Kap = refit(A_dirs) if len(A_dirs) else (np.zeros(0), np.zeros((0, 0)), np.zeros((0, len(c))))
        Kpp = np.asarray(gaussian_gram(act, jnp.asarray(W)))
        f_norm = float(c @ Kpp @ c)
        sparse_res = float(max(f_norm - 2 * a_amp @ Kap @ c + a_amp @ Kaa @ a_amp, 0.0))
        out = {"S_hat": int(len(a_amp)), "amplitudes": a_amp.tolist(), "directions": A_dirs.tolist(),
               "threshold": delta, "stability_grid": grid.tolist(), "stability_counts": np.asarray(counts).tolist(),
               "active_particles": int(len(keep)), "sparse_residual": sparse_res, "network_power": f_norm}
        if target is not None:
            from ..theory.sparse_bound import target_atoms

            b = np.asarray(target_cross_moments(act, target, jnp.asarray(A_dirs))) if len(A_dirs) else np.zeros(0)
            out["target_residual"] = float(max(a_amp @ Kaa @ a_amp - 2 * a_amp @ b + float(target.target_power), 0.0))
            V = np.array([np.asarray(v, float) / np.linalg.norm(v) for _, v, _ in target_atoms(target)])
            if len(A_dirs):
                cos = np.abs((A_dirs / np.linalg.norm(A_dirs, axis=1, keepdims=True)) @ V.T)
                r, k = linear_sum_assignment(-cos)
                out["matching"] = [{"atom": int(i), "target_atom": int(j), "abs_cos": float(cos[i, j])} for i, j in zip(r, k)]
            else:
                out["matching"] = []
    return out
