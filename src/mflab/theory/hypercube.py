r"""Exact calculus on the hypercube {±1}^d.

* Kernel eigenvalues: a kernel that depends on x·x' only (the NNGP on the hypercube, since
  |x|² = d) is diagonal in the Walsh basis, with eigenvalue on χ_S (|S| = k)
      λ_k = 2^{-d} Σ_{j=0}^{d} K(d − 2j) C(d, j) 𝒦_k(j; d) / C(d, k),
  where 𝒦_k(j; d) = Σ_i (−1)^i C(j, i) C(d − j, k − i) is the Krawtchouk polynomial: the sum of
  χ_S(x') over all |S| = k at one point x' with j minus-signs (so, by symmetry, one S summed over
  the C(d, j) such points gives C(d, j) 𝒦_k(j)/C(d, k)).
* Feature overlaps of a single neuron, J_A(w) = E_x[φ(w·x) χ_A(x)]: exact enumeration of the 2^d
  points for d ≤ ``ENUMERATION_MAX_D``, Monte-Carlo otherwise.
* Population KRR on a Walsh target: m_A = λ_A / (λ_A + ridge), ridge per sample (κ² under the
  ``"kappa"`` temperature convention).
"""
from __future__ import annotations

import itertools
from math import comb

import jax
import jax.numpy as jnp
import numpy as np

from ..networks.two_layer import TwoLayer
from ..tasks.parity import character
from .kernels import nngp_kernel

ENUMERATION_MAX_D = 16


def krawtchouk(k: int, j: int, d: int) -> int:
    return sum((-1) ** i * comb(j, i) * comb(d - j, k - i) for i in range(k + 1))


def dot_product_eigenvalues(kernel_of_dot, d: int) -> np.ndarray:
    """λ_0..λ_d of a kernel K(x·x') on {±1}^d; ``kernel_of_dot`` maps an array of dot products to K."""
    dots = np.array([d - 2 * j for j in range(d + 1)], dtype=float)
    Kvals = np.asarray(kernel_of_dot(dots), dtype=float)
    return np.array([sum(Kvals[j] * comb(d, j) * krawtchouk(k, j, d) for j in range(d + 1)) / (2.0**d * comb(d, k))
                     for k in range(d + 1)])


def nngp_eigenvalues(net: TwoLayer, d: int) -> np.ndarray:
    """Walsh-degree eigenvalues λ_k of the network's NNGP kernel on {±1}^d (exact)."""
    ones = jnp.ones((1, d))

    def k_of_dot(dots):
        # a point x' with x·1 = t: only the dot product matters, so use any x' with that dot
        Xp = jnp.asarray([[1.0] * int((d + t) // 2) + [-1.0] * int((d - t) // 2) for t in dots])
        return np.asarray(nngp_kernel(net, ones, Xp))[0]

    return dot_product_eigenvalues(k_of_dot, d)


def all_points(d: int) -> jax.Array:
    """The 2^d points of {±1}^d, shape (2^d, d)."""
    return jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=d)))


def feature_overlap(phi, W, A, key=None, n_mc: int = 16384):
    """J_A(w) = E_x[φ(w·x) χ_A(x)] for each row of W: exact for d ≤ 16, else Monte-Carlo with n_mc points
    (then ``key`` is required)."""
    d = W.shape[-1]
    if d <= ENUMERATION_MAX_D:
        X = all_points(d).astype(W.dtype)
    else:
        if key is None:
            raise ValueError("feature_overlap needs a PRNG key for Monte-Carlo when d > 16")
        X = jax.random.rademacher(key, (n_mc, d), dtype=W.dtype)
    return phi(W @ X.T) @ character(X, A) / X.shape[0]


def population_krr_overlap(eigenvalue, ridge):
    """m = λ/(λ + ridge): the P → ∞ kernel-ridge overlap with an eigenfunction of the kernel."""
    return eigenvalue / (eigenvalue + ridge)
