r"""Teacher two-layer networks: f*(x) = N*^{-γ} Σ_i a*_i φ(w*_i·x + b*_i).

For Gaussian inputs the target power is exact: E[f*²] = N*^{-2γ} Σ_{ij} a_i a_j E[φ(u_i)φ(u_j)] with
u_i = w_i·x + b_i jointly Gaussian, Cov(u_i, u_j) = w_i·w_j and mean b_i. Without biases this is the
dual kernel; with biases (nonzero means) a 2-D Gauss–Hermite quadrature per pair.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..networks.two_layer import TwoLayer, TwoLayerParams
from .base import SyntheticTask, check_axis_atoms


@dataclass(frozen=True)
class Teacher(SyntheticTask):
    """A two-layer teacher network f*(x) = f_θ*(x) on Gaussian (or hypercube) inputs; :meth:`random` draws one."""

    net: TwoLayer
    params: TwoLayerParams
    inputs: str = "gaussian"
    name: str = "teacher"

    @staticmethod
    def random(key, net: TwoLayer, d: int, inputs: str = "gaussian") -> "Teacher":
        return Teacher(net, net.init(key, d), inputs)

    @staticmethod
    def on_axes(d: int, amplitudes, activation, name: str = "teacher") -> "Teacher":
        """f*(x) = Σ_j a_j σ(x_j): one bias-free neuron per coordinate axis e_j (standard parametrization)."""
        a = jnp.atleast_1d(jnp.asarray(amplitudes, jnp.float32))
        check_axis_atoms(a.shape[0], d)
        return Teacher(TwoLayer.create(a.shape[0], activation, "standard"), TwoLayerParams(jnp.eye(d)[:a.shape[0]], a),
                       name=name)

    def atoms(self) -> list:
        """[(b_j, w_j, neuron j alone as a target)] of a bias-free teacher, b_j = s a_j with the output scale s."""
        from ..errors import ConfigError

        if self.params.b is not None:
            raise ConfigError("target", "atoms need a bias-free teacher", "use bias = false")
        W, a = np.asarray(self.params.W), np.asarray(self.params.a)
        return [(float(a[j]) * self.net.output_scale, W[j],
                 Teacher(self.net, TwoLayerParams(jnp.asarray(W[j:j + 1]), jnp.asarray(a[j:j + 1]))))
                for j in range(len(a))]

    @property
    def d(self) -> int:
        return self.params.W.shape[1]

    def target(self, X):
        return self.net.apply(self.params, X)

    @property
    def target_power(self) -> float:
        """E[f*²] for Gaussian inputs, exact (dual kernel)."""
        W, a, b = self.params.W, self.params.a, self.params.b
        G = W @ W.T
        q = jnp.diag(G)
        if b is None:
            K = self.net.activation.dual(q[:, None], q[None, :], G)
        else:
            K = _biased_pair_moments(self.net.activation.fn, G, b)
        return float(self.net.output_scale**2 * a @ K @ a)

    def order_parameter(self, f, X):
        return jnp.mean(f * self.target(X), axis=-1) / jnp.mean(self.target(X) ** 2)

    def gaussian_cross_moments(self, act, W) -> jax.Array:
        """E[f*(x) σ(w_i·x)] per row w_i of W, x ~ N(0, I_d): s Σ_j a*_j K(w_i, w*_j) (bias-free teacher with
        the student's activation ``act``)."""
        from ..errors import ConfigError
        from ..theory.gaussian import dual_gram

        if self.params.b is not None:
            raise ConfigError("target", "population mode needs a bias-free teacher", "use data mode or bias = false")
        if self.net.activation.name != act.name:
            raise ConfigError("target", "a teacher in population mode must use the student's activation",
                              "use a HermiteDictionary target for other links")
        K = dual_gram(act, W, jnp.asarray(self.params.W, W.dtype))
        return self.net.output_scale * K @ jnp.asarray(self.params.a, W.dtype)


def _biased_pair_moments(phi, G, b, n_nodes: int = 80):
    """E[φ(u_i)φ(u_j)] for u ~ N(b, G), pairwise, by 2-D Gauss–Hermite quadrature on the 2×2 Cholesky factor."""
    from ..maths.hermite import gauss_hermite

    x, w = gauss_hermite(n_nodes)
    x, w = jnp.asarray(x, G.dtype), jnp.asarray(w, G.dtype)
    q = jnp.diag(G)
    l11 = jnp.sqrt(q)[:, None]
    l21 = G / l11.T  # (i, j): c_ij / sqrt(q_j) with u_j the first factor
    l22 = jnp.sqrt(jnp.clip(q[:, None] - l21**2, 0.0, None))
    Z1, Z2 = x[:, None], x[None, :]
    U = b[None, :, None, None] + l11.T[:, :, None, None] * Z1  # u_j = b_j + √q_j z1   (1, j, n, 1)
    V = b[:, None, None, None] + l21[:, :, None, None] * Z1 + l22[:, :, None, None] * Z2  # u_i | u_j
    return jnp.einsum("m,n,ijmn->ij", w, w, phi(U) * phi(V))
