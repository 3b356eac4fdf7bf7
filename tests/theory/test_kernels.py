"""Closed-form infinite-width kernels against Monte-Carlo wide networks and exact enumeration."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mflab.networks import TwoLayer
from mflab.theory.hypercube import dot_product_eigenvalues, feature_overlap, nngp_eigenvalues, population_krr_overlap
from mflab.theory.kernels import nngp_kernel, nngp_kernel_diag, ntk_kernel
from mflab.theory.krr import krr_predict
from mflab.tasks.parity import character


@pytest.mark.parametrize("act,bias", [("relu", False), ("erf", True), ("tanh", False), ("gelu", True)])
def test_nngp_equals_monte_carlo_wide_network(act, bias):
    """(1/N) Σ_i σ_a² φ(u_i(x)) φ(u_i(x')) at N = 20000 neurons agrees with the closed form within
    5 standard errors (the per-neuron spread gives the error bar)."""
    d, N = 6, 20_000
    net = TwoLayer.create(N, act, "ntk", bias=bias, sigma_a=1.3, sigma_w=0.9, sigma_b=0.7)
    X = jax.random.normal(jax.random.key(1), (5, d))
    p = net.init(jax.random.key(2), d)
    A = np.asarray(net.activation.fn(net.preactivations(p, X)))  # (N, P)
    per_neuron = net.sigma_a**2 * A[:, :, None] * A[:, None, :]
    emp, se = per_neuron.mean(0), per_neuron.std(0) / np.sqrt(N)
    K = np.asarray(nngp_kernel(net, X))
    assert np.all(np.abs(emp - K) < 5 * se + 1e-6), np.max(np.abs(emp - K) / se)


def test_an_output_bias_adds_its_prior_variance_to_the_nngp():
    """f + c with c ~ N(0, σ_c²) independent of f: K_c = K + σ_c², on and off the diagonal."""
    X = jax.random.normal(jax.random.key(1), (5, 4))
    plain, with_c = (TwoLayer.create(64, "relu", "ntk", bias=True, output_bias=ob, sigma_c=1.5) for ob in (False, True))
    assert np.allclose(nngp_kernel(with_c, X) - nngp_kernel(plain, X), 2.25, atol=1e-5)
    assert np.allclose(nngp_kernel_diag(with_c, X), np.diag(nngp_kernel(with_c, X)), atol=1e-5)


@pytest.mark.parametrize("act,output_bias", [("relu", True), ("erf", False)])
def test_ntk_equals_monte_carlo_wide_network(act, output_bias):
    """Empirical NTK Σ_θ ∂f/∂θ(x) ∂f/∂θ(x') of a width-20000 net (jax.jacobian) vs the closed form."""
    d, N = 5, 20_000
    net = TwoLayer.create(N, act, "ntk", bias=True, output_bias=output_bias)
    X = jax.random.normal(jax.random.key(3), (4, d))
    p = net.init(jax.random.key(4), d)
    J = jax.jacobian(lambda q: net.apply(q, X))(p)
    emp = sum(np.asarray(j.reshape(4, -1) @ j.reshape(4, -1).T) for j in jax.tree_util.tree_leaves(J))
    Th = np.asarray(ntk_kernel(net, X))
    assert np.allclose(emp, Th, rtol=0.05, atol=0.02), (emp, Th)


@given(st.integers(2, 6), st.integers(0, 10_000), st.sampled_from(["relu", "erf", "sigmoid"]))
def test_nngp_symmetric_psd_and_rotation_invariant(d, seed, act):
    net = TwoLayer.create(10, act, "ntk")
    X = jax.random.normal(jax.random.key(seed), (5, d))
    Q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(seed + 1), (d, d)))
    K = np.asarray(nngp_kernel(net, X))
    assert np.allclose(K, K.T, atol=1e-6)
    assert np.linalg.eigvalsh(K).min() > -1e-5
    assert np.allclose(K, np.asarray(nngp_kernel(net, X @ Q)), atol=1e-5)


def test_hypercube_eigenvalues_match_enumeration():
    """Krawtchouk eigenvalues equal χ_Sᵀ K χ_S / 4^d on the enumerated 2^8-point cube."""
    d = 8
    net = TwoLayer.create(4, "relu", "ntk")
    X = jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=d)))
    K = np.asarray(nngp_kernel(net, X), dtype=np.float64)
    lam = nngp_eigenvalues(net, d)
    for S in [(), (0,), (1, 3), (0, 2, 5), (0, 1, 2, 3)]:
        chi = np.asarray(character(X, S), dtype=np.float64)
        assert chi @ K @ chi / 4.0**d == pytest.approx(lam[len(S)], rel=1e-4, abs=1e-7)
    # bias-free ReLU: the odd part of the kernel is linear, so odd degrees >= 3 vanish
    assert abs(lam[3]) < 1e-6 and abs(lam[5]) < 1e-6


def test_krr_on_the_full_cube_equals_population_formula():
    """With all 2^d points once each and ridge κ²P, KRR's overlap with χ_S is exactly λ_S/(λ_S + κ²)."""
    d, kappa = 7, 0.05
    net = TwoLayer.create(4, "relu", "ntk")
    X = jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=d)))
    S = (0, 1, 2, 3)
    y = character(X, S)
    f = krr_predict(nngp_kernel(net, X), nngp_kernel(net, X), y, kappa**2 * X.shape[0])
    lam = nngp_eigenvalues(net, d)[len(S)]
    assert float(jnp.mean(f * y)) == pytest.approx(population_krr_overlap(lam, kappa**2), rel=1e-3)


def test_feature_overlap_enumeration_and_monte_carlo_agree():
    W = jax.random.normal(jax.random.key(0), (3, 10)) / np.sqrt(10)
    exact = feature_overlap(jax.nn.relu, W, (0, 1))
    X = jax.random.rademacher(jax.random.key(1), (200_000, 10), dtype=W.dtype)
    mc = jax.nn.relu(W @ X.T) @ character(X, (0, 1)) / X.shape[0]
    assert np.allclose(exact, mc, atol=5e-3)
    with pytest.raises(ValueError, match="key"):
        feature_overlap(jax.nn.relu, jnp.ones((1, 20)), (0,))


def test_dot_product_eigenvalues_of_a_known_kernel():
    """K(t) = (x·x')² on {±1}^d = d + Σ_{i≠j} x_i x_j x'_i x'_j: λ_0 = d, λ_2 = 2, others 0."""
    lam = dot_product_eigenvalues(lambda t: t**2, 6)
    assert np.allclose(lam, [6, 0, 2, 0, 0, 0, 0])


def test_krr_predict_matches_numpy_solve():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(8, 8))
    K = A @ A.T
    Kx = rng.normal(size=(3, 8))
    y = rng.normal(size=8)
    ref = Kx @ np.linalg.solve(K + 0.3 * np.eye(8), y)
    assert np.allclose(np.asarray(krr_predict(jnp.asarray(K), jnp.asarray(Kx), jnp.asarray(y), 0.3)), ref, rtol=1e-4)


def test_krr_learning_curve_improves_with_data_and_reports_spread():
    from mflab.conventions import posterior_noise
    from mflab.theory.krr import krr_learning_curve
    from mflab.tasks import SparseParity

    net = TwoLayer.create(16, "relu", "ntk")
    out = krr_learning_curve(net, SparseParity(6, 2), [8, 64], noise=posterior_noise(0.05), key=jax.random.key(0),
                             n_test=512, seeds=3)
    assert out["test_mse"].shape == (2,) and np.all(out["test_mse_std"] >= 0)
    assert out["overlap"][1] > out["overlap"][0] + 0.2 and out["test_mse"][1] < out["test_mse"][0]


def test_a_plain_number_for_the_posterior_noise_is_refused_loudly():
    """κ and T = 2κ² are easily confused: the public KRR and MF calls take the typed PosteriorNoise only."""
    from mflab.conventions import posterior_noise
    from mflab.dynamics import TrainData
    from mflab.theory.krr import nngp_posterior_mean
    from mflab.theory.mean_field import MeanField, mf_init, mf_run

    net = TwoLayer.create(8, "relu", "ntk")
    X = jax.random.normal(jax.random.key(0), (10, 3))
    with pytest.raises(TypeError, match="posterior_noise"):
        nngp_posterior_mean(net, X, X[:, 0], X, 0.05)
    f = nngp_posterior_mean(net, X, X[:, 0], X, posterior_noise(0.05))
    g = nngp_posterior_mean(net, X, X[:, 0], X, posterior_noise(2 * 0.05**2, "direct"))  # the same noise, named T
    np.testing.assert_allclose(f, g, rtol=1e-5)
    mf = MeanField.create("relu", 8, particles=4)
    with pytest.raises(TypeError, match="posterior_noise"):
        mf_run(mf, mf_init(mf, jax.random.key(1), 3, 10), jax.random.key(2), TrainData(X, X[:, 0], jnp.full(10, 0.1)),
               0.05, 2)
