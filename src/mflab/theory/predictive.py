r"""Two errors of a posterior, and the Gaussian predictive that gives both.

A posterior over functions f has two test errors (the brief's "compare like with like"):

    error of the posterior mean   E_x[(⟨f⟩(x) − y(x))²]
    Gibbs error                   E_x E_f[(f(x) − y(x))²] = error of the posterior mean + E_x Var f(x)

The identity is exact for any posterior (and for sample averages with the 1/S variance), so a method
that gives a mean and a variance (KRR's Gaussian process posterior, the MF readout posterior) has a
Gibbs error too, and a sampler (SGLD) has an error of its posterior mean. :class:`Predictive` carries
the mean and variance of f at test inputs; :meth:`Predictive.errors` returns both errors and the spread.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp


class PredictiveErrors(NamedTuple):
    """Test errors of one posterior: ``posterior_mean_error`` = E_x[(⟨f⟩ − y)²], ``gibbs_error`` =
    E_x E_f[(f − y)²] and ``spread`` = E_x Var f(x), with gibbs_error = posterior_mean_error + spread."""

    posterior_mean_error: float
    gibbs_error: float
    spread: float

    def __str__(self):
        return (f"error of the posterior mean {self.posterior_mean_error:.4f}, Gibbs error {self.gibbs_error:.4f}, "
                f"spread E Var f {self.spread:.4f}")


class Predictive(NamedTuple):
    """Posterior mean and variance of f at test inputs, each of shape (n,)."""

    mean: jnp.ndarray
    variance: jnp.ndarray

    @staticmethod
    def from_samples(f) -> "Predictive":
        """Mean and (1/S) variance of posterior samples ``f`` of shape (S, n) (e.g. logged SGLD states)."""
        f = jnp.asarray(f)
        if f.ndim != 2:
            raise ValueError(f"Predictive.from_samples needs samples of shape (S, n), got {f.shape}: stack the "
                             "chains and their logged states on the first axis")
        return Predictive(jnp.mean(f, axis=0), jnp.var(f, axis=0))

    def errors(self, y) -> PredictiveErrors:
        """Both test errors against the targets ``y`` (module docstring)."""
        pm = float(jnp.mean((self.mean - y) ** 2))
        spread = float(jnp.mean(self.variance))
        return PredictiveErrors(pm, pm + spread, spread)
