r"""Metropolis-adjusted Langevin (MALA) as a kernel of the step protocol (:mod:`mflab.dynamics.kernel`).

Target p(θ) ∝ exp(−U(θ)) with ``potential(params, data) -> U`` (its gradient by autodiff). With step ε
(the per-chain ``hyper``, a scalar):

    θ' = θ − ε ∇U(θ) + √(2ε) ξ,                     ξ ~ N(0, I)
    log q(b | a) = −|b − a + ε ∇U(a)|² / (4ε)
    accept with probability min(1, exp(U(θ) − U(θ') + log q(θ | θ') − log q(θ' | θ)))

The chain is exactly p-invariant for every ε (Roberts & Tweedie 1996); ε sets only the acceptance
rate. The state caches U and ∇U at the current point, so a step costs one potential-and-gradient
evaluation. Diagnostics (:class:`MALAInfo`): the energy as ``loss``, the acceptance probability and
whether the proposal was accepted.

Example (a standard normal in 2-d)::

    >>> import jax, jax.numpy as jnp
    >>> from mflab.dynamics import mala
    >>> k = mala(lambda p, data: 0.5 * jnp.sum(p ** 2))
    >>> s, info = k.step(k.init(jnp.zeros(2)), jax.random.key(0), jnp.asarray(0.5), None)
    >>> s.params.shape, bool(0.0 <= info.acceptance_probability <= 1.0)
    ((2,), True)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from .kernel import Kernel


class MALAState(NamedTuple):
    """MALA chain state: parameters, their potential U and its gradient (cached between steps)."""

    params: Any
    potential: jax.Array  # U(params)
    grad: Any  # ∇U(params)


class MALAInfo(NamedTuple):
    """Per-step MALA diagnostics: U at the new state, the acceptance probability, whether it was accepted."""

    loss: jax.Array  # U at the new state
    acceptance_probability: jax.Array
    accepted: jax.Array


def _sqnorm(tree):
    return sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(tree))


def mala(potential: Callable) -> Kernel:
    """MALA on ``potential(params, data) -> U`` (module docstring). ``step(state, key, eps, data)``;
    ``init(params, data=None)`` evaluates U and ∇U once (pass ``data`` if U needs it at the start)."""
    value_and_grad = jax.value_and_grad(potential)

    def init(params, data=None) -> MALAState:
        u, g = value_and_grad(params, data)
        return MALAState(params, u, g)

    def log_q(to, frm, g_frm, eps):
        diff = jax.tree_util.tree_map(lambda b, a, g: b - a + eps * g, to, frm, g_frm)
        return -_sqnorm(diff) / (4.0 * eps)

    def step(state: MALAState, key, eps, data):
        k_prop, k_acc = jax.random.split(key)
        leaves, treedef = jax.tree_util.tree_flatten(state.params)
        keys = jax.random.split(k_prop, len(leaves))
        noise = treedef.unflatten([jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves)])
        prop = jax.tree_util.tree_map(lambda x, g, z: x - eps * g + jnp.sqrt(2.0 * eps) * z,
                                      state.params, state.grad, noise)
        u_p, g_p = value_and_grad(prop, data)
        log_a = (state.potential - u_p + log_q(state.params, prop, g_p, eps)
                 - log_q(prop, state.params, state.grad, eps))
        log_a = jnp.where(jnp.isfinite(log_a), log_a, -jnp.inf)  # a non-finite proposal is rejected
        accept = jnp.log(jax.random.uniform(k_acc, (), dtype=u_p.dtype)) < log_a
        pick = lambda a, b: jnp.where(accept, a, b)  # noqa: E731
        new = MALAState(jax.tree_util.tree_map(pick, prop, state.params), pick(u_p, state.potential),
                        jax.tree_util.tree_map(pick, g_p, state.grad))
        return new, MALAInfo(new.potential, jnp.exp(jnp.minimum(log_a, 0.0)), accept)

    return Kernel(init, step)
