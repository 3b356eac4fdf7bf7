r"""Shared design of the Bayesian two-layer studies: the (P, κ, replica) chain grid under one compile,
its SGLD simulation with checkpoints, and the NNGP-KRR prediction on the same data.

Chains: one per (n_train P, noise κ, replica r). Replica r fixes the training set (the first P
rows of one shared draw: nested subsets, the usual learning-curve design), the initialisation
and the noise stream; different P and κ reuse them (common random numbers, so differences
across the grid are not blurred by sampling noise). Sample size enters through masking
(:func:`mflab.dynamics.masked_train_data`), temperature through per-chain :class:`Hyper`.

Reported posterior averages are means over the logged points after ``burn_in_fraction`` of the
run, for chains still alive. Both errors of each chain's posterior (:mod:`mflab.theory.predictive`):
``test_mse_gibbs``, the average over those samples of each sample's test MSE, and ``test_mse_mean``,
the test MSE of their average f (the trace sums f on the test inputs after burn-in instead of storing
every sample). NNGP-KRR gives the same two: its posterior mean's error, and that plus its predictive
variance.
"""
from __future__ import annotations

import itertools
import math
import sys
import time
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...conventions import PosteriorNoise, posterior_noise
from ...dynamics import (TrainData, Trace, make_schedule, network_posterior_kernel, posterior_hyper, posterior_multipliers,
                         run_chains)
from ...dynamics.runner import initial_observations
from ...tasks.base import sample
from ...theory.krr import nngp_posterior_nested
from ...errors import MflabError
from ...framework.rundir import RunDir
from .sections import NetworkConfig, SGLDConfig, TaskConfig, build_network


def _support_mask(task, d):
    m = np.zeros(d, bool)
    m[list(getattr(task, "support", ()))] = True
    return jnp.asarray(m)


def make_observe(net, task, X_test, y_test):
    support = _support_mask(task, task.d)
    n_s = max(int(support.sum()), 1)
    n_r = max(task.d - int(support.sum()), 1)

    signed = getattr(task, "signed_labels", False)

    def observe(params, data: TrainData):
        f_tr = net.apply(params, data.X)
        f_te = net.apply(params, X_test)
        W2 = params.W**2
        extra = {"train_error01": jnp.sum(data.weights * (jnp.sign(f_tr) != jnp.sign(data.y)))} if signed else {}
        return {**extra,
            "train_mse": jnp.sum(data.weights * (f_tr - data.y) ** 2),
            "test_mse": jnp.mean((f_te - y_test) ** 2),
            "overlap": task.order_parameter(f_te, X_test),
            "w2_support": jnp.mean(jnp.sum(jnp.where(support, W2, 0.0), axis=1)) / n_s,
            "w2_rest": jnp.mean(jnp.sum(jnp.where(support, 0.0, W2), axis=1)) / n_r,
            "a2": jnp.mean(params.a**2),
            "f_test": f_te,  # summed after burn-in (SUMMED), not logged per step
        }

    return observe


ERRORS = {"test_mse_mean": "error of the posterior mean  E(⟨f⟩ − y)²",  # both errors of every method's
          "test_mse_gibbs": "Gibbs error  E E_f (f − y)²"}  # posterior (mflab.theory.predictive), with labels


COLUMNS = {  # the posterior studies' table columns: (description, units), attributes of sweep datasets
    "n_train": ("training set size P", ""), "kappa": ("posterior noise κ (temperature T = 2κ²)", ""),
    "replica": ("replica index (data set, initialisation, noise)", ""),
    "method": ("sgld (network), mf, mf-ard (mean-field theory), krr (NNGP, N = ∞)", ""),
    "overlap": ("target overlap m of the posterior mean ⟨f⟩ (1: learned, ≈0: not)", ""),
    "test_mse_mean": ("test MSE of the posterior mean, E(⟨f⟩ − y)²", "squared target units"),
    "test_mse_gibbs": ("Gibbs error: posterior average of each sample's test MSE, E E_f(f − y)²",
                       "squared target units"),
    "krr_overlap": ("NNGP-KRR (N = ∞) overlap on the same data", ""),
    "krr_test_mse_mean": ("NNGP-KRR test MSE of its posterior mean", "squared target units"),
    "krr_test_mse_gibbs": ("NNGP-KRR Gibbs error (posterior-mean error + GP variance)", "squared target units"),
    "converged": ("the method's convergence test passed", ""), "residual": ("MF field drift at the end", ""),
    "train_mse": ("MF: training MSE of the mean field ⟨f⟩, averaged over the last mf.patience chunks",
                  "squared target units"),
    **{f"{k}_std": (f"standard deviation over replicas of {k}", "") for k in ("overlap", *ERRORS)},
}


def divergence_fix(g: "PosteriorDesign", sg: SGLDConfig, net_cfg: NetworkConfig | None = None) -> str:
    """What to change when SGLD chains diverge, naming the field that is the cause. The prior drift of
    the update, η·m_θ·T/σ_θ² per step, is unstable past ~1: then κ (T = 2κ²), not the rate, is too
    large for the learning rate; an overridden γ scales every gradient by N^-γ; else the rate."""
    import jax.tree_util as tu

    T = float(np.max(np.asarray(g.noise.temperature)))
    mult = posterior_multipliers(g.net, sg.preconditioner.value())
    drift = max(m * T / v for m, v in zip(tu.tree_leaves(mult), tu.tree_leaves(g.net.prior_variances(g.task.d))))
    if sg.lr * drift >= 1:
        return (f"lower sgld.lr (now {sg.lr:g}) below {1 / drift:.3g}, or sgld.kappa (now up to "
                f"{float(np.max(g.kappas)):g}): the prior drift η·m·T/σ² = {sg.lr * drift:.3g} per step (T = 2κ²) "
                "is unstable past 1")
    fix = f"lower sgld.lr (now {sg.lr:g})"
    if net_cfg is not None and net_cfg.gamma is not None:
        fix += (f", or check network.gamma (now {net_cfg.gamma:g}: the output multiplier N^-γ = "
                f"{g.net.width ** -net_cfg.gamma:.3g} scales every gradient)")
    return fix


def sampler_label(sg: SGLDConfig) -> str:
    """The network posterior's method in tables and legends: the sampler, and "final weights" when each
    chain's sample is its final state."""
    name = {"sgld": "SGLD", "kinetic": "kinetic Langevin"}[sg.sampler]
    pre = sg.preconditioner
    extras = []
    if (pre.first_layer, pre.readout) != (1.0, 1.0):
        extras.append(f"M⁻¹: first layer ×{pre.first_layer:g}, readout ×{pre.readout:g}")
    if sg.readout_gibbs_every is not None:
        extras.append(f"readout drawn exactly every {sg.readout_gibbs_every} steps")
    if extras:
        name += f" ({'; '.join(extras)})"
    return name + (" (final weights)" if sg.sample == "final" else "")


def setting_title(g: "PosteriorDesign") -> str:
    """The setting for figure titles: task (with k where it has one), d, width N and activation."""
    k = getattr(g.task, "k", None)
    return (f"{g.task.name}{f' k={k}' if k is not None else ''}, d={g.task.d}, N={g.net.width} "
            f"{g.net.activation.name}")


SUMMED = ("f_test",)  # observables of make_observe that the trace sums after burn-in


def new_trace(sum_from: int) -> Trace:
    """An empty trace of the SGLD observables, summing f on the test inputs from step ``sum_from``."""
    return Trace(summed=SUMMED, sum_from=math.ceil(sum_from))


def _save_checkpoint(rd: RunDir, result, name="checkpoint.npz"):
    leaves = jax.tree_util.tree_leaves(result.states)
    tr = result.trace
    arrays = {f"state_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    if result.halt_hits is not None:
        arrays["halt_hits"] = np.asarray(result.halt_hits)
    arrays.update({f"trace_{k}": v for k, v in tr.values.items()})
    if tr.sum_count:  # nothing summed yet (or ever: the "final weights" sample) leaves no sums to keep: zeros
        arrays.update({f"sum_{k}": v for k, v in tr.sums.items()})  # of C × n_test, 6 MB at the published size
    rd.write_checkpoint(name, trace_steps=tr.steps, steps_done=result.steps_done, sum_count=tr.sum_count,
                        sum_from=tr.sum_from, **arrays)


def _load_checkpoint(rd: RunDir, states_template, n_steps: int, name="checkpoint.npz"):
    """(states, trace, steps done, stopping-rule hits or None) of an SGLD checkpoint stamped with this run's
    configuration, or None."""
    z = rd.read_checkpoint(name)
    if z is None:
        return None
    leaves, treedef = jax.tree_util.tree_flatten(states_template)
    try:
        arrays = [z[f"state_{i}"] for i in range(len(leaves))]
        if any(a.shape != np.shape(t) or a.dtype != np.asarray(t).dtype for a, t in zip(arrays, leaves)):
            raise ValueError("its chain states do not have this configuration's shapes")
        states = treedef.unflatten([jnp.asarray(a) for a in arrays])
        hits = np.asarray(z["halt_hits"]) if "halt_hits" in z else None
        if hits is not None and hits.shape != np.shape(states_template.alive):
            raise ValueError("its stopping-rule record does not have one entry per chain")
        trace = Trace(z["trace_steps"], {k[6:]: z[k] for k in z if k.startswith("trace_") and k != "trace_steps"},
                      SUMMED, int(z["sum_from"]), {k[4:]: z[k] for k in z if k.startswith("sum_") and
                                                   k not in ("sum_count", "sum_from")}, int(z["sum_count"]))
        if trace.sum_count and set(trace.sums) != set(SUMMED):
            raise ValueError("its posterior sums are missing")
        start = int(z["steps_done"])
        if not 0 <= start <= n_steps or (len(trace.steps) and trace.steps[-1] != start):
            raise ValueError(f"its step count {start} is outside this run's 0..{n_steps}")
    except (KeyError, ValueError, TypeError) as e:
        raise MflabError(f"checkpoint '{name}' cannot be resumed ({str(e) or type(e).__name__}); fix: delete it to "
                         "restart the SGLD chains, or rerun with --force") from None
    return states, trace, start, hits


@dataclass
class PosteriorDesign:
    """The shared design of a (P, κ, replica) experiment: one training set per replica (nested
    subsets over P), one test set, and one chain per (P, κ, replica) with its masked data and temperature."""

    task: object
    net: object
    X_test: jax.Array
    y_test: jax.Array
    train: list  # per replica: (X, y) with max(P) rows
    points: list  # (P, κ, r) per chain
    Ps: np.ndarray
    kappas: np.ndarray
    reps: np.ndarray
    noise: PosteriorNoise  # per chain: κ (numpy) and T (the chains' dtype)
    data: TrainData  # per chain, masked to its P
    k_chain: jax.Array


def chain_points(n_train, kappa, replicas: int) -> list[tuple]:
    """The posterior studies' chains (and MF lanes), in their order: (P, κ, replica), P slowest and the
    replica fastest, P and κ in the configuration's order (not sorted). Results, traces and checkpoints are
    laid out in this order; scripts that read them call this rather than rebuild it."""
    kappa = kappa if isinstance(kappa, (list, tuple)) else [kappa]
    return list(itertools.product(n_train, kappa, range(replicas)))


def prepare(task_cfg: TaskConfig, net_cfg: NetworkConfig, sg: SGLDConfig, seed: int) -> PosteriorDesign:
    task, net = task_cfg.build(), build_network(net_cfg)
    P_max = max(task_cfg.n_train)
    k_data, k_test, k_chain = jax.random.split(jax.random.key(seed), 3)
    X_test, y_test = sample(task, k_test, task_cfg.n_test)
    train = [sample(task, jax.random.fold_in(k_data, r), P_max, task_cfg.label_noise) for r in range(sg.replicas)]
    points = chain_points(task_cfg.n_train, sg.kappa, sg.replicas)
    Ps = np.array([p[0] for p in points])
    kappas = np.array([p[1] for p in points])
    reps = np.array([p[2] for p in points])

    def stack(fn):
        return jnp.stack([fn(P, r) for (P, kap, r) in points])

    X = stack(lambda P, r: train[r][0])
    data = TrainData(X, stack(lambda P, r: train[r][1]), stack(lambda P, r: (jnp.arange(P_max) < P) / P).astype(X.dtype))
    noises = [posterior_noise(float(k), sg.temperature_convention) for k in kappas]
    noise = PosteriorNoise(np.array([n.kappa for n in noises]), jnp.asarray([n.temperature for n in noises], X.dtype))
    return PosteriorDesign(task, net, X_test, y_test, train, points, Ps, kappas, reps, noise, data, k_chain)


@dataclass
class Simulation:
    """The network posterior of a (P, κ, replica) grid after :func:`simulate`: the trace, each chain's posterior
    metrics, alive flags, final parameters and states, wall time and the steps run and reached."""

    trace: Trace
    final: dict  # posterior averages per chain
    alive: np.ndarray
    params: object
    states: object
    wall: float
    steps_run: int  # steps advanced in this call (0 when resumed at the end)
    steps_done: int  # the step every chain reached (all chains stop together if all diverge)


def simulate(g: PosteriorDesign, sg: SGLDConfig, rd: RunDir, progress=True, log=None, checkpoint="checkpoint.npz",
             net_cfg: NetworkConfig | None = None) -> Simulation:
    """Run (or resume from ``rd/checkpoint``) the network chains of a grid; posterior averages after burn-in.

    With ``sg.group_by_n_train`` the chains of each training-set size P run as one group on their own P
    points (each group checkpointed apart, ``checkpoint`` with ``.P<P>`` before its extension); otherwise all
    chains run as one batch whose data are padded to the largest P (masked weights). A chain's keys, start
    and data do not depend on the grouping, so both give the same chains up to float rounding. Groups that
    ended early (every chain stopped or diverged) stand still: their last log is repeated to the grid's
    length, and their posterior means are those of their own logs."""
    log = log or (lambda m: print(m, file=sys.stderr))
    C = len(g.points)
    Ps = sorted(set(int(P) for P in g.Ps))
    groups = ([np.flatnonzero(g.Ps == P) for P in Ps] if sg.group_by_n_train and len(Ps) > 1 else [np.arange(C)])
    label = sampler_label(sg).split(" (")[0]
    runs = []
    for i, idx in enumerate(groups):
        P = int(g.Ps[idx].max())
        name, desc = checkpoint, f"{label} {len(idx)} chains"
        if len(groups) > 1:
            stem, dot, ext = checkpoint.rpartition(".")
            name = f"{stem}.P{P}.{ext}" if dot else f"{checkpoint}.P{P}"
            desc += f", P = {P} ({i + 1}/{len(groups)})"
        runs.append(_simulate_group(g, sg, rd, idx, P, progress, log, name, net_cfg, desc))
    return _merge_groups(g, sg, groups, runs)


def _simulate_group(g: PosteriorDesign, sg: SGLDConfig, rd: RunDir, idx, P: int, progress, log, checkpoint, net_cfg,
                    desc) -> dict:
    """The chains ``idx`` of the grid on their first ``P`` training points: run_chains's result, the step it
    started from and its wall time."""
    net, task, d = g.net, g.task, g.task.d
    pick = lambda x: x[idx]  # noqa: E731
    data = TrainData(g.data.X[idx, :P], g.data.y[idx, :P], g.data.weights[idx, :P])
    T = g.noise.temperature[idx]
    chain_keys = jnp.stack([jax.random.fold_in(g.k_chain, int(g.reps[c])) for c in idx])
    init_keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(g.k_chain, 10**6), int(g.reps[c])) for c in idx])
    schedule = make_schedule(sg.schedule, sg.lr, sg.lr_final, sg.decay_steps, sg.power)
    kernel = network_posterior_kernel(net, d, schedule, sg.batch_size, sg.noise, sg.sampler, sg.preconditioner.value(),
                                      sg.readout_gibbs_every)
    states = jax.vmap(lambda k, dat, t: kernel.init(net.init(k, d), dat, k, t))(init_keys, data, T)
    if sg.init_from is not None:
        start_params = jax.tree_util.tree_map(pick, learned_start(sg.init_from, g, states.params))
        states = jax.vmap(lambda p, dat, t: kernel.init(p, dat, None, t))(start_params, data, T)
    observe = make_observe(net, task, g.X_test, g.y_test)
    resumed = _load_checkpoint(rd, states, sg.steps, checkpoint)
    hits = None
    if resumed is not None:
        states, trace, start, hits = resumed
        log(f"resuming {desc} from step {start} of {sg.steps}")
    else:
        # the final-weights sample never reads the sums of f: none are taken (they were C × n_test per log)
        trace, start = new_trace(sg.steps + 1 if sg.sample == "final" else sg.burn_in_fraction * sg.steps), 0
        trace.append(np.zeros(1, np.int64), initial_observations(observe, states, data))
    t0 = time.perf_counter()
    hyper = posterior_hyper(sg.sampler, net, d, T, sg.lr, sg.friction, sg.preconditioner.value())  # T, η (, γ)
    halt, halt_args = stop_rule(sg, g)
    result = run_chains(kernel, states, chain_keys, hyper, data,
                        n_steps=sg.steps, log_every=sg.log_every, observe=observe, chunk_steps=sg.chunk_steps,
                        chain_batch=sg.chain_batch or None, start_step=start, trace=trace, progress=progress,
                        desc=desc, on_chunk=lambda res: _save_checkpoint(rd, res, checkpoint), log=log,
                        divergence_fix=divergence_fix(g, sg, net_cfg), halt=halt,
                        halt_args=None if halt_args is None else halt_args[idx],
                        halt_after=sg.stop.extra_steps if sg.stop else 0, halt_hits=hits)
    return {"result": result, "start": start, "wall": time.perf_counter() - t0}


def _merge_groups(g: PosteriorDesign, sg: SGLDConfig, groups, runs) -> Simulation:
    """One :class:`Simulation` in the grid's chain order from the groups' runs (:func:`simulate`)."""
    C = len(g.points)
    order = np.concatenate(groups)
    inverse = np.empty(C, np.int64)
    inverse[order] = np.arange(C)
    results = [r["result"] for r in runs]
    traces = [res.trace for res in results]
    steps = max((tr.steps for tr in traces), key=len)
    values = {}
    for k in traces[0].values:
        parts = []
        for tr in traces:
            v = tr.values[k]
            if v.shape[1] < len(steps):  # a group that ended early stands still: repeat its last log
                v = np.concatenate([v, np.repeat(v[:, -1:], len(steps) - v.shape[1], axis=1)], axis=1)
            parts.append(v)
        values[k] = np.concatenate(parts)[inverse]
    count = max(tr.sum_count for tr in traces)
    sums = {k: np.concatenate([tr.sums[k] if tr.sum_count == count else tr.sums[k] / max(tr.sum_count, 1) * count
                               for tr in traces])[inverse] for k in traces[0].sums}
    trace = Trace(steps, values, traces[0].summed, traces[0].sum_from, sums, count)
    states = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs)[inverse], *[res.states for res in results])
    alive = np.asarray(states.alive)
    final = _final_sample(trace, sg, alive, g)
    if sg.stop is not None:  # the step at which the rule first held (NaN: never) and the chain's last step
        met = np.concatenate([np.asarray(res.halt_hits, float) for res in results])[inverse]
        done = np.concatenate([np.full(len(idx), res.steps_done, float) for idx, res in zip(groups, results)])[inverse]
        final["criterion_met_at"] = np.where(met >= 0, met, np.nan)
        final["stopped_at"] = np.where(met >= 0, np.minimum(met + sg.stop.extra_steps, done), done)
    steps_done = max(res.steps_done for res in results)
    # chain-weighted steps advanced in this call: chain-steps / C, so C·steps_run / wall is the chain-step rate
    steps_run = sum(len(idx) * (res.steps_done - r["start"]) for idx, res, r in zip(groups, results, runs)) / C
    return Simulation(trace, final, alive, jax.device_get(states.params), states, sum(r["wall"] for r in runs),
                      steps_run, steps_done)


def learned_start(run_dir: str, g: PosteriorDesign, template):
    """Initial parameters of every chain from a finished run's ``results/final_params.npz``: the final
    weights of its chain with the same replica (and the same κ where that run has it) at its largest P.
    A run of another shape, or without the replica, is refused in one line."""
    from pathlib import Path

    from ...errors import ConfigError
    from ...networks.two_layer import TwoLayerParams

    path = Path(run_dir) / "results" / "final_params.npz"
    try:
        with open(path, "rb") as fh, np.load(fh) as npz:
            z = dict(npz)
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError("sgld.init_from", f"cannot read '{path}' ({type(e).__name__})",
                          "give a finished sgld-parity run directory") from None
    shape = tuple(np.shape(template.W)[1:])
    if (z.get("W") is None or tuple(z["W"].shape[1:]) != shape or ("b" in z) != (template.b is not None)
            or ("c" in z) != (template.c is not None)):
        raise ConfigError("sgld.init_from", f"'{run_dir}' holds networks of another shape (W {z['W'].shape[1:] if 'W' in z else '?'}, "
                          f"biases {'b' in z}, output bias {'c' in z}) than this run's (W {shape}, biases "
                          f"{template.b is not None}, output bias {template.c is not None})",
                          "use a run with the same network.width, task.d, network.bias and network.output_bias")
    picks = []
    for P, kap, r in g.points:
        rows = np.flatnonzero(z["replica"] == r)
        if not len(rows):
            raise ConfigError("sgld.init_from", f"'{run_dir}' has no replica {r}",
                              f"use a run with at least {max(g.reps) + 1} replicas, or lower sgld.replicas")
        same_kappa = rows[np.isclose(z["kappa"][rows], kap)]
        rows = same_kappa if len(same_kappa) else rows
        picks.append(rows[np.argmax(z["n_train"][rows])])
    dtype = np.asarray(template.W).dtype
    pick = lambda k: jnp.asarray(z[k][picks], dtype) if k in z else None  # noqa: E731
    return TwoLayerParams(pick("W"), pick("a"), pick("b"), pick("c"))


def stop_rule(sg: SGLDConfig, g: PosteriorDesign):
    """(halt, halt_args) of :func:`mflab.dynamics.run_chains` for ``sg.stop`` (None, None without one):
    per chain, whether the fallback metric applies (its P and κ), and the test on the logged observables."""
    rule = sg.stop
    if rule is None:
        return None, None
    fallback = jnp.asarray([rule.uses_fallback(int(P), float(k)) for P, k in zip(g.Ps, g.kappas)])

    def halt(obs, use_fallback):
        met = obs[rule.metric] <= rule.below
        if rule.fallback_metric is None:
            return met
        return jnp.where(use_fallback, obs[rule.fallback_metric] <= rule.fallback_below, met)

    return halt, fallback


def _final_sample(tr: Trace, sg: SGLDConfig, alive: np.ndarray, g: PosteriorDesign) -> dict:
    """Per chain, the posterior sample's metrics. ``sample = "average"``: means over the logs after burn-in
    (the Gibbs error ``test_mse_gibbs``) and the error of the summed posterior mean of f (``test_mse_mean``).
    ``"final"``: the chain's last log, its final weights (a stopped chain stands still, so its last log is
    its stopping state): one posterior sample, whose test MSE is one draw of the Gibbs error; the error of
    a posterior mean needs more than one sample and is NaN."""
    C = len(g.points)
    alive_log = tr.values["alive"].astype(bool)
    names = [k for k in tr.values if k != "alive"]
    if sg.sample == "final":
        final = {k: np.where(alive, tr.values[k][:, -1], np.nan).astype(float) for k in names}
        final["test_mse_gibbs"] = final.pop("test_mse")
        final["test_mse_mean"] = np.full(C, np.nan)
        return final
    burn = tr.steps >= sg.burn_in_fraction * tr.steps[-1]
    final = {}
    for k in names:
        v = np.where(alive_log & burn[None, :], tr.values[k], np.nan)
        with warnings.catch_warnings():  # an all-NaN row (a chain dead before burn-in) gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            final[k] = np.nanmean(v, axis=1)
    final["test_mse_gibbs"] = final.pop("test_mse")
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged chain's sums are inf: set to NaN below
        final["test_mse_mean"] = (np.mean((tr.mean("f_test") - np.asarray(g.y_test)) ** 2, axis=1) if tr.sum_count
                                  else np.full(C, np.nan))
    final["test_mse_mean"][~alive] = np.nan
    return final


def simulation_result(sim: Simulation) -> dict:
    """The SGLD simulation as a unit result of :mod:`mflab.framework.study` (arrays only)."""
    out = {"trace_steps": sim.trace.steps, **{f"trace_{k}": v for k, v in sim.trace.values.items()},
           **{f"final_{k}": v for k, v in sim.final.items()}, "alive": sim.alive, "W": sim.params.W, "a": sim.params.a,
           "diverged_at": np.asarray(sim.states.diverged_at), "bad_leaf": np.asarray(sim.states.bad_leaf),
           "wall": np.asarray(sim.wall), "steps_run": np.asarray(sim.steps_run), "steps_done": np.asarray(sim.steps_done)}
    out.update({k: v for k, v in (("b", sim.params.b), ("c", sim.params.c)) if v is not None})
    return out


class SimulationRecord(NamedTuple):
    """A stored SGLD simulation, read back from its unit result."""

    trace: Trace
    final: dict
    alive: np.ndarray
    params: object
    diverged_at: np.ndarray
    bad_leaf: np.ndarray
    wall: float
    steps_run: int
    steps_done: int

    @classmethod
    def from_result(cls, r: dict) -> "SimulationRecord":
        from ...networks.two_layer import TwoLayerParams

        trace = Trace(r["trace_steps"], {k[6:]: r[k] for k in r if k.startswith("trace_") and k != "trace_steps"})
        final = {k[6:]: r[k] for k in r if k.startswith("final_")}
        return cls(trace, final, np.asarray(r["alive"], bool), TwoLayerParams(r["W"], r["a"], r.get("b"), r.get("c")),
                   r["diverged_at"], r["bad_leaf"], float(r["wall"]), int(r["steps_run"]), int(r["steps_done"]))


def krr_grid(g: PosteriorDesign, max_n_train: int | None = None) -> dict:
    """The NNGP posterior (KRR, ridge TP/2) on each chain's data, one compile for the grid: per chain the
    error of its posterior mean, its Gibbs error (plus the predictive variance) and the overlap of the mean.
    Points with P > ``max_n_train`` are not computed (NaN): KRR costs O(P³) time and O(P²) memory."""
    C = len(g.points)
    out = {"test_mse_mean": np.full(C, np.nan), "test_mse_gibbs": np.full(C, np.nan), "overlap": np.full(C, np.nan)}
    for r in sorted(set(g.reps.tolist())):
        chains = [c for c in range(C) if g.reps[c] == r and (max_n_train is None or g.Ps[c] <= max_n_train)]
        if not chains:
            continue
        PK = max(int(g.Ps[c]) for c in chains)
        X, y = g.train[r]
        posts = nngp_posterior_nested(g.net, X[:PK], y[:PK], g.X_test, [g.noise.at(c) for c in chains],
                                      [g.Ps[c] for c in chains])
        for c, post in zip(chains, posts):
            e = post.errors(g.y_test)
            out["test_mse_mean"][c], out["test_mse_gibbs"][c] = e.posterior_mean_error, e.gibbs_error
            out["overlap"][c] = float(g.task.order_parameter(post.mean, g.X_test))
    return out


def trace_rows(tr: Trace, g: PosteriorDesign) -> list[dict]:
    names = [k for k in tr.values if k != "alive"]
    alive_log = tr.values["alive"].astype(bool)
    return [{"chain": c, "n_train": g.Ps[c], "kappa": g.kappas[c], "replica": g.reps[c], "step": int(s),
             "alive": bool(alive_log[c, j]), **{k: tr.values[k][c, j] for k in names}}
            for c in range(len(g.points)) for j, s in enumerate(tr.steps)]


def diverged_rows(sim: SimulationRecord, g: PosteriorDesign) -> list[dict]:
    return [{"chain": int(c), "n_train": g.Ps[c], "kappa": g.kappas[c], "replica": g.reps[c],
             "step": int(sim.diverged_at[c]), "leaf": int(sim.bad_leaf[c])}
            for c in np.flatnonzero(~sim.alive)]
