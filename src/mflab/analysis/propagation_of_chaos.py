r"""Propagation of chaos of mean-field Langevin dynamics by synchronous coupling (notes A §2.3).

Algorithm:

1. draw the initial points and the Brownian increments once for M_ref particles
   (:func:`~mflab.dynamics.mean_field_langevin.init_particles` and the kernel's ``"coupled"`` noise:
   particle i's draws depend only on (replica key, i, step));
2. run the M_ref system, the proxy of the McKean–Vlasov flow;
3. for every N of a geometric grid run the N-particle system on the *first N* initial points and
   the same increments, with the same step η (so the time discretisation cancels);
4. record at logged times t

       C_N(t) = (1/N) Σ_{i≤N} |θ_i^N(t) − θ_i^ref(t)|²          (coupling W₂² proxy; ≥ per-particle W₂²)
       G_N(t) = ‖f_{μ̂_N(t)} − f_{μ̂_ref(t)}‖²_{L²(ρ)}            (function gap, closed kernel form, ρ = N(0, I_d));

5. fit log E_r[C_N(t)] against log N over replicas r, at every t and for sup_t, with a bootstrap over
   replicas for the 95 % interval. Theory (Chen–Ren–Wang 2022; Suzuki–Wu–Nitanda 2023): slope −1,
   uniformly in time, i.e. N·sup_t C_N(t) bounded in N and T.

Everything runs on :func:`mflab.dynamics.runner.run_chains` (replicas are chains; no Python loop
over steps). Trajectories are kept only at the logged times.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..dynamics.mean_field_langevin import MFLDSystem, ParticleInit, init_particles, particle_matrix
from ..theory.gaussian import gaussian_gram
from ..dynamics.runner import initial_observations, run_chains
from .fits import mean_loglog_slope


@dataclass
class CoupledRuns:
    """Particle clouds at the logged times: ``clouds[N]`` (R, n_logs+1, N, 1+d) with the reference
    under key ``m_ref``; ``times`` (n_logs+1,) in units of t = kη; ``alive[N]`` (R,)."""

    times: np.ndarray
    clouds: dict
    m_ref: int
    alive: dict


def coupled_system(objective, n: int, init: ParticleInit, key, d: int, eta: float, tau: float, steps: int,
                   log_every: int, replicas: int, data=None, dtype=jnp.float32, progress: bool = False):
    """One N-particle system (:class:`~mflab.dynamics.mean_field_langevin.MFLDSystem` of the width-free
    ``objective``), ``replicas`` replicas, coupled to every other size run with the same ``key``:
    replica r starts from the first N points of its draw and uses its Brownian increments.
    Returns (clouds (R, n_logs+1, N, 1+d) at t = 0 and every log, alive (R,))."""
    keys = jax.random.split(key, replicas)
    system = MFLDSystem(objective, n)
    kernel = system.kernel
    params = jax.vmap(lambda k: init_particles(init, jax.random.fold_in(k, 0), n, d, dtype))(keys)
    states = jax.vmap(kernel.init)(params)
    hyper = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (replicas,)), system.hyper(eta, tau, dtype))
    noise_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    dat = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (replicas,) + x.shape), data)

    def observe(p, _):
        return {"theta": particle_matrix(p)}

    res = run_chains(kernel, states, noise_keys, hyper, dat, n_steps=steps, log_every=log_every, observe=observe,
                     chunk_steps=steps, progress=progress, desc=f"N={n}", divergence_fix=f"lower eta (now {eta:g})")
    first = initial_observations(observe, states, dat)["theta"]
    return np.concatenate([first, res.trace.values["theta"]], axis=1), np.asarray(res.states.alive)


def log_times(eta: float, steps: int, log_every: int) -> np.ndarray:
    return eta * np.concatenate([[0], np.arange(1, steps // log_every + 1) * log_every])


def coupled_runs(objective, widths, m_ref: int, init: ParticleInit, key, d: int,
                 eta: float, tau: float, steps: int, log_every: int, replicas: int, data=None,
                 dtype=jnp.float32, progress: bool = False) -> CoupledRuns:
    """The M_ref reference and every N in ``widths`` (:func:`coupled_system`) on one width-free
    ``objective``."""
    clouds, alive = {}, {}
    for n in sorted(set(int(n) for n in widths) | {int(m_ref)}):
        clouds[n], alive[n] = coupled_system(objective, n, init, key, d, eta, tau, steps, log_every, replicas,
                                             data, dtype, progress)
    return CoupledRuns(log_times(eta, steps, log_every), clouds, int(m_ref), alive)


def _self_term(activation, theta):
    a, W = theta[:, 0], theta[:, 1:]
    return a @ gaussian_gram(activation, W) @ a / a.shape[0] ** 2


def _cross_term(activation, theta_a, theta_b):
    return (theta_a[:, 0] @ gaussian_gram(activation, theta_a[:, 1:], theta_b[:, 1:]) @ theta_b[:, 0]
            / (theta_a.shape[0] * theta_b.shape[0]))


def function_gap(activation, theta_a, theta_b) -> jax.Array:
    """‖f_μ − f_ν‖²_{L²(N(0,I))} for clouds θ (rows (a, w)) in the closed kernel form
    ΣΣ a a' K/N² − 2 ΣΣ a a' K/(NM) + ΣΣ a a' K/M² (exact; no Monte-Carlo error)."""
    return (_self_term(activation, theta_a) - 2 * _cross_term(activation, theta_a, theta_b)
            + _self_term(activation, theta_b))


def chaos_metrics(runs: CoupledRuns, activation, log=None) -> dict:
    """C_N(t) and G_N(t), arrays (R, n_logs+1) per N < M_ref. The reference's self term of G is
    computed once per (replica, time) and shared by every N. ``log(message)`` hears each size as it starts."""
    log = log or (lambda m: None)
    ref = runs.clouds[runs.m_ref]
    # replicas vmapped, logged times one after another (lax.map): R Gram matrices of M_ref² alive at once, not R·T
    over_time = lambda f: jax.jit(jax.vmap(lambda *xs: jax.lax.map(lambda a: f(*a), xs)))  # noqa: E731
    self_term = over_time(lambda r: _self_term(activation, r))
    parts = []
    for r in range(ref.shape[0]):  # one replica per call, so the log moves during the O(R·T·M_ref²) term
        log(f"the reference's self term (M_ref = {runs.m_ref} particles), replica {r + 1}/{ref.shape[0]}")
        parts.append(np.asarray(self_term(jnp.asarray(ref[r:r + 1]))))
    ref_self = np.concatenate(parts)
    gap = over_time(lambda x, r, rs: _self_term(activation, x) - 2 * _cross_term(activation, x, r) + rs)
    out = {}
    for n, cl in runs.clouds.items():
        if n == runs.m_ref:
            continue
        log(f"N = {n}")
        # float64: a diverged replica's frozen float32 state (up to ~1e38) squared stays finite
        C = np.mean(np.sum((np.asarray(cl, np.float64) - ref[:, :, :n]) ** 2, axis=-1), axis=-1)
        G = np.asarray(gap(jnp.asarray(cl), jnp.asarray(ref), jnp.asarray(ref_self)))
        out[n] = {"coupling": C, "function_gap": G}
    return out


def rate_fits(metrics: dict, times, n_boot: int = 1000, seed: int = 0) -> dict:
    """Slopes in N of C_N and G_N at every logged t > 0 and of their sup over t, and N·sup_t C_N(t)."""
    widths = sorted(metrics)
    out = {"widths": widths, "times": [float(t) for t in times]}
    for name in ("coupling", "function_gap"):
        per_t = []
        for j in range(1, len(times)):
            per_t.append(mean_loglog_slope(widths, [metrics[n][name][:, j] for n in widths], n_boot, seed))
        sup = mean_loglog_slope(widths, [metrics[n][name][:, 1:].max(axis=1) for n in widths], n_boot, seed)
        out[name] = {"per_time": per_t, "sup_over_time": sup,
                     "n_times_sup": [float(n * np.mean(metrics[n][name][:, 1:].max(axis=1))) for n in widths]}
    return out
