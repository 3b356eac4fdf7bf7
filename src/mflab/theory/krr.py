r"""Kernel ridge regression: the infinite-width (NNGP) posterior mean.

    f̂(x) = K(x, X) (K_XX + λ I)^{-1} y,   λ = σ_ε² = T P / 2 = κ² P   (``PosteriorNoise.ridge``),
    Var f(x) = K(x, x) − K(x, X) (K_XX + λ I)^{-1} K(X, x)     (the Gaussian-process posterior variance),

i.e. λ = κ²P on the Gram matrix under the ``"kappa"`` convention T = 2κ² with MSE(mean) loss.
This is the γ = ½, N → ∞ limit of the Bayesian posterior mean (Göring et al. 2025, §2.5).

At κ = 0 (λ = 0, which the SGLD studies allow: noiseless GD) the solve is the pseudo-inverse, the λ → 0 limit:
the minimum-norm interpolant, with the posterior variance of noiseless GP regression. Eigen-directions of
K_XX with λ_i + λ ≤ ε·λ_max (ε the float's machine epsilon; round-off and the masked rows of a nested
design) are dropped: a PSD kernel's cross-kernel K(x, X) vanishes on K_XX's null space, so in exact
arithmetic they contribute nothing, and in floating point they are round-off, which 1/λ would amplify (the
truncation numpy's ``lstsq`` makes). A ridge above ε·λ_max leaves the solve unchanged: κ ≥ 5·10⁻⁴ at every P of
the parity presets. A smaller one (κ = 10⁻⁵ of ``hermite-index``'s full grid at large P) is below what float32
resolves beside λ_max, and gets this truncation too.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..conventions import PosteriorNoise, check_posterior_noise
from ..networks.two_layer import TwoLayer
from ..tasks.base import make_dataset
from .kernels import nngp_kernel, nngp_kernel_diag
from .predictive import Predictive


def krr_predict(K_train, K_cross, y, ridge):
    """K_cross (K_train + ridge I)^{-1} y; K_cross has shape (P_test, P_train): the mean of :func:`krr_posterior`.

    Solved through the eigendecomposition of the (symmetric PSD) Gram matrix with its round-off
    negative eigenvalues clipped to 0: stable even when the Gram matrix is singular (repeated
    inputs on a small hypercube) and the ridge is tiny, where a float32 Cholesky fails."""
    return krr_posterior(K_train, K_cross, jnp.zeros(K_cross.shape[0], K_cross.dtype), y, ridge).mean


def _shifted_spectrum(K_train, ridge):
    """λ_i + ridge on the eigenbasis V of K_train (round-off negative λ_i clipped to 0), and +∞ where
    λ_i + ridge ≤ ε·λ_max, so that dividing by it drops that direction: the pseudo-inverse when the ridge
    is 0 (module docstring)."""
    lam, V = jnp.linalg.eigh(K_train)
    shifted = jnp.clip(lam, 0.0, None) + ridge
    return jnp.where(shifted > jnp.finfo(lam.dtype).eps * jnp.max(jnp.abs(lam)), shifted, jnp.inf), V


def krr_posterior(K_train, K_cross, K_test_diag, y, ridge) -> Predictive:
    """The Gaussian-process posterior at the test inputs: mean K(x, X)(K_XX + ridge I)^{-1} y (solved as in
    :func:`krr_predict`) and variance K(x, x) − K(x, X)(K_XX + ridge I)^{-1}K(X, x), clipped at 0 against round-off."""
    denom, V = _shifted_spectrum(K_train, ridge)
    KV = K_cross @ V
    mean = KV @ ((V.T @ y) / denom)
    var = K_test_diag - jnp.sum(KV**2 / denom[None, :], axis=1)
    return Predictive(mean, jnp.clip(var, 0.0, None))


def nngp_posterior_mean(net: TwoLayer, X_train, y_train, X_test, noise: PosteriorNoise):
    """The infinite-width posterior mean at posterior noise κ (T = 2κ²) on MSE(mean): ridge T P/2 = κ² P."""
    check_posterior_noise(noise, "nngp_posterior_mean")
    return nngp_posterior(net, X_train, y_train, X_test, noise).mean


def nngp_posterior(net: TwoLayer, X_train, y_train, X_test, noise: PosteriorNoise) -> Predictive:
    """The infinite-width posterior of f at the test inputs, mean *and* variance (ridge κ² P): its
    ``errors(y)`` gives the error of the posterior mean and the Gibbs error (:mod:`mflab.theory.predictive`)."""
    ridge = check_posterior_noise(noise, "nngp_posterior").ridge(X_train.shape[0])
    return krr_posterior(nngp_kernel(net, X_train), nngp_kernel(net, X_test, X_train), nngp_kernel_diag(net, X_test),
                         y_train, ridge)


@functools.lru_cache(maxsize=16)
def _nested_posterior_fn(net: TwoLayer):
    def posterior(X, y, X_test, n_keep, ridge):
        keep = (jnp.arange(X.shape[0]) < n_keep).astype(X.dtype)
        K = nngp_kernel(net, X) * keep[:, None] * keep[None, :]
        return krr_posterior(K, nngp_kernel(net, X_test, X) * keep[None, :], nngp_kernel_diag(net, X_test), y * keep,
                             ridge)

    return jax.jit(posterior)


def nngp_posterior_nested(net: TwoLayer, X, y, X_test, noises, n_trains) -> list[Predictive]:
    """:func:`nngp_posterior` on the first P rows of (X, y) for each P of ``n_trains`` (with its noise),
    under **one** compile: the dropped rows are masked out of the Gram matrix, which leaves it block
    diagonal, so each answer is exactly the P-point posterior. The learning-curve design of the studies."""
    fn = _nested_posterior_fn(net)
    out = []
    for P, noise in zip(n_trains, noises):
        ridge = check_posterior_noise(noise, "nngp_posterior_nested").ridge(int(P))
        out.append(fn(X, y, X_test, jnp.asarray(int(P)), jnp.asarray(ridge, X.dtype)))
    return out


def krr_learning_curve(net: TwoLayer, task, n_trains, noise: PosteriorNoise, key, n_test: int = 4096, seeds: int = 1):
    """Test MSE and target overlap of the NNGP posterior mean vs P, mean and std over ``seeds`` datasets.

    Returns a dict of numpy arrays with keys n_train, test_mse, test_mse_std, overlap, overlap_std."""
    check_posterior_noise(noise, "krr_learning_curve")
    out = {"n_train": np.asarray(n_trains), "test_mse": [], "test_mse_std": [], "overlap": [], "overlap_std": []}
    for P in n_trains:
        mses, ovs = [], []
        for s in range(seeds):
            data = make_dataset(task, jax.random.fold_in(key, s), int(P), n_test)
            f = nngp_posterior_mean(net, data.X_train, data.y_train, data.X_test, noise)
            mses.append(float(jnp.mean((f - data.y_test) ** 2)))
            ovs.append(float(task.order_parameter(f, data.X_test)))
        for name, v in (("test_mse", mses), ("overlap", ovs)):
            out[name].append(np.mean(v))
            out[name + "_std"].append(np.std(v))
    return {k: np.asarray(v) for k, v in out.items()}
