"""Sparse-dictionary decomposition: the coefficient-threshold bound, Frank–Wolfe on the TV problem,
and atom extraction from particle clouds with planted atoms."""
import jax.numpy as jnp
import numpy as np

from mflab.analysis.sparse_atoms import extract_atoms
from mflab.networks.two_layer import TwoLayer, TwoLayerParams
from mflab.tasks.teacher import Teacher
from mflab.theory.sparse_bound import frank_wolfe, s_up_closed_form


def _relu_teacher(b, d=4):
    return Teacher(TwoLayer.create(len(b), "relu", "standard"), TwoLayerParams(jnp.eye(d)[:len(b)], jnp.asarray(b)))


def test_relu_thresholds_are_half_the_amplitudes():
    """E[relu(z) relu(r z)] = r/2 for z ~ N(0,1), so A_j = max_r |b_j| r/2 / r = |b_j|/2."""
    T = _relu_teacher([1.0, -0.6, 0.3])
    r = s_up_closed_form("relu", T, 0.2)
    np.testing.assert_allclose(r["thresholds"], [0.5, 0.3, 0.15], rtol=1e-5)
    assert r["S_up"] == 2 and s_up_closed_form("relu", T, 0.01)["S_up"] == 3


def test_frank_wolfe_recovers_a_two_atom_teacher_at_small_lambda():
    T = _relu_teacher([1.0, 0.7], d=3)
    fw = frank_wolfe("relu", T, 0.02, starts=4)
    assert fw["S_star"] == 2 and fw["certificate"] <= 1.01
    U = np.asarray(fw["directions"])
    U = U / np.linalg.norm(U, axis=1, keepdims=True)
    assert np.sort(np.max(np.abs(U @ np.eye(3)[:2].T), axis=0)).min() > 0.99
    amps = np.sort(np.asarray(fw["amplitudes"]) * np.linalg.norm(fw["directions"], axis=1))
    np.testing.assert_allclose(amps, [0.7, 1.0], atol=0.08)  # soft-thresholded by ≈ λ/A


def test_atoms_of_a_cloud_with_planted_clusters():
    rng = np.random.default_rng(0)
    d, per = 4, 60
    V = np.eye(d)[:3]
    amps = np.array([1.5, -0.8, 0.5])
    parts = []
    for v, A in zip(V, amps):  # each atom: `per` particles near v whose amplitudes sum to A (mean-field weights 1/N)
        W = v + 0.01 * rng.standard_normal((per, d))
        parts.append(np.concatenate([np.full((per, 1), A), W], axis=1))
    bulk = np.concatenate([1e-4 * rng.standard_normal((40, 1)), rng.standard_normal((40, d))], axis=1)
    theta = np.concatenate(parts + [bulk])
    weights = np.concatenate([np.full(3 * per, 1.0 / per), np.full(40, 1.0 / 40)])
    T = Teacher(TwoLayer.create(3, "relu", "standard"), TwoLayerParams(jnp.asarray(V), jnp.asarray(amps)))
    ex = extract_atoms(theta, "relu", T, weights=weights)
    assert ex["S_hat"] == 3
    assert min(m["abs_cos"] for m in ex["matching"]) > 0.999
    np.testing.assert_allclose(np.sort(ex["amplitudes"]), np.sort(amps), atol=0.02)
    assert ex["sparse_residual"] < 1e-3 and ex["target_residual"] < 1e-3
