r"""The one registry of tasks, by name: every study and the CLI build their tasks here.

Each entry is a builder with keyword parameters; :func:`build_task` passes it the parameters it
takes and ignores the rest (a study's task section carries the fields of all its tasks: ``degree``
means nothing to parity). A study declares which registered names it can run (``accepts`` of
:func:`check_task_name`); a new task is one :func:`register_task` call.

==============  ==============================================  =============================
name            task                                            parameters
==============  ==============================================  =============================
parity          χ_S(x) on {±1}^d                                d, k, support
single-index    He_p(v·x), v = k^{-1/2} 1_S                      d, k, degree, support, normalized
multi-index     Σ_j He_{p_j}(x_{S_j})                            d, k, degrees | degree, support, normalized
hermite         Σ_j b_j h_{k_j}(x_j)                             d, degrees, amplitudes, name
teacher         Σ_j a_j σ(x_j), or a random two-layer teacher     d, activation, amplitudes | width + key, name
digits          scikit-learn's 8×8 digits (one-hot regression)  seed
==============  ==============================================  =============================
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError, suggest
from .base import Task


@dataclass(frozen=True)
class TaskEntry:
    """A task the registry can build by name: its builder (whose parameters are the config's fields) and a
    one-line summary."""

    name: str
    build: Callable[..., Task]
    summary: str

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.build).parameters)


_REGISTRY: dict[str, TaskEntry] = {}


def register_task(name: str, build: Callable[..., Task], summary: str) -> TaskEntry:
    """Add (or replace) the task ``name``, built by ``build(**parameters)``."""
    _REGISTRY[name] = TaskEntry(name, build, summary)
    return _REGISTRY[name]


def unregister_task(name: str) -> None:
    """Remove the task ``name`` (a user task registered for one session or test)."""
    _REGISTRY.pop(name, None)


def task_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def check_task_name(name: str, accepts=None, field: str = "task.name") -> TaskEntry:
    """The entry of ``name``; one-line errors for a name nobody registered or one the study does not run."""
    if name not in _REGISTRY:
        raise ConfigError(field, f"unknown task '{name}'", suggest(name, tuple(accepts or _REGISTRY)))
    if accepts is not None and name not in accepts:
        raise ConfigError(field, f"task '{name}' is registered but this study does not run it",
                          f"choose from {list(accepts)}")
    return _REGISTRY[name]


def build_task(task_name: str, accepts=None, field: str = "task.name", /, **parameters) -> Task:
    """The registered task ``task_name`` built from the parameters its builder takes (module docstring);
    ``accepts`` the names the calling study runs, ``field`` the config field that named the task.

    >>> import jax
    >>> task = build_task("single-index", d=8, k=2, degree=3, amplitudes=[1.0])  # amplitudes: not its parameter
    >>> task.name, task.dataset(jax.random.key(0), n_train=100, n_test=50).X_train.shape
    ('single-index', (100, 8))
    """
    entry = check_task_name(task_name, accepts, field)
    return entry.build(**{k: v for k, v in parameters.items() if k in entry.parameters})


def _parity(d, k, support=None):
    from .parity import SparseParity

    return SparseParity(d, k, None if support is None else tuple(support))


def _single_index(d, k, degree, support=None, normalized=False):
    from .hermite import single_index

    return single_index(d, k, degree, support, normalized)


def _multi_index(d, k, degree=None, degrees=None, support=None, normalized=False):
    from .hermite import multi_index

    degrees = degrees or [degree] * k
    if len(degrees) != k:
        raise ConfigError("degrees", f"needs k = {k} entries, got {len(degrees)}", "one degree per direction")
    return multi_index(d, degrees, support, normalized)


def _hermite(d, degrees, amplitudes, name="hermite"):
    from .hermite import HermiteDictionary

    return HermiteDictionary.on_axes(d, degrees, amplitudes, name)


def _teacher(d, activation, amplitudes=None, width=None, key=None, parametrization="ntk", name="teacher"):
    from ..networks.two_layer import TwoLayer
    from .teacher import Teacher

    if amplitudes is not None:
        return Teacher.on_axes(d, amplitudes, activation, name)
    if width is None or key is None:
        raise ConfigError("task", "a teacher needs amplitudes (atoms on the axes) or a width and a key (random)",
                          "give amplitudes, or width and key")
    return Teacher.random(key, TwoLayer.create(width, activation, parametrization), d)


def _digits(seed=0):
    from .digits import Digits

    return Digits(seed)


register_task("parity", _parity, "k-sparse parity χ_S(x) on the hypercube")
register_task("single-index", _single_index, "He_p(v·x) with v = k^{-1/2} 1_S, Gaussian inputs")
register_task("multi-index", _multi_index, "Σ_j He_{p_j}(x_{S_j}), Gaussian inputs")
register_task("hermite", _hermite, "Σ_j b_j h_{k_j}(x_j): normalised Hermite atoms on the axes")
register_task("teacher", _teacher, "a two-layer teacher: atoms a_j σ(x_j), or random")
register_task("digits", _digits, "scikit-learn's 8×8 digits as one-hot regression")
