"""The Langevin engine: exact Gaussian posterior, determinism, chunking, divergence, coupling."""
import jax
import jax.numpy as jnp
import numpy as np

from mflab.dynamics import Hyper, TrainData, constant, guard, langevin, masked_train_data, mse_objective, run_chains
from mflab.networks import TwoLayer


def _setup(C=4, N=6, d=3, P=8, seed=0, lr=1e-2, freeze_w=False, noise="independent"):
    net = TwoLayer.create(N, "tanh", "ntk")
    kx, ky = jax.random.split(jax.random.key(seed))
    X = jax.random.normal(kx, (P, d))
    y = jnp.sin(X[:, 0]) + 0.1 * jax.random.normal(ky, (P,))
    data = jax.tree_util.tree_map(lambda t: jnp.broadcast_to(t, (C,) + t.shape), TrainData(X, y, jnp.full((P,), 1 / P)))
    mult = net.lr_multipliers()._replace(W=0.0) if freeze_w else net.lr_multipliers()
    kern = guard(langevin(mse_objective(net), net.prior_variances(d), constant(), mult, noise))
    keys = jax.random.split(jax.random.key(seed + 1), C)
    W0 = net.init(jax.random.key(99), d).W
    states = jax.vmap(lambda k: kern.init(net.init(k, d)._replace(W=W0) if freeze_w else net.init(k, d)))(keys)
    return net, kern, states, keys, data, X, y


def test_sgld_samples_the_exact_gaussian_posterior_of_the_readout():
    """First layer frozen: the posterior of a is Gaussian with precision Λ = 2s²ΦᵀΦ/(TP) + I/σ_a² and
    mean Λ⁻¹ 2sΦᵀy/(TP). The Euler–Maruyama chain's stationary law is exactly N(μ, Λ⁻¹(I − ηTΛ/2)⁻¹);
    the SGLD sample mean and covariance must match it within Monte-Carlo error."""
    C, N, P, T, lr = 64, 6, 8, 0.05, 2e-2
    net, kern, states, keys, data, X, y = _setup(C=C, N=N, P=P, lr=lr, freeze_w=True)
    W0 = np.asarray(states.params.W[0], np.float64)
    s = N**-0.5
    Phi = np.tanh(np.asarray(X, np.float64) @ W0.T)
    Lam = 2 * s**2 * Phi.T @ Phi / (T * P) + np.eye(N)
    mu = np.linalg.solve(Lam, 2 * s * Phi.T @ np.asarray(y, np.float64) / (T * P))
    Sigma_post = np.linalg.inv(Lam)
    Sigma_ula = Sigma_post @ np.linalg.inv(np.eye(N) - lr * T * Lam / 2)
    # the chain mixes in ~1/(ηTλ_min) = 1000 steps; keep samples every 500 after 4000
    res = run_chains(kern, states, keys, Hyper(jnp.full(C, T), jnp.full(C, lr)), data, n_steps=24_000, log_every=500,
                     observe=lambda p, d: {"a": p.a}, chunk_steps=24_000)
    A = res.trace.values["a"][:, 8:, :].reshape(-1, N).astype(np.float64)  # (C·40, N)
    n_eff = C * 40 / 2  # conservative: neighbouring samples are correlated (lag 500 ≈ half a relaxation time)
    se_mean = np.sqrt(np.diag(Sigma_ula) / n_eff)
    assert np.all(np.abs(A.mean(0) - mu) < 5 * se_mean), (A.mean(0) - mu) / se_mean
    emp = np.cov(A.T)
    se_cov = np.sqrt((Sigma_ula**2 + np.outer(np.diag(Sigma_ula), np.diag(Sigma_ula))) / n_eff)
    assert np.all(np.abs(emp - Sigma_ula) < 5 * se_cov + 1e-12)
    # and the step size is small enough that this is the posterior to within 3%
    assert np.allclose(np.diag(Sigma_ula), np.diag(Sigma_post), rtol=0.03)


def test_same_seed_bit_identical_and_chunking_invariant():
    net, kern, states, keys, data, *_ = _setup()
    hyp = Hyper(jnp.full(4, 0.01), jnp.full(4, 1e-2))
    obs = lambda p, d: {"a0": p.a[0]}
    r1 = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, chunk_steps=400)
    r2 = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, chunk_steps=400)
    r3 = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, chunk_steps=100)
    half = run_chains(kern, states, keys, hyp, data, n_steps=200, log_every=50, observe=obs)
    resumed = run_chains(kern, half.states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, start_step=200,
                         trace=half.trace)
    for r in (r2, r3, resumed):
        assert np.array_equal(r1.states.params.W, r.states.params.W)
        assert np.array_equal(r1.trace.values["a0"], r.trace.values["a0"])
    r4 = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, chain_batch=4)
    assert np.allclose(r1.states.params.W, r4.states.params.W, atol=1e-5)  # vmap vs sequential: rounding only


def test_a_diverging_chain_stops_alone_and_keeps_its_history():
    net, kern, states, keys, data, *_ = _setup(C=3)
    hyp = Hyper(jnp.full(3, 1e-4), jnp.asarray([1e-2, 1e4, 1e-2]))  # chain 1: absurd step size
    msgs = []
    res = run_chains(kern, states, keys, hyp, data, n_steps=300, log_every=50, observe=lambda p, d: {"a2": jnp.sum(p.a**2)},
                     chunk_steps=100, log=msgs.append)
    alive = np.asarray(res.states.alive)
    assert alive.tolist() == [True, False, True]
    assert len(res.diverged) == 1 and res.diverged[0]["chain"] == 1 and res.diverged[0]["step"] >= 0
    assert any("chain 1 diverged" in m and "step size" in m for m in msgs)
    assert res.trace.values["a2"].shape == (3, 6)  # the whole history is kept ...
    assert np.all(np.isfinite(res.trace.values["a2"][[0, 2]]))  # ... and the healthy chains are untouched
    assert res.trace.values["alive"][1].tolist() == [False] * 6 and res.trace.values["alive"][0].all()
    assert res.steps_done == 300  # the others ran to the end


def test_all_chains_diverging_stops_early():
    net, kern, states, keys, data, *_ = _setup(C=2)
    res = run_chains(kern, states, keys, Hyper(jnp.full(2, 1e-4), jnp.full(2, 1e4)), data, n_steps=1000, log_every=50,
                     observe=lambda p, d: {}, chunk_steps=100, log=lambda m: None)
    # stops at the end of the first chunk in which every chain has diverged
    assert not np.asarray(res.states.alive).any() and res.steps_done == 100


def test_coupled_noise_is_shared_across_widths():
    """With noise='coupled' the Brownian increment of particle i does not depend on the width."""
    outs = {}
    for N in (4, 9):
        net = TwoLayer.create(N, "erf", "mup")
        kern = langevin(lambda p, d, k: (0.0, jax.tree_util.tree_map(jnp.zeros_like, p)), net.prior_variances(3)._replace(W=None, a=None),
                        constant(), None, noise="coupled")
        p = net.init(jax.random.key(0), 3)
        p = jax.tree_util.tree_map(jnp.zeros_like, p)
        new, _ = kern.step(kern.init(p), jax.random.key(7), Hyper(jnp.asarray(1.0), jnp.asarray(0.1)), None)
        outs[N] = new.params
    assert np.array_equal(outs[4].W, outs[9].W[:4]) and np.array_equal(outs[4].a, outs[9].a[:4])


def test_masking_equals_training_on_the_subset():
    net = TwoLayer.create(5, "relu", "ntk")
    X = jax.random.normal(jax.random.key(0), (10, 3))
    y = X[:, 0]
    p = net.init(jax.random.key(1), 3)
    l1, g1 = mse_objective(net)(p, masked_train_data(X, y, 6), None)
    l2, g2 = mse_objective(net)(p, TrainData(X[:6], y[:6], jnp.full((6,), 1 / 6)), None)
    assert np.allclose(l1, l2)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)))


def test_minibatch_gradient_is_unbiased():
    net = TwoLayer.create(5, "erf", "ntk")
    X = jax.random.normal(jax.random.key(0), (12, 3))
    data = TrainData(X, X[:, 1], jnp.full((12,), 1 / 12))
    p = net.init(jax.random.key(1), 3)
    full = mse_objective(net)(p, data, None)[1]
    mb = jax.vmap(lambda k: mse_objective(net, 4)(p, data, k)[1])(jax.random.split(jax.random.key(2), 20_000))
    assert np.allclose(jnp.mean(mb.a, 0), full.a, atol=0.02)


def test_frozen_leaves_do_not_move_and_divergence_names_the_right_leaf():
    """Leaf 0 frozen (multiplier 0), leaf 1 overflows: bad_leaf must be 1, the frozen leaf unchanged."""
    def grad_fn(params, data, key):
        return jnp.zeros(()), (jnp.ones(3), jnp.full(2, 3e38, jnp.float32))

    k = guard(langevin(grad_fn, (None, None), constant(), (0.0, 1.0), noise="none"))
    s = k.init((jnp.arange(3.0), jnp.full(2, 3e38, jnp.float32)))
    s, _ = k.step(s, jax.random.PRNGKey(0), Hyper(jnp.zeros(()), jnp.asarray(-1.0)), None)
    assert not bool(s.alive) and int(s.bad_leaf) == 1 and int(s.diverged_at) == 0
    np.testing.assert_array_equal(s.params[0], jnp.arange(3.0))


def test_summed_observables_equal_the_sum_of_the_logged_ones_across_chunks_and_resume():
    """A summed observable (the posterior mean of f without storing samples) is summed on the device over
    the logs at steps ≥ sum_from; it equals the host sum of the same observable logged per step, whatever
    the chunking, and a resumed trace carries its sums on."""
    from mflab.dynamics import Trace

    net, kern, states, keys, data, X, y = _setup()
    hyp = Hyper(jnp.full(4, 0.01), jnp.full(4, 1e-2))
    obs = lambda p, d: {"f": net.apply(p, X), "a0": p.a[0]}  # noqa: E731
    logged = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs)
    want = logged.trace.values["f"][:, logged.trace.steps >= 150].sum(axis=1)  # logs at 150 ... 400: 6 of them
    for chunk in (400, 100, 50):
        r = run_chains(kern, states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, chunk_steps=chunk,
                       trace=Trace(summed=("f",), sum_from=150))
        assert "f" not in r.trace.values and r.trace.sum_count == 6
        np.testing.assert_allclose(r.trace.sums["f"], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(r.trace.values["a0"], logged.trace.values["a0"])
    half = run_chains(kern, states, keys, hyp, data, n_steps=200, log_every=50, observe=obs,
                      trace=Trace(summed=("f",), sum_from=150))
    rest = run_chains(kern, half.states, keys, hyp, data, n_steps=400, log_every=50, observe=obs, start_step=200,
                      trace=half.trace)
    np.testing.assert_allclose(rest.trace.mean("f"), want / 6, rtol=1e-5, atol=1e-6)


def test_kernel_modules_are_not_shadowed_by_their_kernels():
    """`mflab.dynamics.langevin` used to be both a module and the function the package exports; the
    modules are now named for their algorithms (sgld, adjusted_langevin), the kernels keep their names."""
    import importlib
    import types

    from mflab import dynamics

    for name in ("sgld", "adjusted_langevin"):
        assert isinstance(importlib.import_module(f"mflab.dynamics.{name}"), types.ModuleType)
    assert callable(dynamics.langevin) and callable(dynamics.mala) and isinstance(dynamics.sgld, types.ModuleType)


def test_a_long_run_says_how_long_it_takes_before_its_first_chunk():
    """Runs longer than four chunks time a short probe (on a throwaway copy of the states) and log the
    estimate before the first chunk runs; the numbers are those of a run without the probe, with any
    chunking (the key of step t is fold_in(key, t))."""
    net, kern, states, keys, data, X, y = _setup()
    hyp = Hyper(jnp.full(4, 0.01), jnp.full(4, 1e-2))
    obs = lambda p, d: {"a0": p.a[0]}  # noqa: E731
    logs = []
    long = run_chains(kern, states, keys, hyp, data, n_steps=1000, log_every=10, observe=obs, chunk_steps=200,
                      log=logs.append, desc="test", on_chunk=lambda r: logs.append(f"chunk {r.steps_done}"))
    plain = run_chains(kern, states, keys, hyp, data, n_steps=1000, log_every=10, observe=obs, chunk_steps=1000)
    assert logs[0].startswith("test: 1,000 steps of 4 chains; at a 10-step probe's pace") and "takes about" in logs[0]
    assert logs[1:] == [f"chunk {t}" for t in range(200, 1001, 200)]
    np.testing.assert_array_equal(long.trace.values["a0"], plain.trace.values["a0"])
    np.testing.assert_array_equal(long.states.params.W, plain.states.params.W)
