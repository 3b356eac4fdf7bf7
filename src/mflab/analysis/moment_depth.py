r"""Moment-variety depth D*_var and orbit depth D*_orb of S-atom measures (notes A §3.3, [PROP]).

Truncated Hermite moment map of an S-atom signed measure ν = Σ_j c_j δ_{w_j} (w_j = r_j u_j, |u_j| = 1):

    Φ_D(ν) = ( Σ_j c_j c_k^σ(r_j) u_j^{⊗k} )_{k ≤ D, k ∈ K(σ)},

the degree-k Hermite components of f_ν (Mehler: E[f_ν(x) h_k-tensor] up to normalisation), K(σ) the
Hermite support of σ (degrees with c_k ≠ 0). Parameters per atom: (c_j, w_j) ∈ ℝ^{1+d}.

* **D*_var(S, d, σ)** = the least D at which Φ_D is generically locally injective modulo the
  continuous symmetries: the Jacobian rank of Φ_D (forward-mode autodiff, float64, SVD rank at relative
  tolerance 1e-8) at random S-atom configurations equals S(d+1) − S·[σ positively homogeneous] (one
  rescaling direction per atom). :func:`variety_depth`.
* **D*_orb(S, d, σ)** = the least D at which Φ_D separates *all* orbits. Proxy: an adversarial
  collision search (:func:`orbit_depth`) minimising the relative gap ‖Φ_D(ν) − Φ_D(ν')‖²/(‖Φ_D(ν)‖² +
  ‖Φ_D(ν')‖²) over pairs whose symmetry-quotiented distance is at least δ (penalty), amplitudes held in
  [c_min, c_max] so that no atom can vanish and radii in a compact range ``r_range`` (at r → 0 or ∞
  the ratios c_k(r)/c_1(r) saturate, so distinct radii become collisions at infinity), from many
  random starts (L-BFGS-B with exact gradients). A gap below ``collision_tol`` (1e-8) certifies D*_orb > D, and the colliding pair is returned; no collision
  is evidence, not proof, that D ≥ D*_orb. Levels D that add no Hermite degree are skipped (Φ_D = Φ_{D−1}).
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from ..networks.activations import get_activation
from .identifiability import float64, symmetry_structure


def hermite_support(activation, k_max: int = 12, tol: float = 1e-10) -> list[int]:
    """Degrees k ≤ k_max with c_k^σ(1) ≠ 0."""
    act = get_activation(activation)
    with float64():
        c = np.asarray(act.hermite_coefficients(k_max, 1.0))
    return [k for k in range(k_max + 1) if abs(c[k]) > tol]


def moment_map(activation, D: int, degrees=None):
    """Φ_D as a function of the parameter vector (S·(1+d),) laid out as rows (c_j, w_j)."""
    act = get_activation(activation)
    ks = [k for k in (degrees if degrees is not None else hermite_support(act, D)) if k <= D]

    def phi(params, d):
        P = params.reshape(-1, 1 + d)
        c, W = P[:, 0], P[:, 1:]
        r = jnp.sqrt(jnp.sum(W**2, -1))
        U = W / r[:, None]
        coef = act.hermite_coefficients(max(ks), r)  # (K+1, S)
        out = []
        for k in ks:
            T = jnp.ones((U.shape[0],))
            for _ in range(k):
                T = T[..., None] * U.reshape((U.shape[0],) + (1,) * (T.ndim - 1) + (d,))
            out.append(jnp.einsum("j,j...->...", c * coef[k], T).ravel())
        return jnp.concatenate(out)

    return phi, ks


def variety_depth(activation, S: int, d: int, D_max: int = 7, trials: int = 20, seed: int = 0,
                  rtol: float = 1e-8) -> dict:
    """Generic Jacobian rank of Φ_D for D = 1..D_max and D*_var (None if not reached by D_max)."""
    st = symmetry_structure(activation)
    expected = S * (d + 1) - (S if st.homogeneity is not None else 0)
    rng = np.random.default_rng(seed)
    rows = []
    d_var = None
    with float64():
        for D in range(1, D_max + 1):
            phi, ks = moment_map(activation, D)
            if not ks:
                rows.append({"D": D, "degrees": [], "rank": 0, "expected": expected})
                continue
            jac = jax.jit(jax.jacfwd(lambda p: phi(p, d)))
            ranks = []
            for _ in range(trials):
                P = rng.standard_normal((S, 1 + d))
                P[:, 1:] /= np.linalg.norm(P[:, 1:], axis=1, keepdims=True) / rng.uniform(0.5, 1.5, (S, 1))
                sv = np.linalg.svd(np.asarray(jac(jnp.asarray(P.ravel()))), compute_uv=False)
                ranks.append(int(np.sum(sv > rtol * sv[0])) if sv.size and sv[0] > 0 else 0)
            generic = int(np.max(ranks))
            rows.append({"D": D, "degrees": ks, "rank": generic, "expected": expected})
            if generic >= expected and d_var is None:
                d_var = D
                break
    deficit = None if d_var is not None else expected - max((r["rank"] for r in rows), default=0)
    return {"D_var": d_var, "expected_rank": expected, "rank_deficit_at_D_max": deficit, "levels": rows, "S": S, "d": d,
            "activation": get_activation(activation).name}


def _sym_distance_fn(S: int, d: int, st):
    """Squared symmetry-quotiented distance of two S-atom parameter vectors: min over atom permutations
    and the sign flips allowed by σ of Σ (c − c')² + |u − u'|² (+ (log r − log r')² unless homogeneous)."""
    flips = [()] if (st.even.kind == "full" and st.odd.kind == "full") else list(itertools.product((1.0, -1.0), repeat=S))
    odd_flip = st.even.kind != "full"  # an odd full part flips c with w
    perms = list(itertools.permutations(range(S)))

    def canon(P):
        c, W = P[:, 0], P[:, 1:]
        r = jnp.sqrt(jnp.sum(W**2, -1))
        if st.homogeneity is not None:
            return c * r**st.homogeneity, W / r[:, None], jnp.zeros_like(r)
        return c, W / r[:, None], jnp.log(r)

    def dist(p1, p2):
        c1, u1, l1 = canon(p1.reshape(S, 1 + d))
        c2, u2, l2 = canon(p2.reshape(S, 1 + d))
        best = []
        for perm in perms:
            pi = jnp.asarray(perm)
            for f in flips or [()]:
                s = jnp.asarray(f) if f else jnp.ones(S)
                cs = c2[pi] * (s if odd_flip and f else 1.0)
                best.append(jnp.sum((c1 - cs) ** 2) + jnp.sum((u1 - u2[pi] * s[:, None]) ** 2)
                            + jnp.sum((l1 - l2[pi]) ** 2))
        return jnp.min(jnp.stack(best))

    return dist


def orbit_depth(activation, S: int, d: int, D_max: int = 5, delta: float = 0.5, restarts: int = 20, seed: int = 0,
                collision_tol: float = 1e-8, c_range=(0.3, 3.0), r_range=(0.5, 2.0), penalty: float = 100.0) -> dict:
    """Collision search per D = 1..D_max (module docstring); D*_orb is the least D without a collision
    (None if every D ≤ D_max collides). Returns the per-D best relative gap and the colliding pairs."""
    st = symmetry_structure(activation)
    rng = np.random.default_rng(seed)
    lo, hi = np.log(c_range[0]), np.log(c_range[1])
    # homogeneous σ: the radius is a symmetry, fix it at 1; otherwise keep it in a compact range (as
    # r → 0 or ∞ the Hermite ratios c_k(r)/c_1(r) saturate and distinct radii become near-collisions)
    rlo, rhi = (0.0, 0.0) if st.homogeneity is not None else (np.log(r_range[0]), np.log(r_range[1]))
    levels, d_orb = [], None
    with float64():
        sym = _sym_distance_fn(S, d, st)
        prev = None
        for D in range(1, D_max + 1):
            phi, ks = moment_map(activation, D)
            if ks == prev:  # no new Hermite degree: Φ_D = Φ_{D−1}
                continue
            prev = ks
            best = {"gap": np.inf}
            for _ in range(restarts):
                signs = np.tile(rng.choice([-1.0, 1.0], S), 2)

                def unpack(z):
                    z = z.reshape(2 * S, 2 + d)
                    mag = jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(z[:, 0]))  # |c| in c_range
                    r = jnp.exp(rlo + (rhi - rlo) * jax.nn.sigmoid(z[:, 1]))  # |w| in r_range
                    W = z[:, 2:] / jnp.linalg.norm(z[:, 2:], axis=1, keepdims=True) * r[:, None]
                    P = jnp.concatenate([(signs * mag)[:, None], W], axis=1)
                    return P[:S].ravel(), P[S:].ravel()

                def objective(z):
                    p1, p2 = unpack(z)
                    f1, f2 = phi(p1, d), phi(p2, d)
                    gap = jnp.sum((f1 - f2) ** 2) / (jnp.sum(f1**2) + jnp.sum(f2**2))
                    return gap + penalty * jnp.maximum(delta**2 - sym(p1, p2), 0.0) ** 2

                vg = jax.jit(jax.value_and_grad(objective))
                z0 = rng.standard_normal(2 * S * (2 + d))
                res = minimize(lambda z: tuple(np.asarray(v, np.float64) for v in vg(jnp.asarray(z))), z0, jac=True,
                               method="L-BFGS-B", options={"maxiter": 500})
                p1, p2 = unpack(jnp.asarray(res.x))
                f1, f2 = phi(p1, d), phi(p2, d)
                gap = float(jnp.sum((f1 - f2) ** 2) / (jnp.sum(f1**2) + jnp.sum(f2**2)))
                sep = float(jnp.sqrt(sym(p1, p2)))
                if sep >= 0.9 * delta and gap < best["gap"]:
                    best = {"gap": gap, "separation": sep, "pair": [np.asarray(p1).reshape(S, 1 + d).tolist(),
                                                                     np.asarray(p2).reshape(S, 1 + d).tolist()]}
            collided = best["gap"] < collision_tol
            levels.append({"D": D, "degrees": ks, "best_relative_gap": float(best["gap"]), "collision": collided,
                           **({"collision_pair": best["pair"], "separation": best["separation"]} if collided else {})})
            if not collided:
                d_orb = D
                break
    return {"D_orb": d_orb, "levels": levels, "S": S, "d": d, "delta": delta,
            "activation": get_activation(activation).name}
