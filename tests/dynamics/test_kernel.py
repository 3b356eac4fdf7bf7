"""The step protocol: one divergence guard for any kernel state, one driver, MALA, stop predicates."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mflab.dynamics import (Hyper, constant, guard, langevin, mala, optimizer_kernel, run_chains, stack_chains)


def _quadratic(p, data, key):
    return 0.5 * jnp.sum(p**2), p


def test_optimizer_kernel_with_one_diverging_chain_runs_through_run_chains():
    """Was: AttributeError 'OptState' object has no attribute 'bad_leaf' (the runner read LangevinState fields)."""
    kernel = guard(optimizer_kernel(lambda p, d, k: (jnp.sum(p**4), 4 * p**3), 1.0, "sgd"))
    states = jax.vmap(kernel.init)(jnp.ones((3, 2)))
    msgs = []
    res = run_chains(kernel, states, jax.random.split(jax.random.key(0), 3), jnp.asarray([0.01, 10.0, 0.01]),
                     stack_chains(jnp.zeros(()), 3), n_steps=40, log_every=10, observe=lambda p, d: {"p0": p[0]},
                     log=msgs.append, divergence_fix="lower lr")
    assert np.asarray(res.states.alive).tolist() == [True, False, True]
    assert res.diverged[0]["chain"] == 1 and res.diverged[0]["leaf"] in (-1, 0)
    assert np.all(np.isfinite(np.asarray(res.states.params)))  # frozen at its last finite state
    assert any("chain 1 diverged" in m and "lower lr" in m for m in msgs)


def test_adam_divergence_is_recorded_with_the_step():
    kernel = guard(optimizer_kernel(lambda p, d, k: (jnp.where(jnp.abs(p[0]) > 2.5, jnp.nan, 0.0), -jnp.ones(2)),
                                    1.0, "adam"))
    s = kernel.init(jnp.zeros(2))
    for _ in range(6):
        s, _ = kernel.step(s, None, jnp.asarray(1.0), None)
    # Adam moves by ~lr per step: |p0| = 1, 2, 3 -> the loss at p0 = 3 is NaN: steps 0..2 accepted, 3 rejected
    assert not bool(s.alive) and int(s.diverged_at) == 3 and int(s.bad_leaf) == -1 and int(s.steps) == 3


def test_run_chains_refuses_unguarded_or_unbatched_states():
    raw = langevin(_quadratic, None, constant())
    with pytest.raises(TypeError, match="guard"):
        run_chains(raw, jax.vmap(raw.init)(jnp.zeros((2, 2))), None, None, None, n_steps=10, log_every=10,
                   observe=lambda p, d: {})
    k = guard(raw)
    with pytest.raises(ValueError, match="chain axis"):
        run_chains(k, k.init(jnp.zeros(2)), None, None, None, n_steps=10, log_every=10, observe=lambda p, d: {})


def test_mala_samples_a_correlated_gaussian_exactly_at_a_large_step():
    """MALA is exact for any step: at ε = 0.4 (where unadjusted Langevin is biased by O(ε)) the sample
    covariance of a 2-d Gaussian with Σ = [[1, .8], [.8, 1]] matches Σ within Monte-Carlo error."""
    Sigma = np.array([[1.0, 0.8], [0.8, 1.0]])
    Prec = jnp.asarray(np.linalg.inv(Sigma), jnp.float32)
    kernel = guard(mala(lambda p, d: 0.5 * p @ Prec @ p))
    C = 64
    states = jax.vmap(kernel.init)(jnp.zeros((C, 2)))
    res = run_chains(kernel, states, jax.random.split(jax.random.key(1), C), jnp.full(C, 0.4),
                     stack_chains(jnp.zeros(()), C), n_steps=4000, log_every=20, observe=lambda p, d: {"x": p})
    x = res.trace.values["x"][:, 20:].reshape(-1, 2).astype(np.float64)
    n_eff = x.shape[0] / 10  # lag-20 samples, autocorrelation time of a few steps: conservative
    se = np.sqrt((Sigma**2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / n_eff)
    assert np.all(np.abs(np.cov(x.T) - Sigma) < 5 * se), (np.cov(x.T) - Sigma) / se
    assert np.all(np.abs(x.mean(0)) < 5 * np.sqrt(np.diag(Sigma) / n_eff))


def test_stop_predicate_skips_finished_chains_without_changing_the_others():
    kernel = guard(langevin(_quadratic, None, constant()))
    C = 3
    states = jax.vmap(kernel.init)(jnp.ones((C, 2)))
    keys = jax.random.split(jax.random.key(2), C)
    hyp = stack_chains(Hyper(0.01, 0.05), C)
    data = stack_chains(jnp.zeros(()), C)
    obs = lambda p, d: {"r2": jnp.sum(p**2)}  # noqa: E731
    ref = run_chains(kernel, states, keys, hyp, data, n_steps=400, log_every=50, chunk_steps=100, observe=obs)
    res = run_chains(kernel, states, keys, hyp, data, n_steps=400, log_every=50, chunk_steps=100, observe=obs,
                     stop=lambda tr: np.arange(C) == 0)  # chain 0 is done after its first chunk
    assert res.stopped_at.tolist() == [100, -1, -1]
    np.testing.assert_array_equal(res.states.params[1:], ref.states.params[1:])
    np.testing.assert_array_equal(res.trace.values["r2"][0, 2:], res.trace.values["r2"][0, 1])  # frozen at step 100
    done = run_chains(kernel, states, keys, hyp, data, n_steps=400, log_every=50, chunk_steps=100, observe=obs,
                      stop=lambda tr: np.ones(C, bool))
    assert done.steps_done == 100  # every chain done: the run ends


def _counter():
    """A deterministic kernel x ← x + 1 with the loss x (block means are known exactly)."""
    from mflab.dynamics import Kernel
    from mflab.dynamics.optimizers import OptInfo, OptState

    return guard(Kernel(lambda p: OptState(p, ()), lambda s, k, h, d: (OptState(s.params + 1.0, ()), OptInfo(s.params))))


def test_advance_accumulates_in_step_order_and_block_means_are_logged():
    from mflab.dynamics import advance, trajectory

    kernel = _counter()
    s, total = advance(kernel, kernel.init(jnp.zeros(())), None, None, None, 4, accumulate=lambda s, info: info.loss)
    assert float(s.params) == 4.0 and float(total) == 0 + 1 + 2 + 3  # info is the step's (pre-step loss)
    s2, losses = trajectory(kernel, kernel.init(jnp.zeros(())), None, None, None, 4)
    assert float(s2.params) == 4.0 and np.asarray(losses.loss).tolist() == [0, 1, 2, 3]  # one record per step
    C = 2
    res = run_chains(kernel, jax.vmap(kernel.init)(jnp.asarray([0.0, 10.0])), None, None, None, n_steps=8,
                     log_every=4, observe=lambda p, d: {"x": p}, block_mean=lambda p, info: {"x_mean": p})
    np.testing.assert_array_equal(res.trace.values["x"], [[4, 8], [14, 18]])
    np.testing.assert_array_equal(res.trace.values["x_mean"], [[2.5, 6.5], [12.5, 16.5]])  # mean of x over the block
    assert res.compile_seconds > 0
    stopped = run_chains(kernel, jax.vmap(kernel.init)(jnp.zeros(C)), None, None, None, n_steps=8, log_every=4,
                         chunk_steps=4, observe=lambda p, d: {"x": p}, block_mean=lambda p, info: {"x_mean": p},
                         stop=lambda tr: np.arange(C) == 0)
    np.testing.assert_array_equal(stopped.trace.values["x_mean"], [[2.5, 0.0], [2.5, 6.5]])  # skipped: zero


def test_mean_field_lanes_run_through_run_chains_as_through_their_own_loop():
    """The MF outer iteration is a kernel like any other: two lanes (two κ) driven by run_chains reach the
    particles of mf_run with the same keys, and the drift test stops them."""
    from mflab.conventions import posterior_noise
    from mflab.dynamics import TrainData
    from mflab.theory.mean_field import FieldDrift, MeanField, mf_init, mf_kernel, mf_run

    mf = MeanField.create("relu", 64, particles=16, inner_steps=2, lr=0.5)
    X = jax.random.normal(jax.random.key(0), (20, 3))
    data = TrainData(X, jnp.sign(X[:, 0]), jnp.full(20, 1 / 20))
    kappas, keys = jnp.asarray([0.3, 0.1]), jax.random.split(jax.random.key(1), 2)
    states = jax.vmap(lambda k: mf_init(mf, k, 3, 20))(jax.random.split(jax.random.key(2), 2))
    res = run_chains(mf_kernel(mf), states, keys, posterior_noise(kappas), stack_chains(data, 2), n_steps=40, log_every=5,
                     chunk_steps=5, observe=lambda s, d: {}, block_mean=lambda s, info: {"field": s.field},
                     stop=FieldDrift(2, 1e9, np.ones(2)).stop)  # any drift passes: both stop at 2·patience blocks
    assert res.stopped_at.tolist() == [20, 20] and res.steps_done == 20
    for lane in range(2):
        one = jax.tree_util.tree_map(lambda a: a[lane], states)
        ref, _, _ = mf_run(mf, one, keys[lane], data, posterior_noise(kappas[lane]), 20)
        np.testing.assert_allclose(res.states.W[lane], ref.W, rtol=1e-5, atol=1e-6)


def test_halt_rule_stops_each_chain_inside_the_chunk_independent_of_chunking_and_resume():
    """x ← x + 1 from x0 = (0, 3, 100): the rule x ≥ threshold (per-chain argument) first holds at a log, the chain
    runs ``halt_after`` more steps and stands still; the run ends when every chain has stopped."""
    kernel = _counter()
    states = jax.vmap(kernel.init)(jnp.asarray([0.0, 3.0, 100.0]))
    halt = lambda obs, thr: obs["x"] >= thr  # noqa: E731
    thr = jnp.asarray([10.0, 10.0, 1e9])  # chain 2 never meets its rule
    kw = dict(n_steps=40, log_every=2, observe=lambda p, d: {"x": p}, halt=halt, halt_args=thr, halt_after=4)
    res = run_chains(kernel, states, None, None, None, chunk_steps=40, **kw)
    assert res.halt_hits.tolist() == [10, 8, -1]  # x reaches 10 at step 10 (chain 0) and 8 (chain 1)
    assert np.asarray(res.states.params).tolist() == [14.0, 15.0, 140.0]  # 4 more steps each, then still
    np.testing.assert_array_equal(res.trace.values["x"][0, 7:], 14.0)
    chunked = run_chains(kernel, states, None, None, None, chunk_steps=6, **kw)
    np.testing.assert_array_equal(chunked.trace.values["x"], res.trace.values["x"])
    half = run_chains(kernel, states, None, None, None, chunk_steps=6, **{**kw, "n_steps": 12})
    resumed = run_chains(kernel, half.states, None, None, None, chunk_steps=6, start_step=12, trace=half.trace,
                         halt_hits=half.halt_hits, **kw)
    np.testing.assert_array_equal(resumed.trace.values["x"], res.trace.values["x"])
    both = run_chains(kernel, states, None, None, None, chunk_steps=6, **{**kw, "halt_args": jnp.asarray([10.0, 10, 101])})
    assert both.halt_hits.tolist() == [10, 8, 2]
    # every chain stands still from step 14 (the last rule, at 10, + 4): the run ends at the end of that chunk
    assert both.steps_done == 18 and np.asarray(both.states.params).tolist() == [14.0, 15.0, 106.0]
