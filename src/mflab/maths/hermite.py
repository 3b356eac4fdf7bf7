r"""Probabilists' Hermite polynomials, Gaussian quadrature and the Mehler expansion.

Conventions (used throughout mflab):

* ``He_k`` are the probabilists' Hermite polynomials, orthogonal under z ~ N(0, 1) with
  E[He_j(z) He_k(z)] = k! δ_jk.
* ``h_k = He_k / sqrt(k!)`` is the orthonormal basis.
* The Hermite coefficients of an activation at input scale r are
  c_k(r) = E_z[φ(r z) h_k(z)], so φ(r z) = Σ_k c_k(r) h_k(z) in L²(N(0,1)) and
  Σ_k c_k(r)² = E[φ(r z)²] (Parseval).
* Mehler: for (u, v) jointly Gaussian, zero mean, variances (q1, q2) and correlation ρ,
  E[φ(u) φ(v)] = Σ_k c_k(√q1) c_k(√q2) ρ^k.
"""
from __future__ import annotations

import math
from functools import lru_cache

import jax.numpy as jnp
import numpy as np


def hermite_he(k_max: int, z):
    """Stack [He_0(z), ..., He_{k_max}(z)] along a new leading axis (three-term recurrence
    He_{k+1} = z He_k - k He_{k-1})."""
    z = jnp.asarray(z)
    out = [jnp.ones_like(z), z]
    for k in range(1, k_max):
        out.append(z * out[k] - k * out[k - 1])
    return jnp.stack(out[: k_max + 1])


def hermite_normalized(k_max: int, z):
    """Stack [h_0(z), ..., h_{k_max}(z)] with h_k = He_k / sqrt(k!), by the normalised recurrence
    h_{k+1} = (z h_k − √k h_{k−1}) / √(k+1) (no k! overflow)."""
    z = jnp.asarray(z)
    out = [jnp.ones_like(z), z]
    for k in range(1, k_max):
        out.append((z * out[k] - math.sqrt(k) * out[k - 1]) / math.sqrt(k + 1))
    return jnp.stack(out[: k_max + 1])


@lru_cache(maxsize=32)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of n-point Gauss–Hermite quadrature for z ~ N(0, 1) (weights sum to 1).

    Nodes whose weight is below 1e-30 are dropped: they change no result in float64 and would
    overflow h_k(z) in float32 (|z| up to ~27 for n = 200)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    keep = w > 1e-30
    return x[keep], w[keep] / w[keep].sum()


def gaussian_expectation(fn, n_nodes: int = 200):
    """E_{z~N(0,1)}[fn(z)] by Gauss–Hermite quadrature; fn maps an array of nodes to values
    (extra trailing axes are allowed and averaged over the node axis 0)."""
    x, w = gauss_hermite(n_nodes)
    vals = fn(jnp.asarray(x))
    return jnp.tensordot(jnp.asarray(w, dtype=vals.dtype), vals, axes=(0, 0))


def hermite_coefficients_quadrature(phi, k_max: int, r=1.0, n_nodes: int = 200):
    """c_k(r) = E[φ(r z) h_k(z)] for k = 0..k_max by Gauss–Hermite quadrature.

    Accurate for smooth φ; for kinks (ReLU) the error decays only algebraically in
    n_nodes, so prefer the closed forms in :mod:`mflab.networks.activations`.
    ``r`` may be an array; the result has shape (k_max + 1,) + r.shape.
    """
    r = jnp.asarray(r, dtype=jnp.result_type(float))
    x, w = gauss_hermite(n_nodes)
    x, w = jnp.asarray(x, r.dtype), jnp.asarray(w, r.dtype)
    h = hermite_normalized(k_max, x)  # (K, n)
    vals = phi(x.reshape((-1,) + (1,) * r.ndim) * r)  # (n, *r.shape)
    return jnp.tensordot(h * w, vals, axes=(1, 0))


def mehler_kernel(coeffs1, coeffs2, rho):
    """Σ_k c1_k c2_k ρ^k: the dual kernel E[φ(u)φ(v)] from Hermite coefficients
    (coeffs have the degree on axis 0; broadcasting over the remaining axes)."""
    rho = jnp.asarray(rho)
    k = coeffs1.shape[0]
    powers = rho[None, ...] ** jnp.arange(k).reshape((-1,) + (1,) * rho.ndim)
    return jnp.sum(coeffs1 * coeffs2 * powers, axis=0)


def log_double_factorial(n: int) -> float:
    """log(n!!) with (-1)!! = 0!! = 1 (floats: n!! overflows a double beyond n ≈ 300)."""
    return float(sum(math.log(i) for i in range(n, 0, -2)))


def log_sqrt_factorial(k: int) -> float:
    """log(√(k!))."""
    return 0.5 * math.lgamma(k + 1)
