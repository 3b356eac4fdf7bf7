"""The hand-written two-layer gradient against jax.grad, and the parametrization tables."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mflab.conventions import PARAMETRIZATIONS, temperature
from mflab.errors import ConfigError
from mflab.networks import ACTIVATIONS, TwoLayer


@given(st.sampled_from(sorted(ACTIVATIONS)), st.booleans(), st.booleans(), st.integers(1, 6), st.integers(1, 9),
       st.sampled_from(sorted(PARAMETRIZATIONS)), st.integers(0, 1000))
def test_hand_gradient_matches_autodiff(act, bias, output_bias, d, P, par, seed):
    net = TwoLayer.create(7, act, par, bias=bias, output_bias=output_bias)
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    p = net.init(k1, d)
    X = jax.random.normal(k2, (P, d))
    y = jax.random.normal(k3, (P,))
    w = jax.random.uniform(k4, (P,))
    w = w / w.sum()
    loss, g = net.mse_value_and_grad(p, X, y, w)
    ref_loss, ref_g = jax.value_and_grad(lambda q: jnp.sum(w * (net.apply(q, X) - y) ** 2))(p)
    assert np.allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(ref_g)):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives(name):
    act = ACTIVATIONS[name]
    z = jnp.linspace(-3, 3, 41) + 0.013  # avoid ReLU's kink
    assert np.allclose(act.deriv(z), jax.vmap(jax.grad(act.fn))(z), atol=1e-5)


def test_apply_matches_numpy():
    net = TwoLayer.create(5, "relu", "ntk", bias=True)
    p = net.init(jax.random.key(0), 3)
    X = np.random.default_rng(0).normal(size=(4, 3))
    W, a, b = (np.asarray(t) for t in p[:3])
    ref = np.maximum(X @ W.T + b, 0) @ a / np.sqrt(5)
    assert p.c is None
    assert np.allclose(net.apply(p, jnp.asarray(X, jnp.float32)), ref, atol=1e-5)
    with_c = TwoLayer.create(5, "relu", "ntk", bias=True, output_bias=True, sigma_c=2.0)
    q = with_c.init(jax.random.key(0), 3)
    assert q.c.shape == () and with_c.prior_variances(3).c == 4.0
    assert np.allclose(with_c.apply(q, jnp.asarray(X, jnp.float32)) - float(q.c),
                       with_c.apply(q._replace(c=None), jnp.asarray(X, jnp.float32)), atol=1e-6)


def test_parametrization_tables():
    N, d = 64, 10
    for name, gamma, a_var, mult in [("standard", 0.0, 1 / N, 1.0), ("ntk", 0.5, 1.0, 1.0), ("mup", 1.0, 1.0, N)]:
        net = TwoLayer.create(N, "relu", name, sigma_a=1.0, sigma_w=2.0)
        assert net.output_scale == pytest.approx(N**-gamma)
        var = net.prior_variances(d)
        assert var.W == pytest.approx(4.0 / d) and var.a == pytest.approx(a_var)
        assert net.lr_multipliers().W == pytest.approx(mult)
    assert TwoLayer.create(N, "relu", "ntk", gamma=0.75).output_scale == pytest.approx(N**-0.75)
    assert temperature(5e-3) == pytest.approx(5e-5)


def test_standard_and_ntk_share_the_function_distribution():
    """f's prior variance σ_a² E[φ²] is the same under 'standard' and 'ntk'."""
    X = jnp.ones((1, 4))
    fs = {}
    for name in ("standard", "ntk"):
        net = TwoLayer.create(256, "erf", name)
        keys = jax.random.split(jax.random.key(1), 4000)
        fs[name] = jax.vmap(lambda k: net.apply(net.init(k, 4), X)[0])(keys)
    assert float(jnp.var(fs["standard"])) == pytest.approx(float(jnp.var(fs["ntk"])), rel=0.1)


@pytest.mark.parametrize("kwargs,field", [({"width": 0}, "width"), ({"width": -3}, "width"),
                                          ({"width": 4, "sigma_a": -1.0}, "sigma_a"),
                                          ({"width": 4, "parametrization": "mupp"}, "parametrization"),
                                          ({"width": 4, "activation": "relux"}, "activation")])
def test_invalid_networks_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as e:
        TwoLayer.create(**kwargs)
    assert e.value.field == field


def test_a_user_activation_registers_by_name_and_declares_its_properties():
    from mflab.networks import Activation, get_activation, register_activation

    soft = register_activation(Activation("softplus-test", jax.nn.softplus, jax.nn.sigmoid))
    try:
        assert get_activation("softplus-test") is soft and soft.smooth and not soft.step_derivative
        net = TwoLayer.create(4, "softplus-test")
        assert net.apply(net.init(jax.random.key(0), 2), jnp.ones((3, 2))).shape == (3,)
        with pytest.raises(ConfigError, match="already registered"):
            register_activation(Activation("softplus-test", jnp.tanh, lambda x: 1 - jnp.tanh(x) ** 2))
    finally:
        ACTIVATIONS.pop("softplus-test")
    assert get_activation("relu").step_derivative and not get_activation("relu").smooth


@pytest.mark.parametrize("kwargs, field", [(dict(gamma=1e10), "gamma"), (dict(gamma=-20.0), "gamma"),
                                           (dict(gamma=float("nan")), "gamma"), (dict(sigma_w=1e300), "sigma_w"),
                                           (dict(sigma_a=float("inf")), "sigma_a")])
def test_nonsense_scales_are_refused_in_one_line(kwargs, field):
    """gamma = 1e10 made the output exactly 0 and sigma_w = 1e300 crashed (issue 18, fuzzer)."""
    from mflab.errors import ConfigError
    from mflab.networks import TwoLayer

    with pytest.raises(ConfigError) as e:
        TwoLayer.create(512, "relu", "ntk", **kwargs)
    assert e.value.field == field and "\n" not in str(e.value)
    TwoLayer.create(512, "relu", "ntk", gamma=1.0, sigma_w=100.0)  # ordinary values pass
