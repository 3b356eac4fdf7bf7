r"""Deterministic training (SGD or Adam) as a pure ``init``/``step`` kernel, for the ResNet studies.

For every parameter leaf θ with learning-rate multiplier m_θ (the parametrization table of
:mod:`mflab.conventions`, SGD or Adam column) and base rate η:

    SGD:   θ ← θ − η m_θ ∇_θ L
    Adam:  θ ← θ − η m_θ · adam(∇_θ L)      (optax.scale_by_adam: bias-corrected m̂/(√v̂ + ε))

A leaf with m_θ = 0 (a Python number) is frozen: it gets no optimizer state and costs nothing.
Wrap it in :func:`mflab.dynamics.kernel.guard` to reject a step whose loss or result is not finite:
the state stays at its last finite value with ``alive = False`` and ``diverged_at`` = that step, so
the trajectory collected so far is kept.

The Bayesian samplers use :func:`mflab.dynamics.langevin` instead; this kernel has no noise and
no prior.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import optax

from ..errors import ConfigError, suggest
from .kernel import Kernel

OPTIMIZERS = ("sgd", "adam")


class OptState(NamedTuple):
    """Optimizer state: parameters and the optax state of the trainable leaves (() for SGD)."""

    params: Any
    inner: Any  # optax state over the trainable leaves (() for SGD)


class OptInfo(NamedTuple):
    """Per-step diagnostics of an optimizer step: the training loss."""

    loss: jax.Array


def check_optimizer(name: str, field: str = "optimizer") -> str:
    if name not in OPTIMIZERS:
        raise ConfigError(field, f"unknown optimizer '{name}'", suggest(name, OPTIMIZERS))
    return name


def optimizer_kernel(grad_fn: Callable, lr_mult: Any, optimizer: str = "sgd", b1: float = 0.9, b2: float = 0.999,
                     eps: float = 1e-8) -> Kernel:
    """``grad_fn(params, data, key) -> (loss, grads)``; ``lr_mult`` a pytree of Python numbers with
    the structure of params. ``step(state, key, lr, data) -> (state, loss)``; ``lr`` may be traced
    (vmap over a learning-rate grid)."""
    check_optimizer(optimizer)
    transform = optax.scale_by_adam(b1=b1, b2=b2, eps=eps) if optimizer == "adam" else optax.identity()

    def split(tree, treedef):
        mults = treedef.flatten_up_to(lr_mult)
        leaves = treedef.flatten_up_to(tree)
        return [x for x, m in zip(leaves, mults) if not (isinstance(m, (int, float)) and m == 0)]

    def init(params) -> OptState:
        treedef = jax.tree_util.tree_structure(params)
        return OptState(params, transform.init(split(params, treedef)))

    def step(state: OptState, key, lr, data):
        loss, grads = grad_fn(state.params, data, key)
        leaves, treedef = jax.tree_util.tree_flatten(state.params)
        mults = treedef.flatten_up_to(lr_mult)
        updates, inner = transform.update(split(grads, treedef), state.inner, split(state.params, treedef))
        it = iter(updates)
        new = []
        for th, m in zip(leaves, mults):
            if isinstance(m, (int, float)) and m == 0:
                new.append(th)
            else:
                new.append((th - lr * m * next(it)).astype(th.dtype))
        return OptState(treedef.unflatten(new), inner), OptInfo(loss)

    return Kernel(init, step)
