"""Identifiability modulo activation symmetries: L² distance, canonical forms, same_function,
moment-variety and orbit depths. Property tests draw random measures and symmetric copies."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from mflab.analysis.identifiability import canonicalize, l2_distance, same_function, symmetry_structure
from mflab.analysis.moment_depth import orbit_depth, variety_depth

measures = st.integers(0, 10_000).map(lambda s: np.random.default_rng(s))


def _random_measure(rng, n=None, d=3):
    n = n or int(rng.integers(1, 6))
    th = rng.standard_normal((n, 1 + d))
    return th


@given(measures, st.sampled_from(["relu", "erf", "tanh", "gelu"]))
def test_symmetric_copies_are_at_distance_zero(rng, act):
    th = _random_measure(rng)
    n = len(th)
    copy = th[rng.permutation(n)].copy()
    s = symmetry_structure(act)
    if s.homogeneity is not None:  # positive rescaling (a, w) → (a t^p, w / t)
        t = rng.uniform(0.3, 3.0, n)
        copy[:, 0] *= t**s.homogeneity
        copy[:, 1:] /= t[:, None]
    if s.even.kind == "zero":  # odd σ: (a, w) → (−a, −w)
        flip = rng.choice([-1.0, 1.0], n)
        copy *= flip[:, None]
    # split the first neuron into two halves of the same weight: the same measure
    split = np.concatenate([copy, copy[:1]])
    w = np.full(n + 1, 1.0 / n)
    w[0] = w[-1] = 0.5 / n
    same, cert = same_function(th, split, act, tol=1e-12, weights2=w)
    scale = np.sum(np.abs(th[:, 0]) * np.linalg.norm(th[:, 1:], axis=1)) ** 2 / n**2
    assert same and cert["l2_distance_sq"] <= 1e-12 * max(scale, 1)
    assert cert["canonical_distance"] < 1e-6, cert


@given(st.floats(0.1, 1.4), st.floats(0.2, 1.2), st.floats(-3, 3))
def test_relu_eight_neuron_zero_network(t1, dt, t3):
    """(+1,u1),(−1,−u1),(+1,u2),(−1,−u2),(−1,c u3),(+1,−c u3),(−1,c u4),(+1,−c u4) with u1+u2 = c(u3+u4)
    computes f ≡ 0 (relu(z) − relu(−z) = z): distance 0 to the empty network, canonical form empty."""
    u = lambda t: np.array([np.cos(t), np.sin(t), 0.0])  # noqa: E731
    u1, u2 = u(t1), u(t1 + dt)
    m = (t1 + t1 + dt) / 2
    u3, u4 = u(m + 0.3 + 0.1 * t3), u(m - 0.3 - 0.1 * t3)  # symmetric about the bisector: u3 + u4 ∥ u1 + u2
    c = np.linalg.norm(u1 + u2) / np.linalg.norm(u3 + u4)
    th = np.array([[1, *u1], [-1, *-u1], [1, *u2], [-1, *-u2], [-1, *(c * u3)], [1, *(-c * u3)],
                   [-1, *(c * u4)], [1, *(-c * u4)]])
    X = np.random.default_rng(0).standard_normal((200, 3))
    assert np.max(np.abs(np.maximum(X @ th[:, 1:].T, 0) @ th[:, 0])) < 1e-12  # f ≡ 0 on data
    zero = np.array([[0.0, 1.0, 0.0, 0.0]])
    same, cert = same_function(th, zero, "relu")
    assert same and cert["l2_distance_sq"] < 1e-14
    form = canonicalize(th, "relu")
    assert form.n_atoms == 0 and np.allclose(form.moments[1], 0, atol=1e-12)


def test_quadratic_two_decompositions_of_one_matrix():
    """z²: f = xᵀMx/N with M = Σ a w wᵀ; an eigen-decomposition and a rotated one give M, hence f."""
    rng = np.random.default_rng(0)
    V = rng.standard_normal((3, 3))
    M = V @ V.T
    lam, Q = np.linalg.eigh(M)
    R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    B = Q * np.sqrt(lam)  # M = B Bᵀ = (B R)(B R)ᵀ
    A1 = np.concatenate([np.ones((3, 1)), B.T], axis=1)
    A2 = np.concatenate([np.ones((3, 1)), (B @ R).T], axis=1)
    same, cert = same_function(A1, A2, "quadratic")
    assert same and cert["l2_distance_sq"] < 1e-12
    np.testing.assert_allclose(canonicalize(A1, "quadratic").moments[2], M / 3, atol=1e-12)
    assert not np.allclose(A1, A2)  # different parameters, one function


@given(measures, st.sampled_from(["relu", "erf", "gelu"]))
def test_distinct_random_measures_are_at_positive_distance(rng, act):
    a, b = _random_measure(rng, 3), _random_measure(rng, 3)
    same, cert = same_function(a, b, act)
    assert not same and cert["l2_distance_sq"] > 1e-6


def test_l2_distance_on_an_empirical_sample_matches_direct_evaluation():
    rng = np.random.default_rng(2)
    a, b, X = _random_measure(rng, 4), _random_measure(rng, 3), rng.standard_normal((500, 3))
    f = lambda th: special.erf(X @ th[:, 1:].T) @ th[:, 0] / len(th)  # noqa: E731
    assert l2_distance(a, b, "erf", rho=X) == pytest.approx(np.mean((f(a) - f(b)) ** 2), rel=1e-10)


def test_symmetry_table_matches_the_notes():
    s = {a: symmetry_structure(a) for a in ("relu", "erf", "gelu", "silu", "sigmoid", "quadratic")}
    assert s["relu"].homogeneity == 1 and s["relu"].odd.coefficients[1] == pytest.approx(0.5)
    assert s["erf"].even.kind == "zero" and s["erf"].odd.kind == "full" and s["erf"].homogeneity is None
    for a in ("gelu", "silu"):  # odd part ≡ z/2
        assert s[a].odd.kind == "poly" and s[a].odd.coefficients[1] == pytest.approx(0.5, abs=1e-8)
    assert s["sigmoid"].even.kind == "poly" and s["sigmoid"].even.coefficients[0] == pytest.approx(0.5)
    assert s["quadratic"].even.degrees == (2,) and s["quadratic"].homogeneity == 2


def test_jacobian_rank_is_parameters_minus_symmetries():
    relu = variety_depth("relu", 2, 2, D_max=4, trials=5)
    assert relu["expected_rank"] == 2 * 3 - 2 and relu["D_var"] == 2
    erf = variety_depth("erf", 2, 2, D_max=5, trials=5)
    assert erf["expected_rank"] == 6 and erf["D_var"] == 3
    quad = variety_depth("quadratic", 2, 3, D_max=4, trials=5)  # only M is identified: a rotation deficit
    assert quad["D_var"] is None and quad["rank_deficit_at_D_max"] == 1


def test_orbit_depth_finds_collisions_below_and_none_at_depth():
    r = orbit_depth("erf", 1, 2, D_max=3, restarts=4)
    lv = {lvl["D"]: lvl for lvl in r["levels"]}
    assert lv[1]["collision"] and lv[1]["separation"] >= 0.45  # Φ_1 sees only c·c_1(r)·u
    p1, p2 = (np.asarray(p) for p in lv[1]["collision_pair"])
    assert not np.allclose(p1, p2)
    assert r["D_orb"] == 3 and lv[3]["best_relative_gap"] > 1e-5


@pytest.mark.parametrize("name", ["relu", "erf", "tanh", "gelu", "silu", "sigmoid", "quadratic", "polynomial:0,0,0,-2",
                                  "polynomial:1,0,1"])
def test_declared_homogeneity_is_what_the_function_does(name):
    """The sparse bound reads the declared degree; the numerical classification of σ must agree with it."""
    from mflab.networks.activations import get_activation

    assert symmetry_structure(name).homogeneity == get_activation(name).homogeneity
