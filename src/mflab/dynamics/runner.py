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

Any kernel of the step protocol (:mod:`mflab.dynamics.kernel`) runs here, wrapped in
:func:`~mflab.dynamics.kernel.guard`: the runner reads the divergence record of the guarded state,
whatever the kernel. An optional ``stop`` predicate ends chains early: after every chunk it sees the
trace and returns which chains are done; those are skipped from then on (a ``lax.cond`` branch, no
recompilation) and the run ends when every chain is done or has diverged.

Example (four chains of a 2-d Gaussian posterior)::

    >>> import jax, jax.numpy as jnp
    >>> from mflab.dynamics import Hyper, constant, guard, langevin, run_chains, stack_chains
    >>> kernel = guard(langevin(lambda p, d, k: (0.5 * jnp.sum(p ** 2), p), None, constant()))
    >>> states = jax.vmap(kernel.init)(jnp.zeros((4, 2)))
    >>> res = run_chains(kernel, states, jax.random.split(jax.random.key(0), 4),
    ...                  stack_chains(Hyper(1.0, 0.05), 4), stack_chains(jnp.zeros(()), 4),
    ...                  n_steps=200, log_every=100, observe=lambda p, d: {"r2": jnp.sum(p ** 2)})
    >>> res.trace.values["r2"].shape, res.steps_done
    ((4, 2), 200)
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .kernel import Guarded, Kernel, divergence_message


@dataclass
class Trace:
    """Logged observables: ``steps`` (n_logs,), ``values[name]`` (C, n_logs, ...).

    Observables named in ``summed`` are not kept per log: ``sums[name]`` (C, ...) adds them up over the
    logs at steps ≥ ``sum_from`` and ``sum_count`` counts those logs (a posterior mean of f on many
    test inputs without storing every sample). :func:`run_chains` sums them on the device, inside the
    compiled chunk, so a chunk returns one (C, ...) array per summed name, not one per log."""

    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    values: dict[str, np.ndarray] = field(default_factory=dict)
    summed: tuple = ()
    sum_from: int = 0
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    sum_count: int = 0

    def append(self, steps, values, sums=None):
        """Logs at ``steps``: ``values[name]`` (C, n_logs, ...); summed names either among ``values``
        (summed here) or already summed over these logs in ``sums[name]`` (C, ...)."""
        steps = np.asarray(steps)
        self.steps = np.concatenate([self.steps, steps])
        take = steps >= self.sum_from
        parts = {k: np.asarray(v) for k, v in (sums or {}).items()}
        for k, v in values.items():
            v = np.asarray(v)
            if k in self.summed:
                parts[k] = v[:, take].sum(axis=1)
                continue
            self.values[k] = v if k not in self.values else np.concatenate([self.values[k], v], axis=1)
        for k, part in parts.items():
            self.sums[k] = part if k not in self.sums else self.sums[k] + part
        if self.summed:
            self.sum_count += int(take.sum())

    def mean(self, name):
        """The average of a summed observable over its logs (C, ...)."""
        return self.sums[name] / self.sum_count

    def last(self, name):
        return self.values[name][:, -1]


@dataclass
class RunResult:
    """What :func:`run_chains` returns: final (guarded) states, the trace of logged observables, the step
    every chain reached, divergences, per-chain stop and halt steps, and the seconds spent compiling."""

    states: Guarded
    trace: Trace
    steps_done: int
    diverged: list[dict]  # one dict per diverged chain
    stopped_at: np.ndarray | None = None  # per chain: the step at which ``stop`` ended it (-1: not stopped)
    compile_seconds: float = 0.0  # time spent compiling chunks (not part of the stepping time)
    halt_hits: np.ndarray | None = None  # per chain: the logged step at which ``halt`` first held (-1: never)


def stack_chains(tree, n_chains: int):
    """Give every leaf of ``tree`` a leading chain axis of length ``n_chains`` (shared data or
    hyperparameters, broadcast to every chain)."""
    return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(jnp.asarray(x), (n_chains,) + jnp.shape(x)), tree)


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


def _keyed_step(kernel: Kernel, key, hyper, data, t0):
    """(i, state) -> (state, info): step ``t0 + i`` with the key ``fold_in(key, t0 + i)`` (None: no key); a
    clocked kernel also gets the step index ``t0 + i`` itself (unbatched: the same for every chain)."""
    clock = (lambda i: (t0 + i,)) if kernel.clocked else (lambda i: ())

    def step(i, s):
        return kernel.step(s, None if key is None else jax.random.fold_in(key, t0 + i), hyper, data, *clock(i))

    return step


def _zeros(shapes):
    return jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)


def advance(kernel: Kernel, state, key, hyper, data, n_steps, t0=0, accumulate: Callable | None = None):
    """``n_steps`` kernel steps as one ``lax.fori_loop`` (traceable: jit/vmap it). Step t uses the key
    ``fold_in(key, t0 + t)``; ``key=None`` passes None to a deterministic kernel. The one stepping loop
    of mflab: :func:`run_chains` runs it chunk by chunk.

    With ``accumulate(state, info) -> pytree`` it returns ``(state, total)``, ``total`` the sum over the
    steps of ``accumulate`` at each new state and its step's diagnostics (a running mean of the MF
    field, a tail average of the training loss), summed in step order."""
    step = _keyed_step(kernel, key, hyper, data, t0)
    if accumulate is None:
        return jax.lax.fori_loop(0, n_steps, lambda i, s: step(i, s)[0], state)

    def body(i, carry):
        s, info = step(i, carry[0])
        return s, jax.tree_util.tree_map(jnp.add, carry[1], accumulate(s, info))

    zero = _zeros(jax.eval_shape(lambda s: accumulate(*step(0, s)), state))
    return jax.lax.fori_loop(0, n_steps, body, (state, zero))


def trajectory(kernel: Kernel, state, key, hyper, data, n_steps: int, t0=0, record: Callable | None = None):
    """``n_steps`` kernel steps as one ``lax.scan`` that keeps something of every step: returns
    ``(state, records)``, ``records`` stacking ``record(new_state, info)`` (default: the step's info).
    Keys as in :func:`advance` (``t0`` may be traced). For short per-iteration diagnostics (the MF
    residual); long runs log through :func:`run_chains` instead."""
    record = record or (lambda s, info: info)
    step = _keyed_step(kernel, key, hyper, data, t0)

    def body(s, i):
        s, info = step(i, s)
        return s, record(s, info)

    return jax.lax.scan(body, state, jnp.arange(n_steps))


def make_chunk_fn(kernel: Kernel, observe: Callable, log_every: int, chain_batch: int, skippable: bool = False,
                  block_mean: Callable | None = None, summed: tuple = (), sum_from: int = 0,
                  tick: Callable[[], None] | None = None, halt: Callable | None = None, halt_after: int = 0):
    """A jitted function (states, keys, hypers, data, t0, n_logs[, active, hits, halt_args]) -> (states,
    (observables, sums, hits)). A chain whose ``active`` flag is False is passed through unchanged (``skippable``);
    ``block_mean(params, info)`` adds observables averaged over the steps of each logging block; the
    observables named in ``summed`` are summed over the chunk's logs at steps ≥ ``sum_from`` (``sums``).
    ``halt(observables, halt_args) -> bool``: the first logged step at which it holds is the chain's
    ``hit`` (−1: not yet); the chain runs ``halt_after`` more steps (whole logging blocks) and then stands
    still, inside the compiled chunk. ``tick()`` is called on the host after every logging block of every
    chain (``jax.debug.callback``): a progress bar that moves inside a chunk, not only between chunks. It
    does not touch the numbers."""
    skippable = skippable or halt is not None

    def chunk(states, keys, hypers, data, t0, n_logs, active=None, hits=None, halt_args=None):
        n_chains = jax.tree_util.tree_leaves(states)[0].shape[0]
        active = jnp.ones(n_chains, bool) if active is None else active
        hits = jnp.full(n_chains, -1, jnp.int32) if hits is None else hits
        halt_args = jnp.zeros(n_chains) if halt_args is None else halt_args

        def one_chain(args):
            state, key, hyper, dat, act, hit0, h_args = args

            def block(carry, j):
                state, sums, hit = carry
                t_start = t0 + j * log_every

                if block_mean is None:
                    def block_steps(state):
                        return advance(kernel, state, key, hyper, dat, log_every, t_start), {}
                else:
                    def block_steps(state):
                        state, total = advance(kernel, state, key, hyper, dat, log_every, t_start,
                                               accumulate=lambda s, info: dict(block_mean(s.params, info)))
                        return state, jax.tree_util.tree_map(lambda v: v / log_every, total)

                if skippable:  # a skipped (stopped) chain logs zero block means
                    running = act & ((hit < 0) | (t_start < hit + halt_after))
                    zero = _zeros(jax.eval_shape(block_steps, state)[1])
                    state, means = jax.lax.cond(running, block_steps, lambda s: (s, zero), state)
                else:
                    state, means = block_steps(state)
                obs = dict(observe(state.params, dat))
                obs.update(means)
                obs["alive"] = state.alive
                if halt is not None:
                    met = jnp.asarray(halt(obs, h_args), bool) & state.alive
                    hit = jnp.where((hit < 0) & met, t_start + log_every, hit)
                if tick is not None:
                    jax.debug.callback(tick)
                take = t0 + (j + 1) * log_every >= sum_from
                sums = {k: sums[k] + jnp.where(take, obs.pop(k), 0) for k in summed}
                return (state, sums, hit), obs

            zero = {k: v for k, v in _zeros(jax.eval_shape(lambda s: observe(s.params, dat), state)).items()
                    if k in summed}
            (state, sums, hit), obs = jax.lax.scan(block, (state, zero, hit0), jnp.arange(n_logs))
            return state, (obs, sums, hit)

        return chain_map(one_chain, (states, keys, hypers, data, active, hits, halt_args), chain_batch)

    return jax.jit(chunk, static_argnums=5)


def _check_guarded(states):
    if not isinstance(states, Guarded):
        raise TypeError("run_chains needs guarded states: build the kernel as mflab.dynamics.guard(kernel) and the "
                        "states with jax.vmap(guarded_kernel.init)(params)")
    leaves = jax.tree_util.tree_leaves(states.params)
    if not leaves or jnp.ndim(states.alive) != 1:
        raise ValueError("run_chains needs a leading chain axis on the states (jax.vmap(kernel.init)(params)); "
                         "for shared data or hyperparameters use mflab.dynamics.stack_chains")
    return int(states.alive.shape[0])


def run_chains(kernel: Kernel, states: Guarded, keys, hypers, data, *, n_steps: int, log_every: int,
               observe: Callable, chunk_steps: int = 10_000, chain_batch: int | None = None, start_step: int = 0,
               trace: Trace | None = None, progress: bool = False, desc: str = "chains",
               on_chunk: Callable[[RunResult], None] | None = None, log=None,
               stop: Callable[[Trace], np.ndarray] | None = None, block_mean: Callable | None = None,
               divergence_fix: str = "lower the step size or the temperature", halt: Callable | None = None,
               halt_args=None, halt_after: int = 0, halt_hits=None) -> RunResult:
    """Advance C chains from ``start_step`` to ``n_steps``, logging ``observe(params, data)`` every
    ``log_every`` steps. ``kernel`` is a :func:`~mflab.dynamics.kernel.guard`-ed kernel; ``states``,
    ``keys``, ``hypers`` and ``data`` carry a leading chain axis.

    ``on_chunk`` is called after every chunk (checkpointing). Chains that diverge are frozen and
    reported once through ``log`` (default: stderr) with ``divergence_fix``; the run stops early if all
    have diverged. ``stop(trace) -> bool (C,)`` marks chains as done after a chunk (module docstring).
    ``block_mean(params, info) -> dict`` logs, beside ``observe``, means over all steps of each logging
    block (the running field average of the MF drift test). Compiles are timed apart from stepping:
    ``RunResult.compile_seconds``.

    ``halt(observables, halt_args) -> bool`` is a stopping rule evaluated inside the compiled chunk at every
    log (``halt_args``: a per-chain pytree with a leading chain axis, e.g. which threshold applies): a chain
    runs ``halt_after`` steps (rounded up to whole logging blocks) past the first log at which it holds, then
    stands still; the run ends when every chain has. Chunking and resuming leave it unchanged: pass the
    ``RunResult.halt_hits`` of a checkpoint back as ``halt_hits``."""
    if halt_after % log_every:
        raise ValueError("halt_after must be a multiple of log_every")
    if n_steps % log_every or start_step % log_every:
        raise ValueError("n_steps and start_step must be multiples of log_every")
    n_chains = _check_guarded(states)
    chain_batch = chain_batch or default_chain_batch(n_chains)
    chunk_steps = max(log_every, (chunk_steps // log_every) * log_every)
    trace = trace or Trace()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, initial=start_step, desc=desc, unit="step", dynamic_ncols=True, file=sys.stderr,
                   mininterval=0.5)
    span = [start_step, start_step, 0.0]  # the running chunk's first and last step, and its steps done so far

    def tick():  # log_every / C steps per chain's logging block, never past the chunk's end
        span[2] += log_every / n_chains
        target = min(span[0] + int(span[2]), span[1])
        if bar is not None and target > bar.n:
            bar.update(target - bar.n)

    chunk_fn = make_chunk_fn(kernel, observe, log_every, min(chain_batch, n_chains), skippable=stop is not None,
                             block_mean=block_mean, summed=tuple(trace.summed), sum_from=int(trace.sum_from),
                             tick=tick if progress else None, halt=halt, halt_after=halt_after)
    compiled, compile_seconds = {}, 0.0
    log = log or (lambda msg: print(msg, file=sys.stderr))
    reported = set(np.flatnonzero(~np.asarray(states.alive)).tolist())
    diverged = []
    stopped_at = np.full(n_chains, -1, np.int64)
    t = start_step
    hits = np.full(n_chains, -1, np.int64) if halt_hits is None else np.asarray(halt_hits, np.int64).copy()
    halt_args = jnp.zeros(n_chains) if halt_args is None else halt_args
    result = RunResult(states, trace, t, diverged, stopped_at, halt_hits=hits)

    def halted(t):
        return (hits >= 0) & (t >= hits + halt_after)
    # a long run says how long it will take before it starts, timing only the chains that will still step
    # (a resumed run whose stopping rule has ended some chains runs at the pace of the others)
    moving = np.flatnonzero(np.asarray(states.alive) & ~halted(t))
    if n_steps - start_step > 4 * chunk_steps and len(moving):
        probe = min(log_every, PROBE_STEPS)
        probe_fn = make_chunk_fn(kernel, observe, probe, min(chain_batch, len(moving)), block_mean=block_mean)
        pick = jax.tree_util.tree_map(lambda x: x[moving], (states, keys, hypers, data))
        rate, probe_compile = _probe_rate(probe_fn, probe, (*pick, jnp.asarray(t, jnp.int32)))
        still = "" if len(moving) == n_chains else f" ({len(moving)} still stepping)"
        log(f"{desc}: {n_steps - start_step:,} steps of {n_chains} chains{still}; at a {probe}-step probe's pace "
            f"({rate:,.0f} steps/s, its compile {probe_compile:.0f} s apart) that takes about "
            f"{_duration((n_steps - start_step) / rate)}")
    while t < n_steps:
        n = min(chunk_steps, n_steps - t)
        args = (states, keys, hypers, data, jnp.asarray(t, jnp.int32))
        rest = (jnp.asarray(stopped_at < 0), jnp.asarray(hits, jnp.int32), halt_args)
        if n not in compiled:  # one compile per chunk length (at most two), timed on its own and shown as such
            tc = time.perf_counter()
            if bar is not None:
                bar.set_description_str(f"{desc} [compiling]")
            compiled[n] = chunk_fn.lower(*args, n // log_every, *rest).compile()
            compile_seconds += time.perf_counter() - tc
            if bar is not None:
                bar.set_description_str(f"{desc} [compiled in {compile_seconds:.0f} s]" if compile_seconds >= 1 else desc)
        span[:] = [t, t + n, 0.0]
        states, (obs, sums, new_hits) = compiled[n](*args, *rest)
        obs, sums = jax.device_get((obs, sums))
        hits = np.asarray(new_hits, np.int64)
        trace.append(t + log_every * np.arange(1, n // log_every + 1), obs, sums)
        t += n
        alive = np.asarray(states.alive)
        new = [{"chain": int(c), "step": int(states.diverged_at[c]), "leaf": int(states.bad_leaf[c])}
               for c in np.flatnonzero(~alive) if int(c) not in reported]
        if new:  # one line per chunk, however many chains
            reported.update(i["chain"] for i in new)
            diverged.extend(new)
            log(divergence_message([i["chain"] for i in new], [i["step"] for i in new], [i["leaf"] for i in new],
                                   divergence_fix, of=n_chains))
        if stop is not None:
            done = np.asarray(stop(trace), bool) & (stopped_at < 0)
            stopped_at[done] = t
        result = RunResult(states, trace, t, diverged, stopped_at, compile_seconds, hits)
        if bar is not None:
            post = {k: float(np.nanmean(v[:, -1])) for k, v in obs.items() if k != "alive"}
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(post.items())[:3]}, refresh=False)
            bar.update(max(0, t - bar.n))  # exact at the chunk's end, whatever the ticks counted
        if on_chunk is not None:
            on_chunk(result)
        if not alive.any():
            log(f"all {n_chains} chains diverged; stopping at step {t}. Results so far are kept.")
            break
        if (stop is not None or halt is not None) and np.all((stopped_at >= 0) | halted(t) | ~alive):
            break
    if bar is not None:
        bar.close()
    return result


PROBE_STEPS = 50  # steps a long run times (on a throwaway copy of its states) for its up-front estimate


def _probe_rate(probe_fn, probe: int, args) -> tuple[float, float]:
    """(steps per second of one ``probe``-step logging block of ``probe_fn``, its compile seconds): the
    block runs on the given states and its result is discarded, so the run's numbers do not change."""
    tc = time.perf_counter()
    compiled = probe_fn.lower(*args, 1).compile()
    compile_seconds = time.perf_counter() - tc
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return probe / max(time.perf_counter() - t0, 1e-9), compile_seconds


def _duration(seconds: float) -> str:
    """4 s, 12 min, 3.5 h, 2.1 days."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}" if unit != "min" else f"{seconds / size:.0f} min"
    return f"{seconds:.0f} s"


def initial_observations(observe: Callable, states: Guarded, data) -> dict:
    """observe() at the initial states (the step-0 point of a trace), shape (C, 1) per name."""
    obs = jax.jit(jax.vmap(lambda s, d: dict(observe(s.params, d), alive=s.alive)))(states, data)
    return {k: np.asarray(v)[:, None] for k, v in obs.items()}
