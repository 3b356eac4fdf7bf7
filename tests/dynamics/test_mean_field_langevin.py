"""μP mean-field Langevin particle system, propagation of chaos, Wasserstein tools and the moment
class, against references independent of the code under test: a numpy implementation of the
paper's update, Monte-Carlo Gaussian expectations, sorted-sample 1-D transport, exact moments."""
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from mflab.analysis.moment_class import growth_boundary, log_norm_moments, ou_scale, track_moments, w_star
from mflab.analysis.particle_movement import particle_movement
from mflab.analysis.propagation_of_chaos import chaos_metrics, coupled_runs, function_gap, rate_fits
from mflab.analysis.wasserstein import (OTFallbackWarning, debiased_sliced_w2_squared, sliced_w2_squared,
                                        w2_squared)
from mflab.dynamics.mean_field_langevin import (DataObjective, MFLDSystem, ParticleInit, PopulationObjective,
                                              init_particles, mup_network)
from mflab.theory.gaussian import population_risk
from mflab.dynamics.objectives import TrainData
from mflab.errors import ConfigError
from mflab.networks.two_layer import TwoLayer, TwoLayerParams
from mflab.tasks.hermite import HermiteDictionary
from mflab.tasks.teacher import Teacher


def _numpy_step(theta, X, y, eta, lam, xi, tau):
    """θ_i ← θ_i − η[∇V(θ_i) + λθ_i] + √(2ητ)ξ_i with ∇_a V = E[(f−y)σ(w·x)], ∇_w V = E[(f−y) a σ'(w·x) x]
    for σ = erf, written from the notes (A §1.2–1.3)."""
    a, W = theta[:, 0], theta[:, 1:]
    H = X @ W.T  # (n, N)
    S = special.erf(H)
    dS = 2 / np.sqrt(np.pi) * np.exp(-H**2)
    r = S @ a / len(a) - y
    ga = S.T @ r / len(y)
    gW = ((dS * r[:, None]).T @ X) * a[:, None] / len(y)
    grad = np.concatenate([ga[:, None], gW], axis=1)
    return theta - eta * (grad + lam * theta) + np.sqrt(2 * eta * tau) * xi


def test_particle_step_is_the_papers_update_and_noise_is_coupled_across_widths(x64):
    d, n, eta, lam, tau = 3, 40, 0.3, 0.05, 0.02
    X = np.random.default_rng(0).standard_normal((n, d))
    y = np.tanh(X[:, 0])
    data = TrainData(jnp.asarray(X), jnp.asarray(y), jnp.full(n, 1.0 / n))
    key = jax.random.PRNGKey(3)
    noise = {}
    for N in (8, 16):
        p = init_particles(ParticleInit(), jax.random.PRNGKey(1), N, d, jnp.float64)
        system = MFLDSystem(DataObjective("erf", lam), N)
        kern = system.kernel
        theta0 = np.concatenate([np.asarray(p.a)[:, None], np.asarray(p.W)], axis=1)
        det = kern.step(kern.init(p), key, system.hyper(eta, 0.0, jnp.float64), data)[0].params
        det = np.concatenate([np.asarray(det.a)[:, None], np.asarray(det.W)], axis=1)
        np.testing.assert_allclose(det, _numpy_step(theta0, X, y, eta, lam, 0.0, 0.0), rtol=1e-10, atol=1e-12)
        sto = kern.step(kern.init(p), key, system.hyper(eta, tau, jnp.float64), data)[0].params
        sto = np.concatenate([np.asarray(sto.a)[:, None], np.asarray(sto.W)], axis=1)
        noise[N] = (sto - det) / np.sqrt(2 * eta * tau)  # ξ: the noise variance does not depend on N
    np.testing.assert_allclose(noise[16][:8], noise[8], rtol=1e-12)  # same increments for shared particles
    assert abs(noise[16].std() - 1) < 0.25
    big = init_particles(ParticleInit("laplace", 0.5), jax.random.PRNGKey(1), 32, d)
    small = init_particles(ParticleInit("laplace", 0.5), jax.random.PRNGKey(1), 8, d)
    np.testing.assert_array_equal(big.W[:8], small.W)


@pytest.mark.parametrize("target_kind", ["teacher", "hermite"])
def test_population_risk_matches_monte_carlo(x64, target_kind):
    d = 4
    if target_kind == "teacher":
        target = Teacher(TwoLayer.create(2, "erf", "standard"), TwoLayerParams(jnp.eye(d)[:2], jnp.array([1.0, 0.5])))
    else:  # He_3-heavy link and a linear link on two directions
        target = HermiteDictionary(np.array([[1.0, 1, 0, 0], [0, 0, 1, 0]]), np.array([[0, 0.5, 0, 1.0], [0, 1.0, 0, 0]]),
                                   np.array([1.0, -0.7]))
    p = init_particles(ParticleInit(), jax.random.PRNGKey(2), 12, d, jnp.float64)
    net = mup_network(12, "erf")
    X = jax.random.normal(jax.random.PRNGKey(5), (400_000, d), jnp.float64)
    err = np.asarray(0.5 * (net.apply(p, X) - target.target(X)) ** 2)
    closed = float(population_risk("erf", target, p))
    assert abs(closed - err.mean()) < 4 * err.std() / np.sqrt(len(err)), (closed, err.mean())
    # its gradient is finite (the self-Gram diagonal is special-cased)
    g = PopulationObjective("erf", target, 0.1).grad_fn(12)(p, None, None)[1]
    assert all(np.all(np.isfinite(np.asarray(x))) for x in (g.W, g.a))


def test_function_gap_closed_form_matches_monte_carlo(x64):
    rng = np.random.default_rng(1)
    A = jnp.asarray(rng.standard_normal((10, 4)))
    B = jnp.asarray(rng.standard_normal((7, 4)))
    X = jax.random.normal(jax.random.PRNGKey(0), (400_000, 3), jnp.float64)
    f = lambda th: jax.scipy.special.erf(X @ th[:, 1:].T) @ th[:, 0] / th.shape[0]  # noqa: E731
    sq = np.asarray((f(A) - f(B)) ** 2)
    closed = float(function_gap("erf", A, B))
    assert abs(closed - sq.mean()) < 4 * sq.std() / np.sqrt(len(sq))
    assert float(function_gap("erf", A, A)) == pytest.approx(0.0, abs=1e-12)


def test_particle_movement_is_order_one_under_mup_and_shrinks_under_ntk():
    X = jax.random.normal(jax.random.PRNGKey(0), (32, 4))
    y = jnp.tanh(X[:, 0])
    _, slopes = particle_movement(lambda par, n: TwoLayer.create(n, "erf", par), ["mup", "ntk"], [32, 128, 512],
                                  X, y, lr=0.1, steps=5, seeds=3)
    assert abs(slopes["mup"]["rms_movement"]) < 0.1
    assert -0.65 < slopes["ntk"]["rms_movement"] < -0.35


def test_coupled_systems_converge_at_rate_one_over_n():
    """Tiny propagation-of-chaos run: the function gap to the reference falls like 1/N (slope within
    ±0.35 of −1) and the coupling proxy is 0 at t = 0 (shared initial points)."""
    d, n = 3, 64
    teacher = Teacher(TwoLayer.create(1, "erf", "standard"), TwoLayerParams(jnp.eye(d)[:1], jnp.array([1.0])))
    X = jax.random.normal(jax.random.PRNGKey(1), (n, d))
    data = TrainData(X, teacher.target(X), jnp.full(n, 1.0 / n))
    runs = coupled_runs(DataObjective("erf", 0.01), [16, 32, 64], 512, ParticleInit(),
                        jax.random.PRNGKey(0), d, 0.2, 0.01, 40, 20, 12, data=data)
    m = chaos_metrics(runs, "erf")
    assert all(np.all(m[N]["coupling"][:, 0] == 0) for N in m)
    fits = rate_fits(m, runs.times, n_boot=200)
    assert abs(fits["function_gap"]["sup_over_time"]["slope"] + 1) < 0.35, fits["function_gap"]["sup_over_time"]
    assert abs(fits["coupling"]["sup_over_time"]["slope"] + 1) < 0.35, fits["coupling"]["sup_over_time"]


def test_w2_matches_sorted_transport_in_one_dimension_and_falls_back_with_a_warning():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 1)), 0.5 + 2 * rng.standard_normal((50, 1))
    exact = float(np.mean((np.sort(x[:, 0]) - np.sort(y[:, 0])) ** 2))  # 1-D optimal plan: sort both
    w2, method = w2_squared(x, y)
    assert method == "exact" and w2 == pytest.approx(exact, rel=1e-9)
    assert sliced_w2_squared(x, y, 10) == pytest.approx(exact, rel=1e-9)  # every 1-D projection is ±x
    with pytest.warns(OTFallbackWarning, match="sliced"):
        _, method = w2_squared(rng.standard_normal((60, 2)), rng.standard_normal((60, 2)), max_exact=50)
    assert method == "sliced"


def test_debiased_sliced_w2_sees_a_shift_above_its_floor():
    rng = np.random.default_rng(1)
    D, delta = 4, np.array([0.6, 0, 0, 0])
    ref = rng.standard_normal((8000, D))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = debiased_sliced_w2_squared(rng.standard_normal((500, D)), ref, 400)
        shifted = debiased_sliced_w2_squared(rng.standard_normal((500, D)) + delta, ref, 400)
    assert abs(same["debiased"]) < 0.3 * delta @ delta / D  # at the floor
    assert shifted["debiased"] == pytest.approx(delta @ delta / D, rel=0.3)  # E_u (u·δ)² = |δ|²/D


@pytest.mark.parametrize("s", [0.5, 0.8, 1.3])
def test_gaussian_init_has_w_star_one_over_two_s_squared(s):
    r = w_star(ParticleInit("gaussian", s, scale_w_by_dim=False), 5)
    for method in ("regression", "ratio"):
        est = growth_boundary(log_norm_moments(ParticleInit("gaussian", s, scale_w_by_dim=False), 5, 60), "gaussian",
                              method)["w_star"]
        assert est == pytest.approx(1 / (2 * s**2), rel=0.05)
    assert r["gaussian"]["closed_form"] == pytest.approx(1 / (2 * s**2))


def test_laplace_init_has_exponential_w_star_one_over_b_and_student_t_is_not_admissible():
    r = w_star(ParticleInit("laplace", 0.4, scale_w_by_dim=False), 3)
    assert r["exponential"]["w_star"] == pytest.approx(1 / 0.4, rel=0.05)
    assert r["gaussian"]["w_star"] < 0.05  # → 0 as k_max grows
    t = w_star(ParticleInit("student-t", 1.0, dof=4.0), 3)
    assert not t["admissible"] and t["gaussian"]["w_star"] == 0 and "infinite" in t["gaussian"]["reason"]


def test_exact_norm_moments_match_monte_carlo():
    init = ParticleInit("laplace", 0.5, scale_w_by_dim=True)
    d = 3
    rng = np.random.default_rng(0)
    th = rng.laplace(0, 0.5, (1_000_000, d + 1)) * np.array([1] + [d**-0.5] * d)
    r2 = np.sum(th**2, axis=1)
    exact = np.exp(log_norm_moments(init, d, 3))
    for k in (1, 2, 3):
        v = r2**k
        assert abs(exact[k] - v.mean()) < 5 * v.std() / np.sqrt(len(v))


def test_moment_tracking_flags_max_dominated_exponential_moments():
    rng = np.random.default_rng(0)
    cloud = rng.standard_normal((1, 4000, 3))  # s = 1: w* = 1/2
    rows = track_moments(cloud, ps=(2,), ws=(0.1, 0.6))
    by = {r["statistic"]: r for r in rows}
    assert not by["log_exp_moment_w=0.1"]["max_dominated"] and by["log_exp_moment_w=0.6"]["max_dominated"]
    assert by["log_exp_moment_w=0.1"]["estimate"] == pytest.approx(-1.5 * np.log(1 - 0.2), abs=0.02)
    assert by["m_2"]["ci_low"] < 3 < by["m_2"]["ci_high"]
    assert by["tail_scale_sq"]["estimate"] == pytest.approx(1.0, rel=0.1)
    assert ou_scale(1.0, 0.1, 0.5, 1e6) == pytest.approx(0.2)


def test_bad_initialisations_and_modes_are_named():
    with pytest.raises(ConfigError, match="init.family.*did you mean 'laplace'"):
        init_particles(ParticleInit("laplac"), jax.random.PRNGKey(0), 4, 2)
    with pytest.raises(ConfigError, match="init.scale"):
        ParticleInit("gaussian", -1.0).validate()
    with pytest.raises(ConfigError, match="'tau'"):
        MFLDSystem(DataObjective(), 4).hyper(0.1, -1.0)


def test_online_minibatch_gradient_is_unbiased_for_the_population_gradient(x64):
    d, N = 3, 6
    teacher = Teacher(TwoLayer.create(1, "erf", "standard"), TwoLayerParams(jnp.eye(d)[:1], jnp.array([1.0])))
    p = init_particles(ParticleInit(), jax.random.PRNGKey(4), N, d, jnp.float64)
    online = DataObjective("erf", 0.1, online_batch=256, target=teacher.target).grad_fn(N)
    pop = PopulationObjective("erf", teacher, 0.1).grad_fn(N)
    g = jax.jit(jax.vmap(lambda k: online(p, None, k)[1].a))(jax.random.split(jax.random.PRNGKey(0), 400))
    exact = np.asarray(pop(p, None, None)[1].a)
    se = np.asarray(g.std(0)) / np.sqrt(len(g))
    assert np.all(np.abs(np.asarray(g.mean(0)) - exact) < 5 * se + 1e-9)
    same = [float(online(p, None, jax.random.PRNGKey(1))[0]) for _ in range(2)]
    assert same[0] == same[1] != float(online(p, None, jax.random.PRNGKey(2))[0])


def test_movement_figure_draws_every_parametrization():
    from mflab.studies.mfld.plots import movement_figure

    rows = [{"parametrization": par, "N": n, "rms_movement": m / n**e, "max_movement": 2 * m / n**e}
            for par, e, m in (("mup", 0.0, 0.5), ("ntk", 0.5, 1.0)) for n in (16, 64)]
    fig = movement_figure(rows, [16, 64])
    assert len(fig.axes[0].lines) == 4
