r"""Step-size schedules: unit-free shapes s(t) with s(0) = 1, pure and traceable inside ``jit``.

The step size has one home: the base rate η is the per-chain hyperparameter (``Hyper.lr`` of
:mod:`mflab.dynamics.sgld`), the schedule only shapes it in time, η(t) = η s(t).

``polynomial_decay(final_ratio, steps, power)`` (config name ``"polynomial"``): s(t) = r + (1 − r)(1 − t/steps)^power
for t < steps, then r = final_ratio. With power 2, η = 1e-3, r = ½, steps = 2·10^6 it is the Bayesian
parity study's schedule (Göring et al. 2025, §1.4). ``exponential(final_ratio, steps)``: s(t) = r^{min(t/steps, 1)}.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError

SCHEDULES = ("constant", "polynomial", "exponential")


def constant():
    """s(t) = 1."""
    return lambda step: jnp.asarray(1.0, jnp.result_type(float))


def polynomial_decay(final_ratio: float, steps: int, power: float = 2.0):
    _check_lr(final_ratio, "final_ratio")
    if steps < 1:
        raise ConfigError("steps", f"must be >= 1, got {steps}", "number of steps of the decay")

    def schedule(step):
        frac = jnp.clip(1.0 - step / steps, 0.0, 1.0)
        return final_ratio + (1.0 - final_ratio) * frac**power

    return schedule


def exponential(final_ratio: float, steps: int):
    """Geometric interpolation from 1 to ``final_ratio`` over ``steps``, then ``final_ratio``."""
    _check_lr(final_ratio, "final_ratio")
    if steps < 1:
        raise ConfigError("steps", f"must be >= 1, got {steps}", "number of steps of the decay")
    return lambda step: final_ratio ** jnp.clip(step / steps, 0.0, 1.0)


def elapsed_time(steps, lr: float, schedule) -> np.ndarray:
    r"""The Langevin diffusion's clock after each of ``steps`` steps: τ(t) = η Σ_{s<t} s(s).

    Overdamped Langevin with step η s(t) is the Euler–Maruyama scheme of dθ = −∇Φ dt + √(2T) dW, so after t
    steps it approximates the diffusion at time τ(t) whatever the schedule; two runs of one posterior with
    different step sizes are compared at equal τ (the published protocol, η 10⁻³ → 5·10⁻⁴ over 7.5·10⁶ steps,
    ends at τ ≈ 4,083). Every step up to max(steps) is summed, in float64 (the schedule's values are float32
    unless x64 is on: a relative error of ~10⁻⁷)."""
    steps = np.asarray(steps, np.int64)
    top = int(steps.max(initial=0))
    shape = np.empty(top, np.float64)
    for lo in range(0, top, 1 << 20):  # the schedule evaluated in blocks of 2²⁰ steps
        hi = min(top, lo + (1 << 20))
        shape[lo:hi] = np.asarray(schedule(np.arange(lo, hi, dtype=np.float64)), np.float64)
    cum = np.concatenate([[0.0], np.cumsum(shape)])
    return lr * cum[steps]


def make_schedule(name: str, lr: float, lr_final: float | None = None, decay_steps: int | None = None,
                  power: float = 2.0):
    """The shape of a schedule that goes from ``lr`` to ``lr_final`` (the config-file entry point; the
    base rate ``lr`` itself goes into ``Hyper.lr``)."""
    _check_lr(lr)
    if name == "constant":
        return constant()
    ratio = 1.0 if lr_final is None else lr_final / lr
    decay_steps = decay_steps or 1
    if name == "polynomial":
        return polynomial_decay(ratio, decay_steps, power)
    if name == "exponential":
        return exponential(ratio, decay_steps)
    from ..errors import suggest

    raise ConfigError("name", f"unknown schedule '{name}'", suggest(name, SCHEDULES))


def _check_lr(lr, field="lr"):
    if not (lr > 0 and lr < float("inf")):
        raise ConfigError(field, f"must be a positive finite number, got {lr!r}", "e.g. 1e-3")
