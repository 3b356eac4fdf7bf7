r"""Infinite-width kernels of the two-layer network (closed form, à la neural-tangents).

For f(x) = N^{-γ} Σ a_i φ(w_i·x + b_i) (+ c) with the prior of :mod:`mflab.conventions`, the first-layer
pre-activation u = w·x + b is *exactly* Gaussian for any fixed inputs, with

    q(x) = σ_w² |x|²/d + σ_b²,   c(x, x') = σ_w² x·x'/d + σ_b²    (σ_b² only with biases).

NNGP (the prior covariance of f, exact at every N):
    K(x, x') = N^{1-2γ} σ_a² N^{-α} E[φ(u) φ(u')]  (+ σ_c² with an output bias c ~ N(0, σ_c²)).

NTK at initialisation, N → ∞, with the per-layer learning-rate multipliers η_a/η = N^{c_a},
η_w/η = N^{c_w} (the kernel of gradient flow with base rate η):
    Θ(x, x') = N^{1-2γ} [ N^{c_a} E[φ(u)φ(u')] + N^{c_w - α} σ_a² E[φ'(u)φ'(u')] (x·x' + 1_bias) ].
For the ``ntk`` table this is E[φφ] + σ_a² E[φ'φ'] (x·x' + 1_bias). An output bias adds N^{c_a}
(∂f/∂c = 1, in the readout's learning-rate group).
"""
from __future__ import annotations

import jax.numpy as jnp

from ..networks.two_layer import TwoLayer


def _gaussian_moments(net: TwoLayer, X1, X2):
    d = X1.shape[1]
    sb2 = net.sigma_b**2 if net.bias else 0.0
    q1 = net.sigma_w**2 * jnp.sum(X1 * X1, axis=1) / d + sb2
    q2 = net.sigma_w**2 * jnp.sum(X2 * X2, axis=1) / d + sb2
    c = net.sigma_w**2 * (X1 @ X2.T) / d + sb2
    return q1[:, None], q2[None, :], c


def _nngp_scale(net: TwoLayer) -> float:
    p = net.parametrization
    return net.width ** (1 - 2 * p.gamma - p.alpha) * net.sigma_a**2


def nngp_kernel(net: TwoLayer, X1, X2=None):
    """K(X1, X2) = Cov(f(x), f(x')) under the prior, shape (P1, P2)."""
    X2 = X1 if X2 is None else X2
    q1, q2, c = _gaussian_moments(net, X1, X2)
    return _nngp_scale(net) * net.activation.dual(q1, q2, c) + _output_bias_variance(net)


def _output_bias_variance(net: TwoLayer) -> float:
    return net.sigma_c**2 if net.output_bias else 0.0


def nngp_kernel_diag(net: TwoLayer, X):
    """K(x, x) = Var f(x) under the prior for each row of X, shape (P,), without the P×P matrix."""
    q = _gaussian_moments(net, X[:1], X)[1][0]
    return _nngp_scale(net) * net.activation.second_moment(q) + _output_bias_variance(net)


def ntk_kernel(net: TwoLayer, X1, X2=None):
    """Θ(X1, X2), the infinite-width NTK at initialisation with the net's learning-rate multipliers."""
    X2 = X1 if X2 is None else X2
    q1, q2, c = _gaussian_moments(net, X1, X2)
    p, N = net.parametrization, float(net.width)
    dots = X1 @ X2.T + (1.0 if net.bias else 0.0)
    readout = N ** p.c_a * net.activation.dual(q1, q2, c)
    hidden = N ** (p.c_w - p.alpha) * net.sigma_a**2 * net.activation.deriv_dual(q1, q2, c) * dots
    out_bias = N ** p.c_a if net.output_bias else 0.0
    return N ** (1 - 2 * p.gamma) * (readout + hidden) + out_bias
