"""Tasks: determinism, Walsh orthogonality, closed-form Hermite energies vs Monte-Carlo."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.errors import ConfigError
from mflab.networks import TwoLayer
from mflab.tasks import HermiteDictionary, SparseParity, Teacher, character, make_dataset, multi_index, single_index


def test_dataset_is_a_function_of_the_key():
    t = SparseParity(10, 3)
    a, b = make_dataset(t, jax.random.key(5), 50, 20), make_dataset(t, jax.random.key(5), 50, 20)
    c = make_dataset(t, jax.random.key(6), 50, 20)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.X_train, c.X_train)


def test_parity_characters_are_orthonormal():
    d = 6
    X = jnp.asarray(list(itertools.product((-1.0, 1.0), repeat=d)))
    sets = [(), (0,), (1, 2), (0, 2, 4), (0, 1, 2, 3)]
    G = np.array([[float(jnp.mean(character(X, A) * character(X, B))) for B in sets] for A in sets])
    assert np.allclose(G, np.eye(len(sets)))
    t = SparseParity(d, 3, (1, 3, 5))
    assert np.array_equal(t.target(X), X[:, 1] * X[:, 3] * X[:, 5])


@pytest.mark.parametrize("d,k,support", [(3, 4, None), (5, 0, None), (5, 2, (0, 0)), (5, 2, (0, 7))])
def test_bad_parity_settings(d, k, support):
    with pytest.raises(ConfigError):
        SparseParity(d, k, support)


def test_single_index_is_he_p():
    t = single_index(6, 2, 4, support=(1, 4))
    X = jax.random.normal(jax.random.key(0), (10, 6))
    z = np.asarray(X[:, 1] + X[:, 4]) / np.sqrt(2)
    ref = np.polynomial.hermite_e.hermeval(z, [0, 0, 0, 0, 1])
    assert np.allclose(t.target(X), ref, rtol=1e-4, atol=1e-4)
    assert t.target_power == pytest.approx(math.factorial(4))
    assert t.support == (1, 4)


def test_hermite_degree_energies_match_monte_carlo():
    """E_k = Σ b_j b_l c_jk c_lk (v_j·v_l)^k against Monte-Carlo projections on h_k for non-orthogonal atoms."""
    rng = np.random.default_rng(0)
    V = rng.normal(size=(3, 5))
    C = rng.normal(size=(3, 4)) * [1, 0.8, 0.5, 0.3]
    t = HermiteDictionary(V, C, np.array([1.0, -0.5, 0.7]))
    E = t.degree_energies()
    X = jax.random.normal(jax.random.key(1), (400_000, 5))
    y = np.asarray(t.target(X), dtype=np.float64)
    assert np.mean(y**2) == pytest.approx(E.sum(), rel=0.02)
    assert np.mean(y) == pytest.approx(np.sign(E[0]) * 0 + (C[:, 0] @ t.amplitudes), abs=0.01)
    assert E[0] == pytest.approx((C[:, 0] @ t.amplitudes) ** 2)


def test_multi_index_energies_are_per_direction():
    t = multi_index(8, [2, 3], support=(0, 5))
    assert np.allclose(t.degree_energies(), [0, 0, 2, 6])


def test_teacher_power_matches_monte_carlo():
    net = TwoLayer.create(8, "erf", "ntk", bias=True)
    t = Teacher.random(jax.random.key(2), net, 5)
    X = jax.random.normal(jax.random.key(3), (200_000, 5))
    assert float(jnp.mean(t.target(X) ** 2)) == pytest.approx(t.target_power, rel=0.02)


def test_parity_on_gaussian_inputs_is_refused():
    with pytest.raises(ConfigError, match="hypercube"):
        SparseParity(8, 2, inputs="gaussian")


def test_normalized_hermite_links_give_unit_target_power():
    from mflab.studies.bayes.sections import TaskConfig

    for name in ("single-index", "multi-index"):
        raw = TaskConfig(name=name, d=6, k=2, degree=4).build()
        unit = TaskConfig(name=name, d=6, k=2, degree=4, normalized=True).build()
        assert unit.target_power == pytest.approx(1.0 if name == "single-index" else 2.0)
        assert raw.target_power == pytest.approx(24 * unit.target_power)


def test_sphere_inputs_have_norm_sqrt_d_and_isotropic_moments():
    from mflab.tasks import sample_inputs

    d = 7
    X = np.asarray(sample_inputs(jax.random.key(0), "sphere", 20_000, d, jnp.float32))
    np.testing.assert_allclose((X ** 2).sum(1), d, rtol=1e-5)
    # uniform on the sphere of radius √d: E x = 0 and E x xᵀ = I (Monte-Carlo error ~ 1/√n)
    assert np.abs(X.mean(0)).max() < 0.04
    np.testing.assert_allclose(X.T @ X / len(X), np.eye(d), atol=0.05)
    with pytest.raises(ConfigError, match="sphere"):
        sample_inputs(jax.random.key(0), "ball", 3, d)
