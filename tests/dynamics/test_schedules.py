"""Schedules are unit-free shapes s(0) = 1; the base rate lives in Hyper.lr (one home for the step size)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.dynamics import Hyper, constant, elapsed_time, langevin, make_schedule, polynomial_decay
from mflab.errors import ConfigError


@pytest.mark.parametrize("name", ["constant", "polynomial", "exponential"])
def test_lr_times_shape_is_the_published_rate(name):
    lr0, lr1, T, p = 1e-3, 5e-4, 1000, 2.0
    s = make_schedule(name, lr0, lr1, T, p)
    t = np.array([0, 10, 500, 999, 1000, 5000])
    ref = {"constant": np.full(t.shape, lr0),
           "polynomial": lr1 + (lr0 - lr1) * np.clip(1 - t / T, 0, 1) ** p,  # Göring et al. §1.4, in float64
           "exponential": lr0 * (lr1 / lr0) ** np.clip(t / T, 0, 1)}[name]
    np.testing.assert_allclose(lr0 * np.asarray([s(jnp.asarray(x)) for x in t]), ref, rtol=1e-6)
    assert float(s(jnp.asarray(0))) == 1.0


def test_the_langevin_step_size_is_hyper_lr_times_the_shape():
    k = langevin(lambda p, d, key: (jnp.sum(p), jnp.ones_like(p)), None, make_schedule("exponential", 1.0, 0.25, 2),
                 noise="none")
    s = k.init(jnp.zeros(1))
    moves = []
    for _ in range(3):
        new, _ = k.step(s, jax.random.key(0), Hyper(jnp.asarray(0.0), jnp.asarray(0.2)), None)
        moves.append(float(s.params[0] - new.params[0]))
        s = new
    np.testing.assert_allclose(moves, [0.2, 0.1, 0.05], rtol=1e-6)  # η s(t), s = 1, ½, ¼


def test_bad_schedules_name_their_argument():
    with pytest.raises(ConfigError, match="'lr'"):
        make_schedule("constant", -1.0)
    with pytest.raises(ConfigError, match="'steps'"):
        polynomial_decay(0.5, 0)
    with pytest.raises(ConfigError, match="'name'.*polynomial"):
        make_schedule("polynomal", 1e-3)
    assert float(constant()(jnp.asarray(7))) == 1.0


def test_elapsed_time_is_the_diffusion_clock_of_the_published_schedule():
    """τ(t) = η Σ_{s<t} s(s) against the integral of the published schedule (η 10⁻³ → 5·10⁻⁴, power 2 over T
    steps, then constant): η[r t + (1 − r)(T/3)(1 − (1 − t/T)³)] for t ≤ T, within the sum-vs-integral error
    of half a step's rate; a constant schedule gives η t exactly; the published 7.5·10⁶ steps end at τ = 4083."""
    lr0, r, T = 1e-3, 0.5, 2_000_000
    t = np.array([0, 1, 1000, 500_000, T, 7_500_000])
    tau = elapsed_time(t, lr0, make_schedule("polynomial", lr0, r * lr0, T, 2.0))
    s = np.minimum(t, T)
    ref = lr0 * (r * t + (1 - r) * (T / 3) * (1 - (1 - s / T) ** 3))
    np.testing.assert_allclose(tau, ref, atol=lr0)
    assert tau[-1] == pytest.approx(4083.33, abs=0.01) and tau[0] == 0.0 and tau[1] == pytest.approx(lr0)
    np.testing.assert_allclose(elapsed_time([0, 7, 30_000], 1.0, constant()), [0.0, 7.0, 30_000.0])
