"""The exact readout draw: its conditional against a numpy closed form, its draws' law, and its composition with
the kinetic and SGLD kernels (what a draw keeps, refreshes and recomputes; the law of the composed chain)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.dynamics import (KineticHyper, TrainData, constant, draw_readout, guard, kinetic_langevin, mse_objective,
                            network_posterior_kernel, posterior_hyper, readout_conditional, run_chains, stack_chains,
                            with_readout_gibbs)
from mflab.dynamics.network_posterior import check_readout_gibbs
from mflab.dynamics.runner import advance
from mflab.errors import ConfigError
from mflab.networks import TwoLayer


def _problem(N=6, d=3, P=12, T=0.05, seed=0):
    """A tanh net with hidden and output biases and unequal point weights, and the numpy precision and mean of its
    readout u = (a, c) given (W, b): Λ = (2/T) Φᵀ diag(ω) Φ + diag(1/σ²), mean = Λ⁻¹ (2/T) Φᵀ diag(ω) y."""
    net = TwoLayer.create(N, "tanh", "ntk", sigma_a=1.5, sigma_c=0.7, bias=True, output_bias=True)
    kx, ky, kw, kp = jax.random.split(jax.random.key(seed), 4)
    X = jax.random.normal(kx, (P, d))
    y = jnp.sin(X[:, 0]) + 0.1 * jax.random.normal(ky, (P,))
    w = jax.random.uniform(kw, (P,)) + 0.5
    data = TrainData(X, y, w / w.sum())
    params = net.init(kp, d)
    s = N**-0.5
    Xn, Wn, bn = (np.asarray(v, np.float64) for v in (X, params.W, params.b))
    Phi = np.concatenate([s * np.tanh(Xn @ Wn.T + bn), np.ones((P, 1))], axis=1)
    om = np.asarray(data.weights, np.float64)
    Lam = 2 / T * Phi.T @ (om[:, None] * Phi) + np.diag([1 / 1.5**2] * N + [1 / 0.7**2])
    mu = np.linalg.solve(Lam, 2 / T * Phi.T @ (om * np.asarray(y, np.float64)))
    return net, data, params, T, mu, Lam


def test_readout_conditional_is_the_closed_form_gaussian():
    net, data, params, T, mu, Lam = _problem()
    mean, R = readout_conditional(net, params, data, T, net.prior_variances(3))
    R = np.asarray(R, np.float64)
    np.testing.assert_allclose(np.asarray(mean), mu, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(R @ R.T, Lam, rtol=1e-4, atol=1e-3)


def test_draws_have_the_conditional_law_and_leave_the_first_layer_alone():
    """4·10⁴ draws, whitened by the exact precision: mean 0 and covariance I within Monte-Carlo error."""
    net, data, params, T, mu, Lam = _problem()
    n = 40_000
    draws = jax.vmap(lambda k: draw_readout(net, params, data, T, net.prior_variances(3), k))(
        jax.random.split(jax.random.key(1), n))
    assert np.all(np.asarray(draws.W) == np.asarray(params.W)[None]) and np.all(np.asarray(draws.b) == np.asarray(params.b)[None])
    U = np.concatenate([np.asarray(draws.a, np.float64), np.asarray(draws.c, np.float64)[:, None]], axis=1)
    Z = (U - mu) @ np.linalg.cholesky(Lam)  # ~ N(0, I) when U ~ N(mu, Λ⁻¹)
    assert np.all(np.abs(Z.mean(0)) < 5 / np.sqrt(n)), Z.mean(0)
    assert np.abs(np.cov(Z.T) - np.eye(Z.shape[1])).max() < 6 * np.sqrt(2 / n)


def _kinetic(net, d):
    var, mult = net.prior_variances(d), net.lr_multipliers()
    return kinetic_langevin(mse_objective(net), var, constant(), mult), var, mult


def test_a_due_draw_keeps_the_first_layer_and_its_velocity_refreshes_the_readout_and_recomputes_the_gradient():
    net, data, params, T, *_ = _problem()
    inner, var, mult = _kinetic(net, 3)
    every = 3
    kern = with_readout_gibbs(inner, net, var, every, mult)
    hyper = KineticHyper(jnp.asarray(T), jnp.asarray(1e-3), jnp.asarray(0.5))
    state = inner.init(params, data, None, T)
    key = jax.random.key(4)
    for t in range(every):
        k_step = jax.random.split(jax.random.fold_in(key, t))[0]
        plain, _ = inner.step(state, k_step, hyper, data)
        state, _ = kern.step(state, jax.random.fold_in(key, t), hyper, data)
        if t < every - 1:  # not due: exactly the inner step
            assert all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(plain)))
    assert int(state.step) == every
    np.testing.assert_array_equal(state.params.W, plain.params.W)
    np.testing.assert_array_equal(state.velocity.W, plain.velocity.W)
    np.testing.assert_array_equal(state.velocity.b, plain.velocity.b)
    assert not np.allclose(state.params.a, plain.params.a) and not np.allclose(state.velocity.a, plain.velocity.a)
    loss, g = mse_objective(net)(state.params, data, None)
    np.testing.assert_allclose(state.loss, loss, rtol=1e-5)
    np.testing.assert_allclose(state.grad.W, g.W + (T / var.W) * state.params.W, rtol=1e-4, atol=1e-6)


def test_the_draw_is_clocked_by_the_runner_and_stays_a_branch_under_vmap():
    """The composed kernel reads whether a draw is due from the step index the runner passes (the same for every
    chain): the chains are those of the state's own step count (to float rounding: a cond and a select compile
    differently), and under a vmap over chains the draw is still a ``cond`` (a per-chain predicate would make it
    a select that draws at every step)."""
    net, data, params, T, *_ = _problem()
    inner, var, mult = _kinetic(net, 3)
    kern = guard(with_readout_gibbs(inner, net, var, 4, mult))
    assert kern.clocked
    unclocked = kern._replace(clocked=False)  # the same step, due read from the state's step count
    hyper = KineticHyper(jnp.asarray(T), jnp.asarray(1e-3), jnp.asarray(0.5))
    C = 3
    states = jax.vmap(lambda k: kern.init(net.init(k, 3), data, None, T))(jax.random.split(jax.random.key(2), C))
    keys, hypers, datas = jax.random.split(jax.random.key(3), C), stack_chains(hyper, C), stack_chains(data, C)
    runs = [run_chains(k, states, keys, hypers, datas, n_steps=24, log_every=6, chunk_steps=12, chain_batch=C,
                       observe=lambda p, dat: {"a": p.a}) for k in (kern, unclocked)]
    for x, y in zip(jax.tree_util.tree_leaves(runs[0].states), jax.tree_util.tree_leaves(runs[1].states)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(runs[0].states.params.a, states.params.a)

    def branches(kernel):  # does the runner's vmapped loop keep a cond (the draw) anywhere inside?
        loop = jax.vmap(lambda s, k: advance(kernel, s, k, hyper, data, 4))
        return " cond[" in str(jax.make_jaxpr(loop)(states, keys))

    assert branches(kern) and not branches(unclocked)


def _moments(kernel, hyper, net, data, d, C, steps, key):
    states = jax.vmap(lambda k: kernel.init(net.init(k, d), data, None, hyper.temperature))(jax.random.split(key, C))
    res = run_chains(kernel, states, jax.random.split(jax.random.fold_in(key, 1), C), stack_chains(hyper, C),
                     stack_chains(data, C), n_steps=steps, log_every=25, chunk_steps=steps, chain_batch=C,
                     observe=lambda p, dat: {"f": net.apply(p, dat.X[:4]), "w2": jnp.mean(p.W**2), "a2": jnp.mean(p.a**2)})
    keep = res.trace.steps > steps // 2
    return {k: np.asarray(v)[:, keep].reshape(C * int(keep.sum()), -1) for k, v in res.trace.values.items()}


@pytest.mark.parametrize("sampler", ["kinetic", pytest.param("sgld", marks=pytest.mark.slow)])
def test_the_composed_chain_samples_the_same_posterior_as_the_plain_sampler(sampler):
    """On a small tanh network posterior (N = 6, P = 12), chains with a readout draw every 5 steps and plain chains
    agree on E f at four inputs, E|W|² and E a² within Monte-Carlo error (s.e. over 48 chains per sampler). A draw
    from a wrong conditional (e.g. the precision's 2/T as 1/T doubles the readout's variance) fails here."""
    net, data, _, T, *_ = _problem(T=0.1)
    C, steps, lr = 48, 3000, 1e-2
    out = []
    for every in (None, 5):
        kern = network_posterior_kernel(net, 3, sampler=sampler, readout_gibbs_every=every)
        hyper = jax.tree_util.tree_map(lambda x: x[0], posterior_hyper(sampler, net, 3, jnp.full(1, T), lr))
        out.append(_moments(kern, hyper, net, data, 3, C, steps, jax.random.key(11)))
    for k in ("f", "w2", "a2"):
        (x, y) = (o[k].reshape(C, -1, o[k].shape[-1]).mean(1) for o in out)  # per-chain means: independent
        se = np.sqrt(x.var(0, ddof=1) / C + y.var(0, ddof=1) / C)
        assert np.all(np.abs(x.mean(0) - y.mean(0)) < 4 * se + 1e-6), (k, x.mean(0), y.mean(0), se)


def test_bad_readout_draw_settings_get_one_line():
    net = TwoLayer.create(8, "relu", "ntk")
    for every in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="readout_gibbs_every"):
            network_posterior_kernel(net, 3, readout_gibbs_every=every)
        inner, var, mult = _kinetic(net, 3)
        with pytest.raises(ConfigError, match="readout_gibbs_every"):  # the same line for a library caller
            with_readout_gibbs(inner, net, var, every, mult)
    with pytest.raises(ConfigError, match="coupled"):
        network_posterior_kernel(net, 3, noise="coupled", readout_gibbs_every=5)
    with pytest.raises(ConfigError, match="frozen"):  # a parametrization whose readout multiplier is 0
        check_readout_gibbs(5, net, "independent", net.lr_multipliers()._replace(a=0.0))


def test_a_singular_readout_precision_freezes_the_chain_through_the_guard():
    """A non-finite factor (here forced by a NaN temperature in the draw) is a divergence: the guard keeps the last
    finite state and records it, as for any diverging step."""
    net, data, params, T, *_ = _problem()
    inner, var, mult = _kinetic(net, 3)
    kern = guard(with_readout_gibbs(inner, net, var, 1, mult))
    state = kern.init(params, data, None, T)
    hyper = KineticHyper(jnp.asarray(jnp.nan), jnp.asarray(1e-3), jnp.asarray(0.5))
    new, _ = kern.step(state, jax.random.key(0), hyper, data)
    assert not bool(new.alive) and int(new.diverged_at) == 0
    np.testing.assert_array_equal(new.params.a, params.a)
