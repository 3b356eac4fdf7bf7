"""Trace diagnostics against analytic traces."""
import math

import numpy as np
import pytest

from mflab.analysis.equilibration import arrival_step, equilibration_step, equilibration_steps


def test_exponential_relaxation_settles_where_the_closed_form_says():
    # v(s) = 1 − e^{−s/τ} enters the band |v − 1| ≤ tol at s = τ ln(1/tol); logged every 100 steps.
    tau, tol = 1000.0, 0.05
    s = np.arange(0, 20_001, 100)
    v = 1 - np.exp(-s / tau)
    expected = math.ceil(tau * math.log(1 / tol) / 100) * 100  # the first logged step inside the band
    assert equilibration_step(s, v, tol) == pytest.approx(expected, abs=100)


def test_noise_widens_the_band_and_a_stationary_trace_is_settled_from_the_start():
    rng = np.random.default_rng(0)
    s = np.arange(1000)
    assert equilibration_step(s, 0.3 + 0.01 * rng.standard_normal(1000), tol=0.05) == 0
    noisy = 0.3 + 0.2 * rng.standard_normal(1000)  # σ = 0.2 ≫ tol: the band is 3σ, not tol
    assert equilibration_step(s, noisy, tol=0.05) < 200


def test_late_jump_and_bad_values():
    s = np.arange(100)
    v = np.where(s < 60, 0.0, 1.0)
    assert equilibration_step(s, v) == 60
    assert math.isnan(equilibration_step(s, np.where(s == 5, np.nan, v)))
    np.testing.assert_array_equal(equilibration_steps(s, np.stack([v, v])), [60, 60])
    with pytest.raises(ValueError):
        equilibration_step(s, v[:-1])


def test_arrival_at_a_reference_value_tells_a_slow_settled_chain_from_an_equilibrated_one():
    """v(s) = m(1 − e^{−s/τ}) arrives at m at τ ln(m/tol) (closed form); a chain stuck at m/2 has settled
    (equilibration_step finds a step) but never arrives (∞)."""
    tau, tol, m = 1000.0, 0.05, 0.9
    s = np.arange(0, 20_001, 100)
    v = m * (1 - np.exp(-s / tau))
    assert arrival_step(s, v, m, tol) == pytest.approx(math.ceil(tau * math.log(m / tol) / 100) * 100, abs=100)
    stuck = np.minimum(v, m / 2)
    assert equilibration_step(s, stuck, tol) < 1000 and arrival_step(s, stuck, m, tol) == math.inf
    assert math.isnan(arrival_step(s, v, float("nan")))


def test_mf_points_are_charged_by_the_same_equilibration_criterion_as_sgld():
    from mflab.studies.bayes.phase import mf_equilibration_iterations

    settled_late = [0.0, 0.2, 0.5, 0.7, 0.7, 0.7, 0.7, 0.7]  # enters the band at the 4th chunk end
    settled_at_once = [0.7] * 6 + [np.nan, np.nan]  # a warm-started point: one chunk is still charged
    too_short = [0.3] + [np.nan] * 7  # cannot be judged: charged in full
    res = {"trace_overlap": np.array([settled_late, settled_at_once, too_short]),
           "iterations_used": np.array([400, 300, 50])}
    np.testing.assert_array_equal(mf_equilibration_iterations(res, 50, tol=0.05), [200, 50, 50])
