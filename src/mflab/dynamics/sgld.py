r"""Langevin dynamics (SGLD / noisy GD) as a pure ``init``/``step`` kernel.

Update, for every parameter leaf θ with prior variance σ_θ² and learning-rate multiplier m_θ
(:mod:`mflab.conventions`):

    η_θ = lr · schedule(t) · m_θ          (the base rate lr per chain, the schedule a unit-free shape)
    θ ← θ − η_θ [ (T/σ_θ²) θ + ∇_θ L ] + √(2 T η_θ) ξ,   ξ ~ N(0, I)

Stationary density ∝ exp(−L/T − Σ |θ|²/(2σ_θ²)). A leaf with m_θ = 0 (a Python number) is frozen
and costs nothing per step. Setting
``prior_var`` leaves to ``None`` removes the prior on that leaf (noisy GD without weight decay).

Per-chain hyperparameters (temperature, lr) are arrays in :class:`Hyper`, so a batch of
chains can differ in κ and step size under one compile.

Noise:
* ``"independent"``: one normal draw per leaf per step.
* ``"none"``: no noise is drawn; with T = 0 this is plain gradient descent (the ResNet trainers).
* ``"coupled"``: the increment of particle i (row i of each leaf) depends only on (chain key,
  step, leaf, i). Two runs with the same chain key and different widths N therefore share the
  Brownian increments of their common particles: the synchronous coupling of
  propagation-of-chaos experiments.

The kernel follows the step protocol of :mod:`mflab.dynamics.kernel`: ``step(state, key, hyper,
data) -> (state, LangevinInfo)``. Divergence is handled by wrapping it in
:func:`mflab.dynamics.kernel.guard` (a non-finite step is rejected and recorded).

Example::

    >>> import jax, jax.numpy as jnp
    >>> from mflab.dynamics import Hyper, constant, langevin
    >>> k = langevin(lambda p, data, key: (0.5 * jnp.sum(p ** 2), p), prior_var=None, schedule=constant())
    >>> s, info = k.step(k.init(jnp.ones(2)), jax.random.key(0), Hyper(jnp.asarray(0.0), jnp.asarray(0.1)), None)
    >>> [round(float(v), 6) for v in s.params], int(s.step), float(info.loss)
    ([0.9, 0.9], 1, 1.0)
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from .kernel import Kernel

NOISE_MODES = ("independent", "coupled", "none")


class Hyper(NamedTuple):
    """Per-chain Langevin hyperparameters: temperature T and the base step size η (the one home of the
    step size; the schedule shapes it in time)."""

    temperature: jax.Array
    lr: jax.Array


class LangevinState(NamedTuple):
    """SGLD chain state: the parameters and the steps taken (the schedule's clock)."""

    params: Any
    step: jax.Array  # steps taken (the schedule's clock)


class LangevinInfo(NamedTuple):
    """Per-step SGLD diagnostics: the training loss."""

    loss: jax.Array


def _coupled_normal(key, shape, dtype):
    if len(shape) == 0:
        return jax.random.normal(key, shape, dtype)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(shape[0]))
    return jax.vmap(lambda k: jax.random.normal(k, shape[1:], dtype))(keys)


def langevin(grad_fn: Callable, prior_var: Any, schedule: Callable, lr_mult: Any = None,
             noise: str = "independent") -> Kernel:
    """Build a Langevin kernel.

    grad_fn(params, data, key) -> (loss, grads); ``prior_var`` and ``lr_mult`` are pytrees of
    scalars with the structure of params (``lr_mult=None`` means 1 everywhere)."""
    if noise not in NOISE_MODES:
        from ..errors import ConfigError, suggest

        raise ConfigError("noise", f"unknown noise mode '{noise}'", suggest(noise, NOISE_MODES))
    normal = _coupled_normal if noise == "coupled" else jax.random.normal

    def init(params, data=None, key=None, temperature=None) -> LangevinState:
        """The state at ``params`` (``data``, ``key`` and ``temperature`` are accepted for the shared
        ``init`` signature of the posterior samplers and unused: SGLD caches nothing)."""
        return LangevinState(params, jnp.zeros((), jnp.int32))

    def step(state: LangevinState, key, hyper: Hyper, data):
        k_grad, k_noise = jax.random.split(key)
        loss, grads = grad_fn(state.params, data, k_grad)
        base = hyper.lr * schedule(state.step)
        T = hyper.temperature
        leaves, treedef = jax.tree_util.tree_flatten(state.params)
        g_leaves = treedef.flatten_up_to(grads)
        var_leaves = treedef.flatten_up_to(prior_var)
        mult_leaves = [1.0] * len(leaves) if lr_mult is None else treedef.flatten_up_to(lr_mult)
        new = []
        for i, (th, g, var, m) in enumerate(zip(leaves, g_leaves, var_leaves, mult_leaves)):
            if isinstance(m, (int, float)) and m == 0:  # frozen leaf: passed through unchanged
                new.append(th)
                continue
            eta = base * m
            drift = g if var is None else g + (T / var) * th
            th_new = th - eta * drift
            if noise != "none":
                th_new = th_new + jnp.sqrt(2.0 * T * eta) * normal(jax.random.fold_in(k_noise, i), th.shape, th.dtype)
            new.append(th_new.astype(th.dtype))  # keep the leaf's dtype (x64 mode with float32 leaves)
        return LangevinState(treedef.unflatten(new), state.step + 1), LangevinInfo(loss)

    return Kernel(init, step)
