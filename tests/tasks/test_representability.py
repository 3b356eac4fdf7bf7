"""tasks.representability: a task a network cannot overlap at all is refused, in one line. The reference is
independent of the Hermite bookkeeping: the overlap E[f* · φ(w·x)] estimated by quadrature / Monte Carlo."""
import math

import jax.numpy as jnp
import numpy as np
import pytest

from mflab.errors import ConfigError
from mflab.networks.activations import get_activation
from mflab.tasks.registry import build_task
from mflab.tasks.representability import check_representable, hermite_degrees

REFUSED = [("parity", dict(d=8, k=3), "relu", False, "task.k"), ("parity", dict(d=8, k=3), "gelu", False, "task.k"),
           ("parity", dict(d=8, k=3), "silu", False, "task.k"), ("parity", dict(d=8, k=3), "quadratic", True, "task.k"),
           ("parity", dict(d=8, k=4), "erf", False, "task.k"), ("parity", dict(d=8, k=2), "tanh", False, "task.k"),
           ("single-index", dict(d=8, k=1, degree=2), "erf", False, "task.degree"),
           ("single-index", dict(d=8, k=1, degree=3), "relu", False, "task.degree"),
           ("single-index", dict(d=8, k=1, degree=4), "quadratic", True, "task.degree")]
ACCEPTED = [("parity", dict(d=8, k=4), "relu", False), ("parity", dict(d=8, k=3), "relu", True),
            ("parity", dict(d=8, k=3), "erf", False), ("parity", dict(d=8, k=2), "quadratic", False),
            ("single-index", dict(d=8, k=1, degree=4), "relu", False), ("single-index", dict(d=8, k=1, degree=3), "erf", False),
            ("single-index", dict(d=8, k=1, degree=2), "erf", True), ("parity", dict(d=30, k=24), "relu", False)]


@pytest.mark.parametrize("name, kw, act, bias, field", REFUSED)
def test_refused_in_one_line(name, kw, act, bias, field):
    with pytest.raises(ConfigError) as e:
        check_representable(build_task(name, None, "task.name", **kw), act, bias)
    assert e.value.field == field and "\n" not in str(e.value) and "fix:" in str(e.value)


@pytest.mark.parametrize("name, kw, act, bias", ACCEPTED)
def test_accepted(name, kw, act, bias):
    check_representable(build_task(name, None, "task.name", **kw), act, bias)


@pytest.mark.parametrize("act, k", [("relu", 3), ("gelu", 3), ("erf", 4), ("erf", 2)])
def test_refused_parities_have_zero_overlap_for_every_neuron(act, k):
    """Exact check on the hypercube {±1}^k: E_x[φ(w·x) χ_S(x)] over all 2^k points is 0 (to round-off) for
    random bias-free neurons, while the accepted neighbour k+1 is not."""
    phi = get_activation(act).fn
    rng = np.random.default_rng(0)
    for kk, zero in ((k, True), (k + 1, False)):
        X = np.array(np.meshgrid(*[[-1.0, 1.0]] * kk)).reshape(kk, -1).T
        chi = np.prod(X, axis=1)
        W = rng.standard_normal((64, kk))
        ov = np.abs(np.asarray(phi(jnp.asarray(X @ W.T))).T @ chi / len(X))
        assert (ov.max() < 1e-6) == zero, (act, kk, ov.max())


def test_hermite_degrees_match_quadrature_projection():
    """The degrees found equal those where E[φ(z) He_k(z)]/√k! is visibly nonzero by a 120-node Gauss–Hermite rule."""
    z, w = np.polynomial.hermite_e.hermegauss(120)
    w = w / w.sum()
    for act in ("relu", "erf", "gelu", "sigmoid", "quadratic"):
        phi = np.asarray(get_activation(act).fn(jnp.asarray(z)))
        proj = [abs(np.sum(w * phi * np.polynomial.hermite_e.hermeval(z, [0] * k + [1]))) / np.sqrt(math.factorial(k))
                for k in range(9)]
        direct = {k for k, p in enumerate(proj) if p > 1e-6 * max(proj)}
        assert {k for k in hermite_degrees(act) if k <= 8} == direct, act


def test_studies_refuse_it_up_front():
    from mflab.cli import build_config

    with pytest.raises(ConfigError, match="cannot represent a target of Hermite degree"):
        build_config("hermite-index", True, ['task.name="single-index"', "task.degree=2", 'network.activation="erf"',
                                                  "network.bias=false"])
