"""The Bayesian studies' figure helpers."""
import numpy as np

from mflab.studies.bayes.plots import target_basis, weight_marginals
from mflab.tasks.hermite import single_index


def test_target_basis_puts_the_index_direction_first_and_is_orthonormal():
    task = single_index(6, 2, 4)
    Q = target_basis(task.directions, 6)
    assert np.allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    assert np.isclose(abs(Q[:, 0] @ task.directions[0]), 1.0)
    # a neuron along w* has all its weight on the first basis direction, none on the (e1 − e2)/√2 direction
    # that a coordinate-wise view would call "relevant"
    w = 2.0 * task.directions[0]
    assert np.allclose(np.abs(w @ Q), [2.0, 0, 0, 0, 0, 0], atol=1e-12)


def test_weight_marginals_in_the_target_basis_draws_with_labels():
    task = single_index(6, 2, 4)
    W = np.random.default_rng(0).normal(size=(32, 6))
    fig = weight_marginals({"sgld": W}, task.support, "P=10", task.directions)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["along w*", "orthogonal to w*"] and len(fig.axes) == 3  # histogram, map, colorbar
