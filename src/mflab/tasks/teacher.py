r"""Teacher two-layer networks: f*(x) = N*^{-γ} Σ_i a*_i φ(w*_i·x + b*_i).

For Gaussian inputs the target power is exact through the dual kernel:
E[f*²] = N*^{-2γ} Σ_{ij} a_i a_j E[φ(u_i)φ(u_j)],  Cov(u_i, u_j) = w_i·w_j + b_i b_j.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ..networks.two_layer import TwoLayer, TwoLayerParams


@dataclass(frozen=True)
class Teacher:
    net: TwoLayer
    params: TwoLayerParams
    inputs: str = "gaussian"
    name: str = "teacher"

    @staticmethod
    def random(key, net: TwoLayer, d: int, inputs: str = "gaussian") -> "Teacher":
        return Teacher(net, net.init(key, d), inputs)

    @property
    def d(self) -> int:
        return self.params.W.shape[1]

    def target(self, X):
        return self.net.apply(self.params, X)

    @property
    def target_power(self) -> float:
        """E[f*²] for Gaussian inputs, exact (dual kernel)."""
        W, a = self.params.W, self.params.a
        G = W @ W.T
        if self.params.b is not None:
            G = G + jnp.outer(self.params.b, self.params.b)
        q = jnp.diag(G)
        K = self.net.activation.dual(q[:, None], q[None, :], G)
        return float(self.net.output_scale**2 * a @ K @ a)

    def order_parameter(self, f, X):
        return jnp.mean(f * self.target(X), axis=-1) / jnp.mean(self.target(X) ** 2)
