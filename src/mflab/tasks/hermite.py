r"""Gaussian-input targets with Hermite links.

Sparse Hermite dictionary:  f*(x) = Σ_j b_j g_j(v_j·x),  x ~ N(0, I_d),  |v_j| = 1,
with each link given by normalised-Hermite coefficients g_j = Σ_k c_{jk} h_k (h_k = He_k/√k!).

Degree-k energy in closed form (Mehler / orthogonality of h_k(v·x) across degrees):
    E_k = E[(P_k f*)²] = Σ_{j,l} b_j b_l c_{jk} c_{lk} (v_j·v_l)^k,   E[f*²] = Σ_k E_k.

Single-index (the Bayesian study's secondary task): v = k^{-1/2} 1_S, y = He_p(v·x), so the
only nonzero coefficient is c_p = √(p!) and E[y²] = p!. Multi-index: orthonormal directions on a
chosen support, one Hermite link each.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..maths.hermite import hermite_normalized
from .base import SyntheticTask, check_axis_atoms, check_support


@dataclass(frozen=True)
class HermiteDictionary(SyntheticTask):
    """f*(x) = Σ_j b_j Σ_k c_{jk} h_k(v_j·x). ``directions`` (J, d) are normalised on construction."""

    directions: np.ndarray  # (J, d)
    coefficients: np.ndarray  # (J, K+1), normalised-Hermite coefficients of each link
    amplitudes: np.ndarray  # (J,)
    inputs: str = "gaussian"
    name: str = "hermite"

    def __post_init__(self):
        V = np.atleast_2d(np.asarray(self.directions, dtype=float))
        C = np.atleast_2d(np.asarray(self.coefficients, dtype=float))
        b = np.atleast_1d(np.asarray(self.amplitudes, dtype=float))
        if not (V.shape[0] == C.shape[0] == b.shape[0]):
            raise ConfigError("directions", "directions, coefficients and amplitudes need one row per atom",
                              f"got {V.shape[0]}, {C.shape[0]}, {b.shape[0]}")
        norms = np.linalg.norm(V, axis=1)
        if np.any(norms == 0):
            raise ConfigError("directions", "a direction is zero", "give nonzero directions")
        object.__setattr__(self, "directions", V / norms[:, None])
        object.__setattr__(self, "coefficients", C)
        object.__setattr__(self, "amplitudes", b)

    @property
    def d(self) -> int:
        return self.directions.shape[1]

    @property
    def support(self) -> tuple[int, ...]:
        """Input coordinates the target depends on (nonzero in some direction)."""
        return tuple(int(i) for i in np.flatnonzero(np.any(self.directions != 0, axis=0)))

    @property
    def max_degree(self) -> int:
        return self.coefficients.shape[1] - 1

    def target(self, X):
        Z = X @ jnp.asarray(self.directions.T, X.dtype)  # (P, J)
        H = hermite_normalized(self.max_degree, Z)  # (K+1, P, J)
        links = jnp.einsum("kpj,jk->pj", H, jnp.asarray(self.coefficients, X.dtype))
        return links @ jnp.asarray(self.amplitudes, X.dtype)

    def degree_energies(self) -> np.ndarray:
        """E_k = Σ_{j,l} b_j b_l c_jk c_lk (v_j·v_l)^k for k = 0..K (closed form)."""
        G = self.directions @ self.directions.T
        bc = self.amplitudes[:, None] * self.coefficients  # (J, K+1)
        return np.array([bc[:, k] @ (G**k) @ bc[:, k] for k in range(self.max_degree + 1)])

    @property
    def target_power(self) -> float:
        """E[f*²] = Σ_k E_k."""
        return float(self.degree_energies().sum())

    def order_parameter(self, f, X):
        """Normalised target overlap m = E[f f*]/E[f*²], estimated on the given inputs."""
        return jnp.mean(f * self.target(X), axis=-1) / self.target_power

    def atoms(self) -> list:
        """[(b_j, v_j, atom j alone as a target)]: what the per-atom bounds of mflab.theory.sparse_bound read."""
        return [(float(b), self.directions[j],
                 HermiteDictionary(self.directions[j:j + 1], self.coefficients[j:j + 1], self.amplitudes[j:j + 1]))
                for j, b in enumerate(self.amplitudes)]

    @staticmethod
    def on_axes(d: int, degrees: Sequence[int], amplitudes: Sequence[float], name: str = "hermite") -> "HermiteDictionary":
        """f*(x) = Σ_j b_j h_{k_j}(x_j): one normalised Hermite atom per coordinate axis e_j."""
        amplitudes = np.atleast_1d(np.asarray(amplitudes, float))
        degrees = [int(k) for k in degrees]
        if len(degrees) != len(amplitudes) or any(k < 0 for k in degrees):
            raise ConfigError("degrees", f"needs one non-negative degree per amplitude ({len(amplitudes)}), got "
                              f"{degrees}", "e.g. degrees 1,3,2 with amplitudes 1,0.5,0.3")
        check_axis_atoms(len(amplitudes), d)
        C = np.zeros((len(degrees), max(degrees) + 1))
        C[np.arange(len(degrees)), degrees] = 1.0
        return HermiteDictionary(np.eye(d)[:len(degrees)], C, amplitudes, name=name)

    def gaussian_cross_moments(self, act, W):
        """E[f*(x) σ(w_i·x)] per row w_i of W, x ~ N(0, I_d), by Mehler:
        Σ_j b_j Σ_k c_jk c_k^σ(|w_i|) (v_j·w_i/|w_i|)^k."""
        r = jnp.sqrt(jnp.sum(W**2, -1))
        c_sig = act.hermite_coefficients(self.max_degree, r)  # (K+1, N)
        cos = (W / jnp.maximum(r, 1e-30)[:, None]) @ jnp.asarray(self.directions.T, W.dtype)  # (N, J)
        powers = cos[None] ** jnp.arange(self.max_degree + 1).reshape(-1, 1, 1)  # (K+1, N, J)
        bc = jnp.asarray(self.amplitudes[:, None] * self.coefficients, W.dtype)  # (J, K+1)
        return jnp.einsum("kn,knj,jk->n", c_sig, powers, bc)


def _he_link(p: int, normalized: bool) -> np.ndarray:
    c = np.zeros(p + 1)
    c[p] = 1.0 if normalized else math.sqrt(math.factorial(p))
    return c


def single_index(d: int, k: int, degree: int, support: Optional[Sequence[int]] = None,
                 normalized: bool = False) -> HermiteDictionary:
    """y = He_p(v·x), v = k^{-1/2} 1_S (``normalized=True`` gives h_p = He_p/√p! instead)."""
    S = check_support(support, d, k)
    if int(degree) != degree or degree < 1:
        raise ConfigError("degree", f"must be an integer >= 1 (He_0 is a constant: no index to learn), got {degree!r}",
                          "e.g. degree = 4")
    v = np.zeros(d)
    v[list(S)] = 1.0
    return HermiteDictionary(v[None, :], _he_link(int(degree), normalized)[None, :], np.ones(1), name="single-index")


def multi_index(d: int, degrees: Sequence[int], support: Optional[Sequence[int]] = None,
                normalized: bool = False) -> HermiteDictionary:
    """y = Σ_j He_{p_j}(x_{S_j}): orthonormal (coordinate) directions on the chosen support, one link each."""
    S = check_support(support, d, len(degrees))
    K = max(degrees)
    V = np.zeros((len(degrees), d))
    C = np.zeros((len(degrees), K + 1))
    for j, (i, p) in enumerate(zip(S, degrees)):
        V[j, i] = 1.0
        C[j, : p + 1] = _he_link(int(p), normalized)
    return HermiteDictionary(V, C, np.ones(len(degrees)), name="multi-index")
