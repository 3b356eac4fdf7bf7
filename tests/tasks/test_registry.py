"""The task registry: every built-in task by name, the Task protocol, one-line errors, a user task."""
from dataclasses import dataclass

import jax
import numpy as np
import pytest

from mflab.errors import ConfigError
from mflab.tasks import (Dataset, HermiteDictionary, SparseParity, Task, Teacher, build_task, check_task_name,
                         register_task, task_names)
from mflab.tasks.registry import unregister_task


def test_every_registered_synthetic_task_follows_the_protocol_and_draws_from_its_key():
    params = dict(d=6, k=2, degree=3, amplitudes=[1.0, 0.5], degrees=[1, 3], activation="erf")
    for name in ("parity", "single-index", "multi-index", "hermite", "teacher"):
        task = build_task(name, None, "task.name", **params)  # parameters a task does not take are ignored
        assert isinstance(task, Task) and task.d == 6
        a, b = task.dataset(jax.random.key(0), 20, 10), task.dataset(jax.random.key(0), 20, 10)
        assert isinstance(a, Dataset) and a.X_train.shape == (20, 6)
        np.testing.assert_array_equal(a.y_train, b.y_train)
        np.testing.assert_allclose(a.y_test, task.target(a.X_test), rtol=1e-6)
    assert build_task("parity", d=6, k=2) == SparseParity(6, 2)


def test_atoms_on_the_axes_and_their_decomposition():
    h = build_task("hermite", d=4, degrees=[1, 3], amplitudes=[1.0, 0.5])
    assert isinstance(h, HermiteDictionary) and [b for b, _, _ in h.atoms()] == [1.0, 0.5]
    np.testing.assert_array_equal(h.atoms()[1][1], [0, 1, 0, 0])
    X = jax.random.normal(jax.random.key(1), (50, 4))
    np.testing.assert_allclose(sum(atom.target(X) for _, _, atom in h.atoms()), h.target(X), rtol=1e-5, atol=1e-6)
    t = build_task("teacher", d=4, amplitudes=[1.0, -0.5], activation="relu")
    assert isinstance(t, Teacher)
    np.testing.assert_allclose(sum(atom.target(X) for _, _, atom in t.atoms()), t.target(X), rtol=1e-5, atol=1e-6)
    rand = build_task("teacher", d=4, activation="tanh", width=3, key=jax.random.key(2))
    assert rand.params.W.shape == (3, 4)


def test_bad_names_and_parameters_get_one_line_errors():
    with pytest.raises(ConfigError, match=r"task\.name.*unknown task 'parityy'.*parity"):
        check_task_name("parityy")
    with pytest.raises(ConfigError, match=r"tasks\[1\].*does not run it.*digits"):
        check_task_name("parity", ("digits", "teacher"), "tasks[1]")
    with pytest.raises(ConfigError, match="amplitudes"):
        build_task("hermite", d=2, degrees=[1, 1, 1], amplitudes=[1, 1, 1])
    with pytest.raises(ConfigError, match="degrees"):
        build_task("hermite", d=4, degrees=[1], amplitudes=[1, 1])
    with pytest.raises(ConfigError, match="width and a key"):
        build_task("teacher", d=4, activation="tanh")


def test_a_user_task_is_one_register_call():
    @dataclass(frozen=True)
    class Constant:
        d: int
        name: str = "constant"

        def dataset(self, key, n_train, n_test, label_noise=0.0):
            X = jax.random.normal(key, (n_train + n_test, self.d))
            y = np.ones(n_train + n_test, np.float32)
            return Dataset(X[:n_train], y[:n_train], X[n_train:], y[n_train:])

    try:
        register_task("constant", lambda d: Constant(d), "y = 1")
        assert "constant" in task_names()
        assert build_task("constant", d=3, k=9).dataset(jax.random.key(0), 4, 2).X_test.shape == (2, 3)
    finally:
        unregister_task("constant")
    assert "constant" not in task_names()
