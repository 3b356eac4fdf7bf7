r"""Kinetic (underdamped) Langevin dynamics with the BAOAB splitting, as a kernel of the step protocol.

The same stationary law as SGLD (:mod:`mflab.dynamics.sgld`): with the potential
Φ(θ) = L(θ) + T Σ_θ |θ|²/(2σ_θ²) the target is p(θ) ∝ exp(−Φ/T). A velocity v joins every leaf, and the
learning-rate multiplier m_θ (:mod:`mflab.conventions`) is its inverse mass, so the dynamics

    dθ = v dt,    dv = −m_θ ∇_θΦ dt − γ v dt + √(2 γ T m_θ) dW,    stationary v ~ N(0, T m_θ)

reduce to SGLD's preconditioned overdamped Langevin when the friction γ → ∞. One step of length h
(Leimkuhler & Matthews 2013, "BAOAB"), with c = e^{−γh} and the gradient cached between steps:

    B  v ← v − (h/2) m_θ ∇Φ(θ)          A  θ ← θ + (h/2) v
    O  v ← c v + √((1 − c²) T m_θ) ξ    A  θ ← θ + (h/2) v       B  v ← v − (h/2) m_θ ∇Φ(θ)

The step is set by the same base rate η as SGLD, h = √(2 η s(t)) (``schedule`` s): with c = 0 BAOAB is
the Leimkuhler–Matthews scheme θ' = θ − η m ∇Φ + √(η T m/2)(ξ + ξ'), SGLD's step with the same η, so
both samplers are stable for the same η (η·m·λ < 2 on a curvature λ of Φ). What changes is time per
step: h = √(2η) ≫ η, so a mode of curvature ω² = m λ that SGLD relaxes in ~1/(η ω²) steps relaxes
in ~1/(h ω) steps at critical friction γ = 2ω: the square root of SGLD's condition number.

Discretisation bias. On a Gaussian target the configurational law of BAOAB is *exact* for every stable
h (each normal mode is a harmonic oscillator whose BAOAB position variance is T/ω², Leimkuhler &
Matthews 2013, §4); only the velocity variance is biased, T m (1 − h²ω²/4). SGLD's stationary
covariance there is T Λ⁻¹(I − η m Λ/2)⁻¹ (Λ the precision). ``tests/dynamics/test_kinetic_langevin.py``
checks both against the exact Gaussian posterior of a network readout.

Friction: :func:`critical_friction` is the default, γ = 2 min_θ √(m_θ T/σ_θ²), critical damping of the
slowest mode the prior alone confines (the posterior's slow, data-free directions). ``hyper`` is a
:class:`KineticHyper` (temperature, base rate, friction), per chain.

Frozen leaves (m_θ = 0, a Python number) pass through unchanged, as in SGLD. ``init(params, data, key)``
evaluates the gradient once (the state caches it, so a step costs one gradient evaluation).
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from .kernel import Kernel


class KineticHyper(NamedTuple):
    """Per-chain hyperparameters: temperature T, base rate η (step h = √(2η s(t))), friction γ (1/time)."""

    temperature: jax.Array
    lr: jax.Array
    friction: jax.Array


class KineticState(NamedTuple):
    """BAOAB chain state: parameters, velocities, the cached gradient of Φ and loss, and the step count."""

    params: Any
    velocity: Any  # v, the params' shape (zeros on frozen leaves)
    grad: Any  # ∇Φ(params) = ∇L + (T/σ²) θ at the cached point
    loss: jax.Array  # L(params)
    step: jax.Array


class KineticInfo(NamedTuple):
    """Per-step diagnostics of the kinetic sampler: the loss at the new state and the kinetic temperature
    (≈ T at equilibrium, biased by the step)."""

    loss: jax.Array  # L at the new state
    kinetic_temperature: jax.Array  # Σ v²/m over moving coordinates / their number (≈ T at equilibrium, biased by h)


def _frozen(m) -> bool:
    return isinstance(m, (int, float)) and m == 0


def critical_friction(temperature: float, prior_var: Any, lr_mult: Any = None) -> float:
    """γ = 2 min_θ √(m_θ T / σ_θ²): critical damping of the slowest prior-confined mode (module docstring).
    Leaves without a prior (σ² = None) or frozen (m = 0) are skipped; 0 when nothing is confined (T = 0)."""
    var_leaves = jax.tree_util.tree_leaves(prior_var, is_leaf=lambda x: x is None)
    mult_leaves = ([1.0] * len(var_leaves) if lr_mult is None
                   else jax.tree_util.tree_leaves(lr_mult, is_leaf=lambda x: x is None))
    rates = [m * float(temperature) / v for v, m in zip(var_leaves, mult_leaves) if v is not None and m]
    return 2.0 * math.sqrt(min(rates)) if rates else 0.0


def kinetic_langevin(grad_fn: Callable, prior_var: Any, schedule: Callable, lr_mult: Any = None) -> Kernel:
    """Build the BAOAB kernel (module docstring). ``grad_fn(params, data, key) -> (loss, grads)`` is the
    data term L; ``prior_var`` and ``lr_mult`` are pytrees of scalars with the params' structure (as for
    :func:`mflab.dynamics.sgld.langevin`). ``step(state, key, KineticHyper, data)``."""

    def leaves_of(tree, params_def):
        return params_def.flatten_up_to(tree)

    def potential_grad(params, data, key, T):
        loss, g = grad_fn(params, data, key)
        leaves, treedef = jax.tree_util.tree_flatten(params)
        var_leaves = leaves_of(prior_var, treedef)
        out = [gl if var is None else gl + (T / var) * th
               for th, gl, var in zip(leaves, leaves_of(g, treedef), var_leaves)]
        return loss, treedef.unflatten(out)

    def init(params, data=None, key=None, temperature=0.0) -> KineticState:
        """The state at ``params`` with zero velocity (the O step draws it) and the cached gradient of Φ at
        ``temperature`` (the chain's T: the prior term of the first B step)."""
        key = jax.random.key(0) if key is None else key
        loss, g = potential_grad(params, data, key, jnp.asarray(temperature))
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return KineticState(params, zeros, g, jnp.asarray(loss), jnp.zeros((), jnp.int32))

    def step(state: KineticState, key, hyper: KineticHyper, data):
        k_grad, k_noise = jax.random.split(key)
        T = hyper.temperature
        h = jnp.sqrt(2.0 * hyper.lr * schedule(state.step))
        c = jnp.exp(-hyper.friction * h)
        leaves, treedef = jax.tree_util.tree_flatten(state.params)
        vel = leaves_of(state.velocity, treedef)
        grad = leaves_of(state.grad, treedef)
        mult = [1.0] * len(leaves) if lr_mult is None else leaves_of(lr_mult, treedef)
        half = []
        for i, (th, v, g, m) in enumerate(zip(leaves, vel, grad, mult)):
            if _frozen(m):
                half.append((th, v))
                continue
            v = v - 0.5 * h * m * g  # B
            th = th + 0.5 * h * v  # A
            xi = jax.random.normal(jax.random.fold_in(k_noise, i), th.shape, th.dtype)
            v = c * v + jnp.sqrt((1.0 - c * c) * T * m) * xi  # O
            half.append(((th + 0.5 * h * v).astype(th.dtype), v))  # A
        params = treedef.unflatten([th for th, _ in half])
        loss, g_new = potential_grad(params, data, k_grad, T)
        g_leaves = leaves_of(g_new, treedef)
        new_v, energy, count = [], 0.0, 0
        for (th, v), g, m, v_old in zip(half, g_leaves, mult, vel):
            if _frozen(m):
                new_v.append(v_old)
                continue
            v = (v - 0.5 * h * m * g).astype(th.dtype)  # B
            new_v.append(v)
            energy = energy + jnp.sum(v * v) / m
            count += v.size
        kin_T = energy / max(count, 1)
        grads = treedef.unflatten([g if not _frozen(m) else g0 for g, m, g0 in zip(g_leaves, mult, grad)])
        return (KineticState(params, treedef.unflatten(new_v), grads, loss, state.step + 1),
                KineticInfo(loss, kin_T))

    return Kernel(init, step)
