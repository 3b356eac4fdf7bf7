r"""k-sparse parity on the hypercube: y = χ_S(x) = Π_{i∈S} x_i, x uniform on {±1}^d.

Population facts: E[χ_A χ_B] = δ_AB (Walsh characters are orthonormal), so E[y²] = 1 and the
order parameter m_A = E_x[f(x) χ_A(x)] is the Walsh coefficient of f on A.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import jax.numpy as jnp

from .base import SyntheticTask, check_support


def character(X, A: Sequence[int]):
    """Walsh character χ_A(X) = Π_{i∈A} X[:, i] (χ_∅ = 1)."""
    A = tuple(A)
    if not A:
        return jnp.ones(X.shape[0], X.dtype)
    return jnp.prod(X[:, jnp.asarray(A)], axis=1)


@dataclass(frozen=True)
class SparseParity(SyntheticTask):
    """k-sparse parity on {±1}^d: y = χ_S(x) = Π_{j∈S} x_j, S the first k coordinates unless ``support`` is
    given. Walsh characters are orthonormal, so the order parameter m_S = E[f χ_S]."""

    d: int
    k: int
    support: Optional[tuple[int, ...]] = None
    inputs: str = "hypercube"
    name: str = "parity"

    def __post_init__(self):
        object.__setattr__(self, "support", check_support(self.support, self.d, self.k))
        if self.inputs != "hypercube":
            from ..errors import ConfigError

            raise ConfigError("inputs", f"parity is defined on the hypercube, not on '{self.inputs}' inputs "
                              "(χ_S of Gaussian inputs is not a Walsh character and m_S loses its meaning)",
                              "use inputs = 'hypercube', or a Hermite target (single-index) for Gaussian data")

    signed_labels = True  # labels are ±1: the 0-1 error of sign(f) is defined (mflab.studies.bayes.design)

    def target(self, X):
        return character(X, self.support)

    @property
    def target_power(self) -> float:
        """E[f*²] = 1."""
        return 1.0

    def order_parameter(self, f, X):
        """m_S = E_x[f χ_S], estimated on the given inputs."""
        return jnp.mean(f * character(X, self.support), axis=-1)
