"""Hermite calculus against numpy's Hermite module and scipy quadrature (independent references)."""
import math

import numpy as np
import pytest
from scipy import integrate, special

from mflab.networks.activations import ACTIVATIONS, get_activation
from mflab.maths.hermite import hermite_he, hermite_normalized

from conftest import gauss2d

NP_FN = {
    "relu": lambda x: np.maximum(x, 0), "erf": special.erf, "tanh": np.tanh,
    "gelu": lambda x: x * 0.5 * (1 + special.erf(x / np.sqrt(2))), "silu": lambda x: x * special.expit(x),
    "sigmoid": special.expit, "quadratic": lambda x: x**2,
}


def relu_dual_reference(q1, q2, c):
    """E[relu(u) relu(v)] by 1-D scipy quadrature of relu(u) E[relu(v) | u] (Gaussian conditional
    in closed form: E[relu(v)|u] = μΦ(μ/s) + s φ(μ/s), μ = c u/q1, s² = q2 − c²/q1)."""
    s = np.sqrt(max(q2 - c * c / q1, 0.0))

    def integrand(u):
        mu = c * u / q1
        cond = mu * special.ndtr(mu / s) + s * np.exp(-0.5 * (mu / s) ** 2) / np.sqrt(2 * np.pi)
        return u * cond * np.exp(-u * u / (2 * q1)) / np.sqrt(2 * np.pi * q1)

    return integrate.quad(integrand, 0, np.inf, epsabs=1e-13, epsrel=1e-12)[0]


def gauss_expect(f):
    return integrate.quad(lambda z: f(z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -np.inf, np.inf,
                          limit=400, epsabs=1e-12)[0]


def test_hermite_polynomials_match_numpy(x64):
    z = np.linspace(-3, 3, 11)
    H = np.asarray(hermite_he(8, z))
    for k in range(9):
        e = np.zeros(k + 1)
        e[k] = 1
        np.testing.assert_allclose(H[k], np.polynomial.hermite_e.hermeval(z, e), rtol=1e-12, atol=1e-9)


def test_orthonormality(x64):
    x, w = np.polynomial.hermite_e.hermegauss(60)
    h = np.asarray(hermite_normalized(10, x))
    G = (h * (w / w.sum())) @ h.T
    np.testing.assert_allclose(G, np.eye(11), atol=1e-10)


@pytest.mark.parametrize("name", ["relu", "erf"])
@pytest.mark.parametrize("r", [0.5, 1.0, 2.0])
def test_closed_form_coefficients_match_scipy_quadrature(x64, name, r):
    c = np.asarray(get_activation(name).hermite_coefficients(8, r))
    for k in range(9):
        e = np.zeros(k + 1)
        e[k] = 1
        ref = gauss_expect(lambda z: NP_FN[name](r * z) * np.polynomial.hermite_e.hermeval(z, e)) / math.sqrt(math.factorial(k))
        assert c[k] == pytest.approx(ref, abs=1e-8), k


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_parseval(x64, name):
    """Σ_k c_k(r)² = E[φ(r z)²]."""
    act, r = get_activation(name), 1.3
    k_max = {"relu": 200, "erf": 100}.get(name, 80)  # ReLU: c_k² ~ k^{-5/2}; smooth ones: faster
    c = np.asarray(act.hermite_coefficients(k_max, r))
    ref = gauss_expect(lambda z: NP_FN[name](r * z) ** 2)
    assert np.sum(c**2) == pytest.approx(ref, rel=2e-4 if name == "relu" else 1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("q1,q2,c", [(1.0, 1.0, 0.3), (0.5, 2.0, -0.6), (1.5, 0.7, 0.9)])
def test_dual_kernel_matches_2d_quadrature(x64, name, q1, q2, c):
    """Closed forms (ReLU, erf) and the Mehler series (others) against a float64 2-D quadrature."""
    got = float(get_activation(name).dual(q1, q2, c))
    ref = relu_dual_reference(q1, q2, c) if name == "relu" else gauss2d(NP_FN[name], q1, q2, c)
    assert got == pytest.approx(ref, rel=1e-8 if name == "relu" else 1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["relu", "erf", "tanh"])
def test_mehler_identity_against_closed_form(x64, name):
    """The Mehler series from the Hermite coefficients reproduces the dual kernel (closed form or
    2-D quadrature), i.e. the Mehler identity holds."""
    from mflab.maths.hermite import mehler_kernel

    act = get_activation(name)
    q1, q2, c = 1.2, 0.8, 0.5
    order = 120 if name == "relu" else 40
    series = float(mehler_kernel(act.hermite_coefficients(order, np.sqrt(q1)), act.hermite_coefficients(order, np.sqrt(q2)),
                                 c / np.sqrt(q1 * q2)))
    ref = relu_dual_reference(q1, q2, c) if name == "relu" else gauss2d(NP_FN[name], q1, q2, c)
    assert series == pytest.approx(ref, rel=1e-3 if name == "relu" else 1e-8)


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_derivative_dual_closed_form(x64, name):
    act = get_activation(name)
    rng = np.random.default_rng(0)
    for q1, q2, c in [(1.0, 1.0, 0.2), (2.0, 0.5, -0.7)]:
        got = float(act.deriv_dual(q1, q2, c))
        if name == "relu":  # E[1(u>0) 1(v>0)]: an orthant probability, by Monte-Carlo (4e6 draws)
            uv = rng.multivariate_normal([0, 0], [[q1, c], [c, q2]], size=4_000_000)
            hits = (uv[:, 0] > 0) & (uv[:, 1] > 0)
            assert abs(got - hits.mean()) < 5 * hits.std() / np.sqrt(hits.size)
        else:
            ref = gauss2d(lambda x: 2 / np.sqrt(np.pi) * np.exp(-x**2), q1, q2, c)
            assert got == pytest.approx(ref, rel=1e-6)


def test_polynomial_parity_and_unknown_activation():
    from mflab.errors import ConfigError

    assert get_activation("polynomial:0,1,0,1").parity == "odd"
    assert get_activation("quadratic").parity == "even"
    with pytest.raises(ConfigError, match="did you mean 'relu'"):
        get_activation("rleu")


def test_closed_form_requests():
    """method='closed' on an activation without one is a clear error; 'series' on ReLU uses Mehler."""
    from mflab.errors import ConfigError

    with pytest.raises(ConfigError, match="no closed form"):
        get_activation("tanh").dual(1.0, 1.0, 0.5, method="closed")
    relu = get_activation("relu")
    assert float(relu.dual(1.0, 1.0, 0.5, order=120, method="series")) == pytest.approx(float(relu.dual(1.0, 1.0, 0.5)), rel=2e-3)
