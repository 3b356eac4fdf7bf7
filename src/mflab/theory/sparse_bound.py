r"""The coefficient-threshold count S_up and the sparse population problem (notes A §4.1, [PROP]).

With weight decay (λ/2)∫|θ|² dμ and R(μ) = ½E(f_μ − f*)², a p-homogeneous σ (ReLU: p = 1) reduces the
penalty to the path norm λ∫|a||w|^p dμ (AM–GM over the rescaling symmetry), so the long-time limit at
τ → 0 solves the total-variation problem

    min_ν  ½‖f* − Tν‖²_{L²(ρ)} + λ ∫ |w|^p d|ν|(w),        Tν(x) = ∫ σ(w·x) dν(w),

whose optimality (dual certificate) condition is |E[(f* − Tν)(x) σ(w·x)]| ≤ λ|w|^p with equality on
the support. For σ that is not homogeneous we use the same problem with cost |w| (p = 1): a
documented convention, not a derivation.

* :func:`s_up_closed_form` (orthogonal atoms): S_up = #{j : A_j > λ}, A_j = max_r |E[f*_j(x) σ(r v_j·x)]|/r^p,
  the certificate at ν = 0 restricted to atom j alone (f*_j its term of the target), maximised over
  the radius on a log grid.
* :func:`frank_wolfe` (general): conditional gradient on the TV problem with the closed-form kernels
  K(w, w') and E[f* σ(w·x)] of :mod:`mflab.dynamics.mean_field_langevin`. Each iteration adds the atom
  that maximises |E[r σ(w·x)]|/|w|^p (multi-start gradient ascent on the sphere × radius, the target
  directions among the starts), refits all amplitudes by proximal gradient (the weighted lasso on the
  current atoms), slides amplitudes and positions jointly by gradient descent on the objective,
  merges atoms whose directions coincide and drops zero atoms; it stops when the certificate holds within ``tol``. The support
  it ends with is the computable ground truth S* of the notes (≤ number of measurements by the
  representer theorem of Flinth, de Gournay & Weiss).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from .gaussian import gaussian_gram, target_cross_moments
from ..networks.activations import get_activation


def _homogeneity(activation) -> tuple[float, bool]:
    """(cost exponent p, whether σ is positively homogeneous): p is σ's declared degree, or 1 by convention."""
    p = get_activation(activation).homogeneity
    return (1.0, False) if p is None else (p, True)


def target_atoms(target):
    """[(b_j, v_j, single-atom target)] of a target made of atoms (``target.atoms()``: a HermiteDictionary
    or a bias-free Teacher)."""
    if not hasattr(target, "atoms"):
        raise ConfigError("target", f"a {type(target).__name__} target is not a sum of single-direction atoms",
                          "use a HermiteDictionary or a bias-free Teacher")
    return target.atoms()


def s_up_closed_form(activation, target, lam: float, radii=None) -> dict:
    """S_up = #{j : A_j > λ} (module docstring), with the per-atom thresholds A_j."""
    act = get_activation(activation)
    p, _ = _homogeneity(act)
    radii = np.geomspace(1e-2, 1e2, 81) if radii is None else np.asarray(radii, float)
    A = []
    for _, v, single in target_atoms(target):
        u = np.asarray(v, float) / np.linalg.norm(v)
        W = jnp.asarray(radii[:, None] * u[None, :])
        corr = np.abs(np.asarray(target_cross_moments(act, single, W))) / radii**p
        A.append(float(corr.max()))
    A = np.array(A)
    return {"S_up": int(np.sum(A > lam)), "thresholds": A.tolist(), "lam": float(lam), "cost_exponent": p}


def _lasso(K, b, cost, lam, c0, iters: int = 2000):
    """min_c ½cᵀKc − cᵀb + λ Σ cost_j |c_j| by FISTA."""
    L = max(np.linalg.eigvalsh(K).max(), 1e-12)
    c, z, t = c0.copy(), c0.copy(), 1.0
    for _ in range(iters):
        g = K @ z - b
        u = z - g / L
        c_new = np.sign(u) * np.maximum(np.abs(u) - lam * cost / L, 0.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = c_new + (t - 1) / t_new * (c_new - c)
        c, t = c_new, t_new
    return c


def _objective(act, target, lam, p):
    def F(c, W):
        K = gaussian_gram(act, W)
        b = target_cross_moments(act, target, W)
        return 0.5 * (c @ K @ c - 2 * c @ b) + lam * jnp.sum(jnp.abs(c) * jnp.sum(W**2, -1) ** (p / 2))
    return F


def _slide(act, target, lam, p, W, c, homog, steps: int = 200, lr: float = 0.1, merge_cos: float = 0.98):
    """Sliding step: gradient descent on the TV objective jointly in amplitudes and positions (unit
    directions for homogeneous σ), then merge atoms whose directions agree (cos > ``merge_cos``) and
    refit the amplitudes."""
    if len(c) == 0:
        return W, c
    F = _objective(act, target, lam, p)
    g = jax.jit(lambda c, W: jax.tree_util.tree_map(jnp.nan_to_num, jax.grad(F, argnums=(0, 1))(c, W)))
    cj, Wj = jnp.asarray(c), jnp.asarray(W)
    for _ in range(steps):
        gc, gW = g(cj, Wj)
        cj, Wj = cj - lr * gc, Wj - lr * gW
        if homog:
            Wj = Wj / jnp.linalg.norm(Wj, axis=1, keepdims=True)
    W, c = np.asarray(Wj), np.asarray(cj)
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    groups = []
    for i in range(len(c)):
        for gi in groups:
            if U[gi[0]] @ U[i] > merge_cos:
                gi.append(i)
                break
        else:
            groups.append([i])
    W = np.array([np.average(W[gi], axis=0, weights=np.abs(c[gi]) + 1e-12) for gi in groups])
    c = np.array([c[gi].sum() for gi in groups])
    K = np.asarray(gaussian_gram(act, jnp.asarray(W)), np.float64)
    b = np.asarray(target_cross_moments(act, target, jnp.asarray(W)), np.float64)
    c = _lasso(K, b, np.sum(W**2, -1) ** (p / 2), lam, c)
    keep = np.abs(c) > 1e-8
    return W[keep], c[keep]


def frank_wolfe(activation, target, lam: float, max_atoms: int = 20, starts: int = 16, seed: int = 0,
                tol: float = 1e-3, r_range=(0.05, 20.0), prune: float = 0.05) -> dict:
    """Conditional gradient on the TV problem (module docstring). Returns the atoms (amplitudes c_j of
    σ(w_j·x), directions w_j), the support size S* (atoms above ``prune`` × the largest amplitude;
    ``S_star_raw`` counts all), the objective and the final certificate
    max_w |E[(f* − Tν)σ(w·x)]|/(λ|w|^p)."""
    act = get_activation(activation)
    p, homog = _homogeneity(act)
    d = int(np.asarray(target_atoms(target)[0][1]).shape[0])
    rng = np.random.default_rng(seed)
    lo, hi = np.log(r_range[0]), np.log(r_range[1])

    def residual_corr(w, Wc, c):
        """E[(f* − Tν)σ(w·x)] / |w|^p for directions w (m, d)."""
        fx = target_cross_moments(act, target, w)
        tx = gaussian_gram(act, w, Wc) @ c if Wc.shape[0] else 0.0
        return (fx - tx) / jnp.sum(w**2, -1) ** (p / 2)

    def lmo(Wc, c):
        starts_u = [np.asarray(v, float) / np.linalg.norm(v) for _, v, _ in target_atoms(target)]
        starts_u += list(rng.standard_normal((starts, d)))
        Z = np.array([np.concatenate([[0.0], s / np.linalg.norm(s)]) for s in starts_u])
        Z[:, 1:] += 1e-3 * rng.standard_normal(Z[:, 1:].shape)  # off exact alignment: arccos'(1) = ∞

        def w_of(z):
            r = 1.0 if homog else jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(z[:, 0]))
            u = z[:, 1:] / jnp.linalg.norm(z[:, 1:], axis=1, keepdims=True)
            return u * jnp.reshape(r, (-1, 1))

        obj = jax.jit(lambda z: -jnp.sum(jnp.abs(residual_corr(w_of(z), jnp.asarray(Wc), jnp.asarray(c)))))
        grad = jax.jit(lambda z: jnp.nan_to_num(jax.grad(obj)(z)))
        z = jnp.asarray(Z)
        lr = 0.05
        for _ in range(300):
            z = z - lr * grad(z)
        vals = np.abs(np.asarray(residual_corr(w_of(z), jnp.asarray(Wc), jnp.asarray(c))))
        i = int(np.argmax(vals))
        return np.asarray(w_of(z))[i], float(vals[i])

    Wc, c = np.zeros((0, d)), np.zeros(0)
    cert = None
    for _ in range(max_atoms + 1):
        w_new, cert = lmo(Wc, c)
        if cert <= lam * (1 + tol) or len(c) >= max_atoms:
            break
        Wc = np.concatenate([Wc, w_new[None]])
        c = np.concatenate([c, [0.0]])
        K = np.asarray(gaussian_gram(act, jnp.asarray(Wc)), np.float64)
        b = np.asarray(target_cross_moments(act, target, jnp.asarray(Wc)), np.float64)
        cost = np.sum(Wc**2, -1) ** (p / 2)
        c = _lasso(K, b, cost, lam, c)
        keep = np.abs(c) > 1e-8
        Wc, c = Wc[keep], c[keep]
        Wc, c = _slide(act, target, lam, p, Wc, c, homog)
    K = np.asarray(gaussian_gram(act, jnp.asarray(Wc)), np.float64) if len(c) else np.zeros((0, 0))
    b = np.asarray(target_cross_moments(act, target, jnp.asarray(Wc)), np.float64) if len(c) else np.zeros(0)
    cost = np.sum(Wc**2, -1) ** (p / 2)
    risk = 0.5 * (c @ K @ c - 2 * c @ b + float(target.target_power))
    major = int(np.sum(np.abs(c) > prune * np.abs(c).max())) if len(c) else 0
    return {"S_star": major, "S_star_raw": int(len(c)), "amplitudes": c.tolist(), "directions": Wc.tolist(), "risk": float(risk),
            "objective": float(risk + lam * np.sum(cost * np.abs(c))), "certificate": cert / lam if lam > 0 else None,
            "lam": float(lam)}
