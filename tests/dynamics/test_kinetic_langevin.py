"""Kinetic Langevin (BAOAB): exact Gaussian posterior where SGLD is biased, the SGLD limit, protocol."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.dynamics import (Hyper, KineticHyper, TrainData, constant, critical_friction, guard, kinetic_langevin, langevin,
                            mse_objective, run_chains)
from mflab.networks import TwoLayer


def _readout_problem(C, N=5, d=3, P=10, T=0.05, seed=0):
    """A tanh net with its first layer frozen: the posterior of the readout a is Gaussian."""
    net = TwoLayer.create(N, "tanh", "ntk")
    kx, ky = jax.random.split(jax.random.key(seed))
    X = jax.random.normal(kx, (P, d))
    y = jnp.sin(X[:, 0]) + 0.1 * jax.random.normal(ky, (P,))
    data = jax.tree_util.tree_map(lambda t: jnp.broadcast_to(t, (C,) + t.shape), TrainData(X, y, jnp.full((P,), 1 / P)))
    W0 = net.init(jax.random.key(99), d).W
    params = jax.vmap(lambda k: net.init(k, d)._replace(W=W0))(jax.random.split(jax.random.key(seed + 1), C))
    s = N**-0.5
    Phi = np.tanh(np.asarray(X, np.float64) @ np.asarray(W0, np.float64).T)
    Lam = 2 * s**2 * Phi.T @ Phi / (T * P) + np.eye(N)  # precision of a (σ_a = 1, ntk: α = 0)
    mu = np.linalg.solve(Lam, 2 * s * Phi.T @ np.asarray(y, np.float64) / (T * P))
    return net, data, params, mu, np.linalg.inv(Lam), Lam


def _samples(kern, states, C, hyper, data, n_steps, burn, every):
    res = run_chains(kern, states, jax.random.split(jax.random.key(7), C), hyper, data, n_steps=n_steps,
                     log_every=every, observe=lambda p, d: {"a": p.a}, chunk_steps=n_steps)
    return res.trace.values["a"][:, res.trace.steps > burn, :]


def test_baoab_is_exact_on_the_gaussian_readout_posterior_where_sgld_is_biased():
    """At η T λ_max = 1.6 SGLD's stationary variance of the stiffest mode is 1/(1 − 0.8) = 5× the posterior's;
    BAOAB's configurational law is exact for every stable step on a Gaussian (module docstring): its sample
    mean and covariance match the exact posterior within Monte-Carlo error, and SGLD's visibly do not."""
    C, N, T = 128, 5, 0.05
    net, data, params, mu, Sigma, Lam = _readout_problem(C, N=N, T=T)
    lam_max = np.linalg.eigvalsh(Lam).max()
    lr = 1.6 / (T * lam_max)
    mult = net.lr_multipliers()._replace(W=0.0)
    var = net.prior_variances(3)
    gamma = critical_friction(T, var, mult)
    kin = guard(kinetic_langevin(mse_objective(net), var, constant(), mult))
    states = jax.vmap(lambda p, dat: kin.init(p, dat, None, T))(params, data)
    hyper = KineticHyper(jnp.full(C, T), jnp.full(C, lr), jnp.full(C, gamma))
    # relaxation ~ 1/(h ω_min) with ω_min² = T (the prior's curvature of a): ~ 1/(√(2η)·0.22) ≈ 10 steps
    A = _samples(kin, states, C, hyper, data, 6000, 1000, 20).reshape(-1, N).astype(np.float64)
    n_eff = A.shape[0] / 4  # conservative for neighbouring samples 20 steps apart
    evals, evecs = np.linalg.eigh(Sigma)
    proj = (A - mu) @ evecs  # coordinates along the posterior's principal axes
    z_mean = proj.mean(0) / np.sqrt(evals / n_eff)
    ratio = proj.var(0) / evals  # 1 for an exact sampler; relative s.e. √(2/n_eff)
    assert np.all(np.abs(z_mean) < 5), z_mean
    assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / n_eff)), ratio

    sgld = guard(langevin(mse_objective(net), var, constant(), mult))
    B = _samples(sgld, jax.vmap(sgld.init)(params), C, Hyper(jnp.full(C, T), jnp.full(C, lr)), data, 6000, 1000, 20)
    proj_b = (B.reshape(-1, N).astype(np.float64) - mu) @ evecs
    sgld_ratio = proj_b.var(0) / evals
    predicted = 1 / (1 - lr * T * evals ** -1 / 2)  # Λ⁻¹(I − ηTΛ/2)⁻¹ along Λ's eigenvectors (eigenvalue 1/evals)
    assert sgld_ratio.max() > 3  # the bias this test exists to show is there ...
    assert np.all(np.abs(sgld_ratio / predicted - 1) < 0.25), (sgld_ratio, predicted)  # ... and is the stated one


def test_baoab_with_unequal_masses_per_leaf_is_exact_on_a_correlated_gaussian():
    """A constant mass per leaf (the per-group preconditioner) leaves the law unchanged: on a Gaussian whose two
    leaves are coupled, BAOAB with inverse masses 1 and 9 samples the exact mean and covariance T A⁻¹ (cross
    block included) within Monte-Carlo error. A kernel that applied the mass to the noise but not to the drift
    (or the reverse) would give the wrong covariance here."""
    C, T = 256, 0.1
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(5, 5))
    A = Q @ Q.T + 2 * np.eye(5)  # SPD, dense: x (2 coordinates) and y (3) are coupled
    mu = rng.normal(size=5)
    Aj, muj = jnp.asarray(A, jnp.float32), jnp.asarray(mu, jnp.float32)

    def grad_fn(p, data, key):
        z = jnp.concatenate([p["x"], p["y"]]) - muj
        g = Aj @ z
        return 0.5 * z @ g, {"x": g[:2], "y": g[2:]}

    mult = {"x": 1.0, "y": 9.0}
    kin = guard(kinetic_langevin(grad_fn, {"x": None, "y": None}, constant(), mult))
    lam = np.linalg.eigvalsh(A).max()
    lr = 0.5 / (9 * lam)  # h² m λ_max = 1: stable for both leaves, far from exactness's trivial limit
    gamma = 2 * np.sqrt(np.linalg.eigvalsh(A).min())
    params = {"x": jnp.zeros((C, 2)), "y": jnp.zeros((C, 3))}
    states = jax.vmap(lambda p: kin.init(p, None, None, T))(params)
    hyper = KineticHyper(jnp.full(C, T), jnp.full(C, lr), jnp.full(C, gamma))
    res = run_chains(kin, states, jax.random.split(jax.random.key(5), C), hyper, None, n_steps=4000, log_every=20,
                     observe=lambda p, d: {"z": jnp.concatenate([p["x"], p["y"]])}, chunk_steps=4000)
    Z = np.asarray(res.trace.values["z"])[:, res.trace.steps > 1000, :].reshape(-1, 5).astype(np.float64)
    n_eff = Z.shape[0] / 4
    Sigma = T * np.linalg.inv(A)
    evals, evecs = np.linalg.eigh(Sigma)
    proj = (Z - mu) @ evecs
    assert np.all(np.abs(proj.mean(0) / np.sqrt(evals / n_eff)) < 5)
    ratio = proj.var(0) / evals
    assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / n_eff)), ratio
    cross = np.cov(Z.T)[:2, 2:]  # the coupling between the two leaves
    assert np.allclose(cross, Sigma[:2, 2:], atol=6 * np.sqrt(np.outer(np.diag(Sigma)[:2], np.diag(Sigma)[2:]) / n_eff))


def test_critical_friction_is_twice_the_slowest_prior_frequency():
    net = TwoLayer.create(16, "relu", "ntk")
    T, d = 5e-5, 35
    # the readout's prior (σ_a² = 1) confines more weakly than the first layer's (σ_w²/d = 1/d)
    assert critical_friction(T, net.prior_variances(d), net.lr_multipliers()) == pytest.approx(2 * np.sqrt(T))
    mult = net.lr_multipliers()._replace(a=0.0)  # a frozen: only W is confined, at T d/σ_w²
    assert critical_friction(T, net.prior_variances(d), mult) == pytest.approx(2 * np.sqrt(T * d))
    assert critical_friction(0.0, net.prior_variances(d)) == 0.0


def test_same_key_same_chain_and_chunking_invariant():
    C = 3
    net, data, params, *_ = _readout_problem(C)
    kin = guard(kinetic_langevin(mse_objective(net), net.prior_variances(3), constant(), net.lr_multipliers()))
    states = jax.vmap(lambda p, dat: kin.init(p, dat, None, 0.05))(params, data)
    hyper = KineticHyper(jnp.full(C, 0.05), jnp.full(C, 1e-2), jnp.full(C, 0.5))
    keys = jax.random.split(jax.random.key(3), C)
    obs = lambda p, d: {"a0": p.a[0]}  # noqa: E731
    r1 = run_chains(kin, states, keys, hyper, data, n_steps=300, log_every=50, observe=obs, chunk_steps=300)
    r2 = run_chains(kin, states, keys, hyper, data, n_steps=300, log_every=50, observe=obs, chunk_steps=100)
    np.testing.assert_array_equal(r1.trace.values["a0"], r2.trace.values["a0"])
    assert int(r1.states.state.step[0]) == 300


def test_a_diverging_kinetic_chain_is_frozen_and_reported():
    C = 2
    net, data, params, *_ = _readout_problem(C)
    kin = guard(kinetic_langevin(mse_objective(net), net.prior_variances(3), constant(), net.lr_multipliers()))
    states = jax.vmap(lambda p, dat: kin.init(p, dat, None, 0.05))(params, data)
    hyper = KineticHyper(jnp.full(C, 0.05), jnp.asarray([1e-2, 1e6]), jnp.full(C, 0.5))  # chain 1: far past stability
    logs = []
    res = run_chains(kin, states, jax.random.split(jax.random.key(0), C), hyper, data, n_steps=400, log_every=100,
                     observe=lambda p, d: {"a0": p.a[0]}, log=logs.append)
    alive = np.asarray(res.states.alive)
    assert alive.tolist() == [True, False]
    assert len(res.diverged) == 1 and res.diverged[0]["chain"] == 1 and "diverged" in logs[0]
    assert np.all(np.isfinite(np.asarray(res.states.params.a)))  # frozen at its last finite state
