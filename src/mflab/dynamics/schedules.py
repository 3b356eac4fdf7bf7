r"""Learning-rate schedules: pure functions step -> η(step), traceable inside ``jit``.

``polynomial_decay(lr0, lr1, steps, power)`` (config name ``"polynomial"``):  η(t) = lr1 + (lr0 − lr1)(1 − t/steps)^power for t < steps,
then lr1. With power 2, lr0 = 1e-3, lr1 = 5e-4, steps = 2·10^6 it is the Bayesian parity
study's schedule (Göring et al. 2025, §1.4).
"""
from __future__ import annotations

import jax.numpy as jnp

from ..errors import ConfigError

SCHEDULES = ("constant", "polynomial", "exponential")


def constant(lr: float):
    _check_lr(lr)
    return lambda step: jnp.asarray(lr, jnp.result_type(float))


def polynomial_decay(lr0: float, lr1: float, steps: int, power: float = 2.0):
    _check_lr(lr0, "lr0"), _check_lr(lr1, "lr1")
    if steps < 1:
        raise ConfigError("steps", f"must be >= 1, got {steps}", "number of steps of the decay")

    def schedule(step):
        frac = jnp.clip(1.0 - step / steps, 0.0, 1.0)
        return lr1 + (lr0 - lr1) * frac**power

    return schedule


def exponential(lr0: float, lr1: float, steps: int):
    """Geometric interpolation from lr0 to lr1 over ``steps``, then lr1."""
    _check_lr(lr0, "lr0"), _check_lr(lr1, "lr1")
    if steps < 1:
        raise ConfigError("steps", f"must be >= 1, got {steps}", "number of steps of the decay")
    return lambda step: lr0 * (lr1 / lr0) ** jnp.clip(step / steps, 0.0, 1.0)


def make_schedule(name: str, lr: float, lr_final: float | None = None, decay_steps: int | None = None,
                  power: float = 2.0):
    """Build a schedule by name (the config-file entry point)."""
    if name == "constant":
        return constant(lr)
    lr_final = lr if lr_final is None else lr_final
    decay_steps = decay_steps or 1
    if name == "polynomial":
        return polynomial_decay(lr, lr_final, decay_steps, power)
    if name == "exponential":
        return exponential(lr, lr_final, decay_steps)
    from ..errors import suggest

    raise ConfigError("name", f"unknown schedule '{name}'", suggest(name, SCHEDULES))


def _check_lr(lr, field="lr"):
    if not (lr > 0 and lr < float("inf")):
        raise ConfigError(field, f"must be a positive finite number, got {lr!r}", "e.g. 1e-3")
