r"""Run a batch of chains for many steps without stepping from Python.

One jitted *chunk* advances every chain by ``chunk_steps`` steps: a ``lax.scan`` over logging
blocks, each a ``lax.fori_loop`` of ``log_every`` kernel steps followed by the observables.
Python loops only over chunks (progress bar, checkpoints, divergence reports).

Chains are laid out with a leading axis and mapped with :func:`chain_map`:
``chain_batch=1`` runs chains one after another inside the compiled chunk (each chain's N×P
activations stay in cache: fastest on CPU, see benchmarks/), ``chain_batch=C`` is a full ``vmap``
(fastest on accelerators). Results do not depend on ``chain_batch`` beyond float rounding.

The key of step t of a chain is ``fold_in(chain_key, t)``: chunking, resuming from a checkpoint
and the chain batch leave the random stream unchanged.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .langevin import Kernel, LangevinState


@dataclass
class Trace:
    """Logged observables: ``steps`` (n_logs,), ``values[name]`` (C, n_logs)."""

    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def append(self, steps, values):
        self.steps = np.concatenate([self.steps, np.asarray(steps)])
        for k, v in values.items():
            v = np.asarray(v)
            self.values[k] = v if k not in self.values else np.concatenate([self.values[k], v], axis=1)

    def last(self, name):
        return self.values[name][:, -1]


@dataclass
class RunResult:
    states: LangevinState
    trace: Trace
    steps_done: int
    diverged: list[dict]  # one dict per diverged chain


def default_chain_batch(n_chains: int) -> int:
    """1 (sequential, cache-friendly) on CPU; all chains at once on accelerators."""
    return 1 if jax.default_backend() == "cpu" else n_chains


def chain_map(fn, xs, chain_batch: int):
    """``lax.map`` over the leading (chain) axis, ``chain_batch`` chains vmapped at a time. With
    ``chain_batch=1`` the chains run unbatched: ``lax.map(batch_size=1)`` would vmap a batch of one,
    which measured 3.4x slower for the kernel-mode MFLD step and 1.6x for the SGLD parity step on XLA:CPU
    (jax 0.10.2, 2 cores; benchmarks/)."""
    if chain_batch == 1:
        return jax.lax.map(fn, xs)
    return jax.lax.map(fn, xs, batch_size=chain_batch)


def make_chunk_fn(kernel: Kernel, observe: Callable, log_every: int, chain_batch: int):
    """A jitted function (states, keys, hypers, data, t0, n_logs) -> (states, observables)."""

    def chunk(states, keys, hypers, data, t0, n_logs):
        def one_chain(args):
            state, key, hyper, dat = args

            def block(state, j):
                t_start = t0 + j * log_every

                def body(i, s):
                    return kernel.step(s, jax.random.fold_in(key, t_start + i), hyper, dat)[0]

                state = jax.lax.fori_loop(0, log_every, body, state)
                obs = dict(observe(state.params, dat))
                obs["alive"] = state.alive
                return state, obs

            return jax.lax.scan(block, state, jnp.arange(n_logs))

        return chain_map(one_chain, (states, keys, hypers, data), chain_batch)

    return jax.jit(chunk, static_argnums=5)


def run_chains(kernel: Kernel, states: LangevinState, keys, hypers, data, *, n_steps: int, log_every: int,
               observe: Callable, chunk_steps: int = 10_000, chain_batch: int | None = None, start_step: int = 0,
               trace: Trace | None = None, progress: bool = False, desc: str = "chains",
               on_chunk: Callable[[RunResult], None] | None = None, log=None) -> RunResult:
    """Advance C chains from ``start_step`` to ``n_steps``, logging ``observe(params, data)`` every
    ``log_every`` steps. ``states``, ``keys``, ``hypers`` and ``data`` carry a leading chain axis.

    ``on_chunk`` is called after every chunk (checkpointing). Chains that diverge are frozen and
    reported once through ``log`` (default: stderr); the run stops early if all have diverged."""
    if n_steps % log_every or start_step % log_every:
        raise ValueError("n_steps and start_step must be multiples of log_every")
    n_chains = jax.tree_util.tree_leaves(states.params)[0].shape[0]
    chain_batch = chain_batch or default_chain_batch(n_chains)
    chunk_steps = max(log_every, (chunk_steps // log_every) * log_every)
    chunk_fn = make_chunk_fn(kernel, observe, log_every, min(chain_batch, n_chains))
    trace = trace or Trace()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    reported = set(np.flatnonzero(~np.asarray(states.alive)).tolist())
    diverged = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True, file=sys.stderr)
    t = start_step
    result = RunResult(states, trace, t, diverged)
    while t < n_steps:
        n = min(chunk_steps, n_steps - t)
        states, obs = chunk_fn(states, keys, hypers, data, jnp.asarray(t, jnp.int32), n // log_every)
        obs = jax.device_get(obs)
        trace.append(t + log_every * np.arange(1, n // log_every + 1), obs)
        t += n
        alive = np.asarray(states.alive)
        for c in np.flatnonzero(~alive):
            if c not in reported:
                reported.add(int(c))
                info = {"chain": int(c), "step": int(states.diverged_at[c]), "leaf": int(states.bad_leaf[c])}
                diverged.append(info)
                log(f"chain {c} diverged at step {info['step']} (non-finite "
                    f"{'loss' if info['leaf'] < 0 else 'parameter leaf %d' % info['leaf']}); it is frozen at its "
                    "last finite state. Fix: lower the learning rate (sgld.lr) or the temperature.")
        result = RunResult(states, trace, t, diverged)
        if bar is not None:
            post = {k: float(np.nanmean(v[:, -1])) for k, v in obs.items() if k != "alive"}
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(post.items())[:3]}, refresh=False)
            bar.update(n)
        if on_chunk is not None:
            on_chunk(result)
        if not alive.any():
            log(f"all {n_chains} chains diverged; stopping at step {t}. Results so far are kept.")
            break
    if bar is not None:
        bar.close()
    return result


def initial_observations(observe: Callable, states: LangevinState, data) -> dict:
    """observe() at the initial states (the step-0 point of a trace), shape (C, 1) per name."""
    obs = jax.jit(jax.vmap(lambda s, d: dict(observe(s.params, d), alive=s.alive)))(states, data)
    return {k: np.asarray(v)[:, None] for k, v in obs.items()}
