r"""Telescoping decomposition of the feature-learning error (notes A §5, [PROP]).

With A = μ̂_{N,t}^{(n)} (N particles, n samples, time t), B = μ_t^{(n)} (a coupled N_ref ≫ N run on
the same data), C = μ_∞^{(n)} (B at the final time T_∞), D = μ_∞ (the population objective at T_∞)
and E = f*,

    f_A − f* = (f_A − f_B) + (f_B − f_C) + (f_C − f_D) + (f_D − f*)
               [chaos]       [optimisation] [statistical] [sparse residual / approximation]

:func:`decomposition_table` reports each ‖Δ_i‖² and every cross term 2⟨Δ_i, Δ_j⟩ in L²(N(0, I_d)),
computed exactly from one Gram matrix of inner products (:func:`function_gram`: particle networks
through the dual kernel, the target through E[f* σ(w·x)] and E f*²), so the rows add up to
‖f_A − f*‖² to rounding.

:func:`hermite_tail` splits E f*² by degree into the part σ can represent (degrees in its Hermite
support) and the part no network with activation σ can (the unrealizable tail, a lower bound on the
residual that does not depend on the initialisation).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..theory.gaussian import gaussian_gram, target_cross_moments
from .identifiability import float64, signed_atoms

COMPONENTS = ("chaos", "optimization", "statistical", "residual")


def function_gram(activation, clouds, target) -> np.ndarray:
    """G_ij = ⟨f_i, f_j⟩_{L²(N(0,I))} for the particle networks ``clouds`` (rows (a, w), weights 1/N)
    followed by the target f* (last row/column)."""
    atoms = [signed_atoms(th) for th in clouds]
    k = len(atoms)
    G = np.zeros((k + 1, k + 1))
    with float64():
        for i in range(k):
            ci, Wi = atoms[i]
            for j in range(i, k):
                cj, Wj = atoms[j]
                G[i, j] = G[j, i] = float(ci @ np.asarray(gaussian_gram(activation, jnp.asarray(Wi), jnp.asarray(Wj))) @ cj)
            G[i, k] = G[k, i] = float(ci @ np.asarray(target_cross_moments(activation, target, jnp.asarray(Wi))))
        G[k, k] = float(target.target_power)
    return G


def decomposition_table(G: np.ndarray) -> dict:
    """From the Gram matrix of (f_A, f_B, f_C, f_D, f*): the four squared components, the six cross
    terms 2⟨Δ_i, Δ_j⟩, the total ‖f_A − f*‖² and the closure error (sum of the rows minus the total)."""
    M = np.array([[1, -1, 0, 0, 0], [0, 1, -1, 0, 0], [0, 0, 1, -1, 0], [0, 0, 0, 1, -1]], float)
    C = M @ G @ M.T  # ⟨Δ_i, Δ_j⟩
    out = {name: float(C[i, i]) for i, name in enumerate(COMPONENTS)}
    for i in range(4):
        for j in range(i + 1, 4):
            out[f"cross_{COMPONENTS[i]}_{COMPONENTS[j]}"] = float(2 * C[i, j])
    e = np.array([1, 0, 0, 0, -1], float)
    out["total"] = float(e @ G @ e)
    out["closure_error"] = float(sum(v for k, v in out.items() if k != "total") - out["total"])
    return out


def hermite_tail(activation, target, k_max: int | None = None) -> dict:
    """Per-degree energies of a HermiteDictionary target split by the Hermite support of σ:
    ``realizable`` (degrees σ sees) and ``unrealizable`` (the rest: no network with activation σ and
    Gaussian inputs has any energy there, so it is a floor of ‖f − f*‖² for every μ)."""
    from .moment_depth import hermite_support

    E = np.asarray(target.degree_energies())
    k_max = len(E) - 1 if k_max is None else k_max
    support = set(hermite_support(activation, max(k_max, 1)))
    real = [k for k in range(len(E)) if k in support]
    unreal = [k for k in range(len(E)) if k not in support]
    return {"energies": E.tolist(), "realizable_degrees": real, "unrealizable_degrees": unreal,
            "realizable": float(E[real].sum()) if real else 0.0, "unrealizable": float(E[unreal].sum()) if unreal else 0.0}
