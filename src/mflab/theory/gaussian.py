r"""Gaussian-input calculus of two-layer networks: dual-kernel Gram matrices, cross moments with a
target, and the closed-form population risk, for x ~ N(0, I_d).

    K(w, w') = E[σ(w·x) σ(w'·x)]        (the activation's dual kernel at (|w|², |w'|², w·w'))
    R(μ̂)   = ½ [ (1/N²) Σ_ij a_i a_j K(w_i, w_j) − (2/N) Σ_i a_i E[f*(x) σ(w_i·x)] + E f*² + σ_ε² ]

The cross moments E[f* σ(w·x)] are the target's own knowledge (``gaussian_cross_moments`` of the task
classes); see :mod:`mflab.dynamics.mean_field_langevin` for the population-kernel mode that uses R.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..networks.activations import Activation, get_activation
from ..networks.two_layer import TwoLayerParams


def dual_gram(act: Activation, W1, W2, same: bool = False):
    """K(w_i, w'_j) = E[σ(w_i·x) σ(w'_j·x)], x ~ N(0, I). On the diagonal of a self-Gram the
    off-diagonal formula is evaluated at c = 0 and replaced by E[σ(u)²] (``second_moment``): the closed
    duals have infinite slope in c at |cos| = 1, which would turn gradients into NaN."""
    q1 = jnp.sum(W1**2, -1)[:, None]
    q2 = jnp.sum(W2**2, -1)[None, :]
    C = W1 @ W2.T
    if not same:
        return act.dual(q1, q2, C)
    eye = jnp.eye(W1.shape[0], dtype=bool)
    off = act.dual(q1, q2, jnp.where(eye, 0.0, C))
    q = jnp.sum(W1**2, -1)
    return jnp.where(eye, act.second_moment(q)[:, None] * jnp.ones_like(C), off)


def gaussian_gram(activation, W1, W2=None):
    """K(w_i, w'_j) for x ~ N(0, I_d) (closed-form dual kernel where known, Mehler series otherwise)."""
    act = get_activation(activation)
    return dual_gram(act, W1, W1 if W2 is None else W2, W2 is None)


def target_cross_moments(activation, target, W) -> jax.Array:
    """E[f*(x) σ(w_i·x)] per particle, x ~ N(0, I_d): the target's own ``gaussian_cross_moments``
    (:class:`~mflab.tasks.HermiteDictionary`, bias-free :class:`~mflab.tasks.Teacher`)."""
    method = getattr(target, "gaussian_cross_moments", None)
    if method is None:
        raise ConfigError("target", f"targets of type {type(target).__name__} have no closed-form Gaussian cross "
                          "moments", "use a HermiteDictionary or a bias-free Teacher, or data mode")
    return method(get_activation(activation), W)


def population_risk(activation, target, params: TwoLayerParams, noise_var: float = 0.0,
                    target_power: float | None = None) -> jax.Array:
    """R(μ̂) = ½ E(f − y)² in closed form (module docstring), y = f* + N(0, noise_var). Inside a
    trace pass ``target_power`` = E f*² (a float computed outside; teachers compute it eagerly)."""
    N = params.a.shape[0]
    K = gaussian_gram(activation, params.W)
    cross = target_cross_moments(activation, target, params.W)
    power = float(target.target_power) if target_power is None else target_power
    return 0.5 * (params.a @ K @ params.a / N**2 - 2 * params.a @ cross / N + power + noise_var)
