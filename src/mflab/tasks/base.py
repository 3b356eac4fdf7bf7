"""The task protocol and the dataset container.

Every task (:class:`Task`) has an input dimension ``d``, a ``name`` and
``dataset(key, n_train, n_test, label_noise) -> Dataset``. A *synthetic* task (:class:`SyntheticTask`:
parity, Hermite targets, teachers) is a frozen dataclass with ``inputs`` (``"hypercube"`` for
uniform {±1}^d or ``"gaussian"`` for N(0, I_d)), ``target(X)`` (the noiseless f*), ``target_power``
E[f*²], ``order_parameter(f, X)``, and exact population quantities where they exist; its dataset is
drawn from one explicit PRNG key (:func:`make_dataset`). A target made of single-direction atoms
(Hermite dictionaries, bias-free teachers) also lists them: ``atoms() -> [(b_j, v_j, atom_j)]``.
Tasks are built by name through :mod:`mflab.tasks.registry`.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from ..errors import ConfigError


class Dataset(NamedTuple):
    """Training and test sets of a task: inputs and labels (test labels noiseless, f*(X_test))."""

    X_train: jax.Array
    y_train: jax.Array
    X_test: jax.Array
    y_test: jax.Array  # noiseless targets f*(X_test)


@runtime_checkable
class Task(Protocol):
    """What every registered task provides (module docstring)."""

    name: str

    @property
    def d(self) -> int: ...

    def dataset(self, key, n_train: int, n_test: int, label_noise: float = 0.0) -> "Dataset": ...


class SyntheticTask:
    """Mixin of the synthetic tasks: the dataset is drawn from ``key`` (:func:`make_dataset`)."""

    def dataset(self, key, n_train: int, n_test: int, label_noise: float = 0.0) -> "Dataset":
        return make_dataset(self, key, n_train, n_test, label_noise)


def sample_inputs(key, inputs: str, n: int, d: int, dtype=None) -> jax.Array:
    """n inputs: uniform on {±1}^d (``"hypercube"``), N(0, I_d) (``"gaussian"``) or uniform on the sphere
    ‖x‖² = d (``"sphere"``: Gaussian draws rescaled to radius √d, so every input has the hypercube's norm)."""
    dtype = dtype or jnp.result_type(float)
    if inputs == "hypercube":
        return jax.random.rademacher(key, (n, d), dtype=dtype)
    if inputs == "gaussian":
        return jax.random.normal(key, (n, d), dtype=dtype)
    if inputs == "sphere":
        X = jax.random.normal(key, (n, d), dtype=dtype)
        return X / jnp.linalg.norm(X, axis=1, keepdims=True) * jnp.sqrt(jnp.asarray(d, dtype))
    raise ConfigError("inputs", f"unknown input distribution '{inputs}'", "use 'hypercube', 'gaussian' or 'sphere'")


def make_dataset(task, key, n_train: int, n_test: int, label_noise: float = 0.0) -> Dataset:
    """Train/test sets from one key: the train key and test key are split from ``key``.
    ``label_noise`` adds N(0, label_noise²) to training labels only."""
    for name, n in (("task.n_train", n_train), ("task.n_test", n_test)):
        if int(n) != n or n < 1:
            raise ConfigError(name, f"must be a positive integer, got {n!r}", "sample sizes count points")
    if label_noise < 0:
        raise ConfigError("label_noise", f"must be >= 0, got {label_noise}", "use 0 for noiseless labels")
    k_tr, k_te = jax.random.split(key)
    X_tr, y_tr = sample(task, k_tr, int(n_train), label_noise)
    X_te, y_te = sample(task, k_te, int(n_test))
    return Dataset(X_tr, y_tr, X_te, y_te)


def sample(task, key, n: int, label_noise: float = 0.0):
    """n labelled points (X, y) with y = f*(X) + N(0, label_noise²)."""
    k_x, k_noise = jax.random.split(key)
    X = sample_inputs(k_x, task.inputs, n, task.d)
    y = task.target(X)
    if label_noise > 0:
        y = y + label_noise * jax.random.normal(k_noise, y.shape, y.dtype)
    return X, y


def check_axis_atoms(n_atoms: int, d: int) -> int:
    """A target with one atom per coordinate axis e_j has 1..d atoms (``Teacher.on_axes``,
    ``HermiteDictionary.on_axes``)."""
    if not 1 <= n_atoms <= d:
        raise ConfigError("amplitudes", f"needs 1..d = {d} values (one atom per axis e_j), got {n_atoms}",
                          "give fewer amplitudes or raise d")
    return n_atoms


def check_support(support, d: int, k: int, field: str = "task.support") -> tuple[int, ...]:
    """Validate a support set S ⊂ {0..d-1} of size k (default: the first k coordinates)."""
    if int(d) != d or d < 1:
        raise ConfigError("d", f"must be a positive integer, got {d!r}", "e.g. d = 35")
    if int(k) != k or k < 1:
        raise ConfigError("k", f"must be a positive integer, got {k!r}", "e.g. k = 4")
    if k > d:
        raise ConfigError("k", f"k = {k} exceeds the input dimension d = {d}", "choose k <= d")
    S = tuple(range(k)) if support is None else tuple(int(i) for i in support)
    if len(S) != k or len(set(S)) != k or any(not 0 <= i < d for i in S):
        raise ConfigError(field, f"must be {k} distinct coordinates in [0, {d}), got {list(S)}",
                          "omit it to use the first k coordinates")
    return S
