"""The error decomposition's Gram matrix against Monte Carlo, its exact closure, the Hermite tail,
and the learning-cell command."""
import json

import jax
import numpy as np
import pytest
from cli_runner import mflab

from mflab.analysis.error_decomposition import COMPONENTS, decomposition_table, function_gram, hermite_tail
from mflab.tasks.hermite import HermiteDictionary


def _target():
    C = np.zeros((3, 4))
    C[0, 1], C[1, 3], C[2, 2] = 1.0, 1.0, 1.0
    return HermiteDictionary(np.eye(4)[:3], C, np.array([1.0, 0.5, 0.3]))


def test_function_gram_matches_monte_carlo_and_the_table_closes():
    rng = np.random.default_rng(0)
    clouds = [rng.standard_normal((n, 5)) for n in (6, 9, 9, 12)]
    f_star = _target()
    G = function_gram("erf", clouds, f_star)
    X = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (400_000, 4)))
    from scipy.special import erf

    F = np.stack([erf(X @ th[:, 1:].T) @ th[:, 0] / len(th) for th in clouds] + [np.asarray(f_star.target(X))])
    G_mc = F @ F.T / len(X)
    se = np.sqrt(np.var(F[:, None, :] * F[None, :, :], axis=-1) / len(X))
    assert np.all(np.abs(G - G_mc) < 5 * se + 1e-6), np.max(np.abs(G - G_mc) / (se + 1e-12))
    t = decomposition_table(G)
    assert abs(t["closure_error"]) < 1e-10 * t["total"]
    assert t["total"] == pytest.approx(np.mean((F[0] - F[4]) ** 2), rel=0.02)
    assert all(t[c] >= 0 for c in COMPONENTS)


def test_hermite_tail_of_an_odd_activation_is_the_even_energy():
    tail = hermite_tail("erf", _target())
    assert tail["unrealizable_degrees"] == [0, 2] and tail["unrealizable"] == pytest.approx(0.09)
    assert tail["realizable"] == pytest.approx(1.0 + 0.25)
    assert hermite_tail("relu", _target())["unrealizable"] == pytest.approx(0.25)  # relu has no odd degree ≥ 3


def test_learning_cell_command(tmp_path):
    r = mflab("cell", "--activation", "relu", "--amplitudes", "1,0.6", "--d", "3", "--lam", "0.1",
              "--orbit-restarts", "2", "--d-max", "3")
    assert r.returncode == 0, r.stderr
    cell = json.loads(r.stdout)
    assert cell["S_star"] == 2 and cell["S_up"] == 2 and cell["D_var"] == 2
    assert cell["D_orb"] is None or cell["D_orb"] >= cell["D_var"]  # separating all orbits needs ≥ generic depth
    assert cell["w_star"]["gaussian_weight"] == pytest.approx(0.5, rel=0.05) and cell["w_star"]["admissible"]
    r = mflab("cell", "--init", "student-t", "--dof", "2", "--amplitudes", "1", "--d", "2", "--orbit-restarts", "1",
              "--d-max", "2")
    assert r.returncode == 0 and not json.loads(r.stdout)["w_star"]["admissible"]
    for args, needle in ((["--target", "hermit"], "did you mean 'hermite'"), (["--init", "cauchy"], "init.family"),
                         (["--amplitudes", "1,2,3", "--d", "2"], "amplitudes"), (["--rho", "uniform"], "rho"),
                         (["--target", "hermite", "--degrees", "1"], "degrees")):
        r = mflab("cell", *args)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr
