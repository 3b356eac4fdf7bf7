r"""Training objectives in the ``grad_fn(params, data, key) -> (loss, grads)`` form of the kernels.

``data`` is a :class:`TrainData` (X, y, weights): ``weights`` (sum 1) define the empirical risk
Σ_μ w_μ (f(x_μ) − y_μ)², so a 0/1 mask over a padded dataset divided by its count gives the
risk of a subset (one compile serves many sample sizes P).

Minibatches: ``batch_size`` indices are drawn i.i.d. from the weights (with replacement), so the
minibatch loss is an unbiased estimate of the full weighted risk.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class TrainData(NamedTuple):
    """Training inputs X (P, d), targets y (P,) and per-point weights ω (P,) of the MSE Σ ω (f − y)²."""

    X: jax.Array
    y: jax.Array
    weights: jax.Array

    @staticmethod
    def uniform(X, y) -> "TrainData":
        """Equal weights ω = 1/P: the mean squared error of the studies' posterior."""
        X, y = jnp.asarray(X), jnp.asarray(y)
        return TrainData(X, y, jnp.full(X.shape[0], 1.0 / X.shape[0], X.dtype))


def masked_train_data(X, y, n_used) -> TrainData:
    """Use the first ``n_used`` rows of (X, y) with equal weights, the rest masked out."""
    mask = (jnp.arange(X.shape[0]) < n_used).astype(X.dtype)
    return TrainData(X, y, mask / jnp.sum(mask))


def mse_objective(net, batch_size: int | None = None):
    """Mean squared error (no ½) of a :class:`~mflab.networks.TwoLayer`, hand-written gradient."""

    def grad_fn(params, data: TrainData, key):
        if batch_size is None:
            return net.mse_value_and_grad(params, data.X, data.y, data.weights)
        idx = jax.random.choice(key, data.X.shape[0], (batch_size,), replace=True, p=data.weights)
        w = jnp.full((batch_size,), 1.0 / batch_size, data.X.dtype)
        return net.mse_value_and_grad(params, data.X[idx], data.y[idx], w)

    return grad_fn
