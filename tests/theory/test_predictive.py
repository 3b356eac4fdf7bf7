"""Both errors of a posterior: the identity Gibbs = posterior-mean error + spread, the NNGP-KRR predictive
variance against a float64 numpy Gaussian-process posterior, one compile for nested training sets, and the
MF readout variance against the KRR variance of the particles' own kernel at N → ∞."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.conventions import posterior_noise
from mflab.dynamics import TrainData, sample_posterior
from mflab.errors import ConfigError
from mflab.networks import TwoLayer
from mflab.tasks import SparseParity, make_dataset
from mflab.theory import krr
from mflab.theory.kernels import nngp_kernel, nngp_kernel_diag
from mflab.theory.mean_field import MeanField, mf_init, mf_posterior, mf_predict, mf_run
from mflab.theory.predictive import Predictive


def test_gibbs_error_is_the_average_error_of_the_samples():
    rng = np.random.default_rng(0)
    f, y = rng.normal(size=(7, 30)), rng.normal(size=30)
    e = Predictive.from_samples(f).errors(y)
    assert e.gibbs_error == pytest.approx(np.mean((f - y) ** 2), rel=1e-5)
    assert e.posterior_mean_error == pytest.approx(np.mean((f.mean(0) - y) ** 2), rel=1e-5)
    assert e.gibbs_error == pytest.approx(e.posterior_mean_error + e.spread, rel=1e-6)
    with pytest.raises(ValueError, match="shape"):
        Predictive.from_samples(f[0])


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
def test_kernel_diagonal_is_the_diagonal_of_the_kernel(act):
    X = jax.random.normal(jax.random.key(0), (9, 5)) * jnp.linspace(0.5, 2, 9)[:, None]
    net = TwoLayer.create(64, act, "ntk", bias=True)
    assert np.allclose(nngp_kernel_diag(net, X), jnp.diag(nngp_kernel(net, X)), rtol=1e-4)


def test_nngp_posterior_variance_is_the_gaussian_process_posterior():
    """Against the textbook formula K** − K*ᵀ(K + λI)⁻¹K* in float64 numpy (a direct solve, not eigh)."""
    ds = make_dataset(SparseParity(8, 2), jax.random.key(1), 60, 40)
    net, noise = TwoLayer.create(128, "relu", "ntk"), posterior_noise(0.1)
    post = krr.nngp_posterior(net, ds.X_train, ds.y_train, ds.X_test, noise)
    K, Ks = (np.asarray(nngp_kernel(net, a, ds.X_train), np.float64) for a in (ds.X_train, ds.X_test))
    Kss = np.asarray(nngp_kernel(net, ds.X_test), np.float64)
    A = K + noise.ridge(60) * np.eye(60)
    mean = Ks @ np.linalg.solve(A, np.asarray(ds.y_train, np.float64))
    var = np.diag(Kss - Ks @ np.linalg.solve(A, Ks.T))
    assert np.allclose(post.mean, mean, atol=1e-4) and np.allclose(post.variance, var, atol=1e-4)
    assert np.all(var < np.diag(Kss))  # the data shrink the prior variance
    assert np.allclose(krr.nngp_posterior_mean(net, ds.X_train, ds.y_train, ds.X_test, noise), post.mean)


def test_nested_training_sets_share_one_compile_and_match_each_posterior():
    ds = make_dataset(SparseParity(8, 2), jax.random.key(2), 50, 30)
    net = TwoLayer.create(32, "relu", "ntk")
    Ps, noises = [10, 25, 50], [posterior_noise(k) for k in (0.05, 0.1, 0.2)]
    krr._nested_posterior_fn.cache_clear()
    got = krr.nngp_posterior_nested(net, ds.X_train, ds.y_train, ds.X_test, noises, Ps)
    assert krr._nested_posterior_fn(net)._cache_size() == 1
    for P, noise, g in zip(Ps, noises, got):
        ref = krr.nngp_posterior(net, ds.X_train[:P], ds.y_train[:P], ds.X_test, noise)
        assert np.allclose(g.mean, ref.mean, atol=1e-4) and np.allclose(g.variance, ref.variance, atol=1e-4)


def test_mf_variance_at_infinite_width_is_the_krr_variance_of_the_particles_kernel():
    """γ = ½, N → ∞: the MF readout posterior is the GP posterior with the empirical kernel (σ_a²/B) ΦᵀΦ."""
    N, kappa, P, B = 10**7, 0.1, 30, 512
    ds = make_dataset(SparseParity(6, 2), jax.random.key(3), P, 50)
    data = TrainData.uniform(ds.X_train, ds.y_train)
    mf = MeanField.create("relu", N, particles=B, inner_steps=2, lr=0.5)
    noise = posterior_noise(kappa)
    st, _, _ = mf_run(mf, mf_init(mf, jax.random.key(4), 6, P), jax.random.key(5), data, noise, 3)
    post = mf_posterior(mf, st, data, noise, ds.X_test)
    Phi_tr, Phi_te = (np.asarray(jax.nn.relu(st.W @ X.T), np.float64) for X in (ds.X_train, ds.X_test))
    K, Ks, Kss = Phi_tr.T @ Phi_tr / B, Phi_te.T @ Phi_tr / B, np.sum(Phi_te**2, axis=0) / B
    A = K + kappa**2 * P * np.eye(P)
    var = Kss - np.sum(Ks * np.linalg.solve(A, Ks.T).T, axis=1)
    assert np.allclose(post.mean, mf_predict(mf, st, ds.X_test), atol=1e-5)
    assert np.allclose(post.variance, var, rtol=2e-3, atol=1e-5), np.max(np.abs(post.variance - var))
    with pytest.raises(ConfigError, match="field"):
        parity = MeanField.create("relu", 64, particles=8, field="parity")
        mf_posterior(parity, mf_init(parity, jax.random.key(0), 6, P), data, noise, ds.X_test)


def test_sample_posterior_returns_samples_after_burn_in_and_refuses_nonsense():
    ds = make_dataset(SparseParity(6, 2), jax.random.key(6), 40, 20)
    net, noise = TwoLayer.create(16, "relu", "ntk"), posterior_noise(0.1)
    s = sample_posterior(net, ds.X_train, ds.y_train, ds.X_test, noise, jax.random.key(7), chains=3, steps=400,
                         log_every=50, burn_in=0.5)
    assert s.f.shape == (3, 4, 20) and list(s.steps) == [250, 300, 350, 400]
    assert s.predictive().mean.shape == (20,)
    with pytest.raises(ConfigError, match="steps"):
        sample_posterior(net, ds.X_train, ds.y_train, ds.X_test, noise, jax.random.key(7), steps=410, log_every=50)
    with pytest.raises(TypeError, match="posterior_noise"):
        sample_posterior(net, ds.X_train, ds.y_train, ds.X_test, 0.1, jax.random.key(7))


def test_ridgeless_krr_is_the_minimum_norm_interpolant_also_in_a_nested_design():
    """κ = 0 (noiseless GD, which the SGLD studies allow): the λ → 0 limit of the GP posterior, against a float64
    numpy pseudo-inverse; the mean interpolates the training labels, the variance vanishes on the training inputs,
    and the masked rows of the nested design give finite numbers (they gave NaN, 0/0, before)."""
    ds = make_dataset(SparseParity(8, 2), jax.random.key(6), 40, 30)
    net, zero = TwoLayer.create(32, "relu", "ntk"), posterior_noise(0.0)
    assert zero.ridge(40) == 0.0
    post = krr.nngp_posterior(net, ds.X_train, ds.y_train, ds.X_test, zero)
    K, Ks = (np.asarray(nngp_kernel(net, a, ds.X_train), np.float64) for a in (ds.X_train, ds.X_test))
    Kinv = np.linalg.pinv(K, rcond=1e-10)
    assert np.allclose(post.mean, Ks @ Kinv @ np.asarray(ds.y_train, np.float64), atol=2e-3)
    var = np.asarray(nngp_kernel_diag(net, ds.X_test), np.float64) - np.sum(Ks @ Kinv * Ks, axis=1)
    assert np.allclose(post.variance, np.clip(var, 0, None), atol=2e-3)
    at_train = krr.nngp_posterior(net, ds.X_train, ds.y_train, ds.X_train, zero)
    assert np.allclose(at_train.mean, ds.y_train, atol=2e-3) and np.all(at_train.variance < 2e-3)
    got = krr.nngp_posterior_nested(net, ds.X_train, ds.y_train, ds.X_test, [zero, zero], [15, 40])
    for P, g in zip([15, 40], got):
        ref = krr.nngp_posterior(net, ds.X_train[:P], ds.y_train[:P], ds.X_test, zero)
        assert np.all(np.isfinite(g.mean)) and np.all(np.isfinite(g.variance))
        assert np.allclose(g.mean, ref.mean, atol=2e-3) and np.allclose(g.variance, ref.variance, atol=2e-3)
