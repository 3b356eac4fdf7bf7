r"""SGLD learning-curve experiment: a grid of (P, κ, replica) chains under one compile, with the
infinite-width NNGP posterior mean (kernel ridge regression) on the same data for comparison.

Chains: one per (n_train P, noise κ, replica r). Replica r fixes the training set (the first P
rows of one shared draw: nested subsets, the usual learning-curve design), the initialisation
and the noise stream; different P and κ reuse them (common random numbers, so differences
across the grid are not blurred by sampling noise). Sample size enters through masking
(:func:`mflab.dynamics.masked_train_data`), temperature through per-chain :class:`Hyper`.

Reported posterior averages are means over the logged points after ``burn_in_fraction`` of the
run, for chains still alive.
"""
from __future__ import annotations

import itertools
import sys
import time
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..conventions import temperature
from ..dynamics import Hyper, TrainData, Trace, langevin, make_schedule, mse_objective, run_chains
from ..dynamics.runner import default_chain_batch, initial_observations
from ..errors import ConfigError, DivergenceError
from ..tasks.base import sample
from ..theory.krr import nngp_posterior_mean
from .config import require
from .rundir import RunDir, provenance
from .sections import check_representable, NetworkConfig, SGLDConfig, TaskConfig, build_network, build_task


@dataclass
class SGLDExperimentConfig:
    preset: str = "sgld-parity"
    seed: int = 0
    precision: str = "float32"
    theory: bool = True  # compute the NNGP-KRR prediction on the same data
    task: TaskConfig = field(default_factory=TaskConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sgld: SGLDConfig = field(default_factory=SGLDConfig)

    def validate(self):
        require(self.precision in ("float32", "float64"), "precision", f"unknown precision '{self.precision}'",
                "use float32 or float64")
        check_representable(self.task, self.network)
        require(self.seed >= 0, "seed", f"must be >= 0, got {self.seed}", "e.g. seed = 0")
        if self.sgld.batch_size is not None and self.sgld.batch_size > min(self.task.n_train):
            raise ConfigError("sgld.batch_size", f"{self.sgld.batch_size} exceeds the smallest n_train "
                              f"{min(self.task.n_train)}", "lower batch_size or omit it for full batch")


def _support_mask(task, d):
    m = np.zeros(d, bool)
    m[list(getattr(task, "support", ()))] = True
    return jnp.asarray(m)


def make_observe(net, task, X_test, y_test):
    support = _support_mask(task, task.d)
    n_s = max(int(support.sum()), 1)
    n_r = max(task.d - int(support.sum()), 1)

    def observe(params, data: TrainData):
        f_tr = net.apply(params, data.X)
        f_te = net.apply(params, X_test)
        W2 = params.W**2
        return {
            "train_mse": jnp.sum(data.weights * (f_tr - data.y) ** 2),
            "test_mse": jnp.mean((f_te - y_test) ** 2),
            "overlap": task.order_parameter(f_te, X_test),
            "w2_support": jnp.mean(jnp.sum(jnp.where(support, W2, 0.0), axis=1)) / n_s,
            "w2_rest": jnp.mean(jnp.sum(jnp.where(support, 0.0, W2), axis=1)) / n_r,
            "a2": jnp.mean(params.a**2),
        }

    return observe


def _save_checkpoint(rd: RunDir, result, name="checkpoint.npz"):
    leaves = jax.tree_util.tree_leaves(result.states)
    arrays = {f"state_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays.update({f"trace_{k}": v for k, v in result.trace.values.items()})
    rd.write_arrays(name, trace_steps=result.trace.steps, steps_done=result.steps_done, **arrays)


def _load_checkpoint(rd: RunDir, states_template, name="checkpoint.npz"):
    p = rd.path / name
    if not p.exists():
        return None
    z = np.load(p)
    leaves, treedef = jax.tree_util.tree_flatten(states_template)
    states = treedef.unflatten([jnp.asarray(z[f"state_{i}"]) for i in range(len(leaves))])
    trace = Trace(z["trace_steps"], {k[6:]: z[k] for k in z.files if k.startswith("trace_") and k != "trace_steps"})
    return states, trace, int(z["steps_done"])


@dataclass
class Grid:
    """The shared design of a (P, κ, replica) experiment: data, chains and their labels."""

    task: object
    net: object
    X_test: jax.Array
    y_test: jax.Array
    train: list  # per replica: (X, y) with max(P) rows
    points: list  # (P, κ, r) per chain
    Ps: np.ndarray
    kappas: np.ndarray
    reps: np.ndarray
    temps: jax.Array
    data: TrainData  # per chain, masked to its P
    k_chain: jax.Array


def prepare(task_cfg: TaskConfig, net_cfg: NetworkConfig, sg: SGLDConfig, seed: int) -> Grid:
    task, net = build_task(task_cfg), build_network(net_cfg)
    P_max = max(task_cfg.n_train)
    k_data, k_test, k_chain = jax.random.split(jax.random.key(seed), 3)
    X_test, y_test = sample(task, k_test, task_cfg.n_test)
    train = [sample(task, jax.random.fold_in(k_data, r), P_max, task_cfg.label_noise) for r in range(sg.replicas)]
    points = list(itertools.product(task_cfg.n_train, sg.kappa, range(sg.replicas)))
    Ps = np.array([p[0] for p in points])
    kappas = np.array([p[1] for p in points])
    reps = np.array([p[2] for p in points])

    def stack(fn):
        return jnp.stack([fn(P, r) for (P, kap, r) in points])

    X = stack(lambda P, r: train[r][0])
    data = TrainData(X, stack(lambda P, r: train[r][1]), stack(lambda P, r: (jnp.arange(P_max) < P) / P).astype(X.dtype))
    temps = jnp.asarray([temperature(k, sg.temperature_convention) for k in kappas], X.dtype)
    return Grid(task, net, X_test, y_test, train, points, Ps, kappas, reps, temps, data, k_chain)


@dataclass
class Simulation:
    trace: Trace
    final: dict  # posterior averages per chain
    alive: np.ndarray
    params: object
    states: object
    wall: float
    steps_run: int  # steps advanced in this call (0 when resumed at the end)
    steps_done: int  # the step every chain reached (all chains stop together if all diverge)


def simulate(g: Grid, sg: SGLDConfig, rd: RunDir, progress=True, log=None, checkpoint="checkpoint.npz") -> Simulation:
    """Run (or resume from ``rd/checkpoint``) the SGLD chains of a grid; posterior averages after burn-in."""
    log = log or (lambda m: print(m, file=sys.stderr))
    net, task, d, C = g.net, g.task, g.task.d, len(g.points)
    chain_keys = jnp.stack([jax.random.fold_in(g.k_chain, int(r)) for r in g.reps])
    init_keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(g.k_chain, 10**6), int(r)) for r in g.reps])
    schedule = make_schedule(sg.schedule, sg.lr, sg.lr_final, sg.decay_steps, sg.power)
    kernel = langevin(mse_objective(net, sg.batch_size), net.prior_variances(d), schedule, net.lr_multipliers(),
                      sg.noise)
    states = jax.vmap(lambda k: kernel.init(net.init(k, d)))(init_keys)
    observe = make_observe(net, task, g.X_test, g.y_test)
    resumed = _load_checkpoint(rd, states, checkpoint)
    if resumed is not None:
        states, trace, start = resumed
        log(f"resuming SGLD from step {start} of {sg.steps}")
    else:
        trace, start = Trace(np.zeros(1, np.int64), initial_observations(observe, states, g.data)), 0
    t0 = time.perf_counter()
    result = run_chains(kernel, states, chain_keys, Hyper(g.temps, jnp.ones(C, g.temps.dtype)), g.data,
                        n_steps=sg.steps, log_every=sg.log_every, observe=observe, chunk_steps=sg.chunk_steps,
                        chain_batch=sg.chain_batch or None, start_step=start, trace=trace, progress=progress,
                        desc=f"SGLD {C} chains", on_chunk=lambda res: _save_checkpoint(rd, res, checkpoint), log=log)
    wall = time.perf_counter() - t0
    tr = result.trace
    alive_log = tr.values["alive"].astype(bool)
    burn = tr.steps >= sg.burn_in_fraction * tr.steps[-1]
    final = {}
    for k in tr.values:
        if k == "alive":
            continue
        v = np.where(alive_log & burn[None, :], tr.values[k], np.nan)
        with warnings.catch_warnings():  # an all-NaN row (a chain dead before burn-in) gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            final[k] = np.nanmean(v, axis=1)
    return Simulation(tr, final, np.asarray(result.states.alive), jax.device_get(result.states.params), result.states,
                      wall, result.steps_done - start, result.steps_done)


def krr_grid(g: Grid) -> dict:
    """NNGP posterior mean (KRR, ridge TP/2) on each chain's data: test MSE and overlap per chain."""
    out = {"test_mse": np.full(len(g.points), np.nan), "overlap": np.full(len(g.points), np.nan)}
    cache = {}
    for c, (P, kap, r) in enumerate(g.points):
        if (P, kap, r) not in cache:
            f = nngp_posterior_mean(g.net, g.train[r][0][:P], g.train[r][1][:P], g.X_test, float(g.temps[c]))
            cache[(P, kap, r)] = (float(jnp.mean((f - g.y_test) ** 2)), float(g.task.order_parameter(f, g.X_test)))
        out["test_mse"][c], out["overlap"][c] = cache[(P, kap, r)]
    return out


def run(cfg: SGLDExperimentConfig, rd: RunDir, progress: bool = True, log=None) -> dict:
    """Run (or resume) the experiment into ``rd``; returns the summary dict."""
    log = log or (lambda m: print(m, file=sys.stderr))
    jax.config.update("jax_enable_x64", cfg.precision == "float64")
    sg = cfg.sgld
    g = prepare(cfg.task, cfg.network, sg, cfg.seed)
    C, Ps, kappas, reps, task = len(g.points), g.Ps, g.kappas, g.reps, g.task
    rd.write_json("provenance.json", provenance(cfg.seed, {"chain_batch": sg.chain_batch or default_chain_batch(C)}))
    sim = simulate(g, sg, rd, progress, log)
    tr, final, alive, params = sim.trace, sim.final, sim.alive, sim.params
    names = list(final)

    # --- tables ------------------------------------------------------------------------
    rd.write_table("trace", trace_rows(tr, g))
    theory = krr_grid(g) if cfg.theory else {"test_mse": np.full(C, np.nan), "overlap": np.full(C, np.nan)}
    final_rows = [{"chain": c, "n_train": Ps[c], "kappa": kappas[c], "replica": reps[c], "alive": bool(alive[c]),
                   **{k: final[k][c] for k in names}, "krr_test_mse": theory["test_mse"][c],
                   "krr_overlap": theory["overlap"][c]} for c in range(C)]
    rd.write_table("final", final_rows)
    point_rows = []
    for P in cfg.task.n_train:
        for kap in sg.kappa:
            sel = (Ps == P) & (kappas == kap)
            row = {"n_train": P, "kappa": kap, "replicas_alive": int(alive[sel].sum())}
            for k in ("overlap", "test_mse", "train_mse"):
                with np.errstate(all="ignore"):
                    row[k] = np.nanmean(final[k][sel]) if np.any(np.isfinite(final[k][sel])) else np.nan
                    row[k + "_std"] = np.nanstd(final[k][sel]) if np.any(np.isfinite(final[k][sel])) else np.nan
            row["krr_overlap"], row["krr_test_mse"] = np.mean(theory["overlap"][sel]), np.mean(theory["test_mse"][sel])
            point_rows.append(row)
    rd.write_table("points", point_rows)
    rd.write_arrays("results/final_params.npz", W=params.W, a=params.a, n_train=Ps, kappa=kappas, replica=reps,
                    **({"b": params.b} if params.b is not None else {}))

    # --- figures -------------------------------------------------------------------------
    from . import plotting

    rd.save_figure(plotting.sgld_trajectories(tr, Ps, kappas, theory), "trajectories")
    rd.save_figure(plotting.learning_curves(point_rows, task_name=task.name), "learning_curve")
    best = int(np.argmax(np.where(alive, Ps * 1.0 - kappas, -np.inf)))
    rd.save_figure(plotting.weight_map(params.W[best], getattr(task, "support", ()),
                                       title=f"|W| at P={Ps[best]}, κ={kappas[best]:g}"), "weights")

    summary = {
        "preset": cfg.preset, "status": "completed" if alive.any() else "diverged",
        "chains": C, "steps": sim.steps_done, "wall_seconds": sim.wall,
        "chain_steps_per_second": C * sim.steps_run / sim.wall if sim.wall > 0 and sim.steps_run else None,
        "diverged_chains": diverged_rows(sim, g),
        "points": point_rows,
    }
    finish(rd, summary)
    if not alive.any():
        first = min(int(x) for x in np.asarray(sim.states.diverged_at))
        raise DivergenceError(f"all {C} chains diverged (first at step {first}); "
                              f"results up to then are in '{rd.path.name}'. Fix: lower sgld.lr (now {sg.lr:g}).")
    return summary


def trace_rows(tr: Trace, g: Grid) -> list[dict]:
    names = [k for k in tr.values if k != "alive"]
    alive_log = tr.values["alive"].astype(bool)
    return [{"chain": c, "n_train": g.Ps[c], "kappa": g.kappas[c], "replica": g.reps[c], "step": int(s),
             "alive": bool(alive_log[c, j]), **{k: tr.values[k][c, j] for k in names}}
            for c in range(len(g.points)) for j, s in enumerate(tr.steps)]


def diverged_rows(sim: Simulation, g: Grid) -> list[dict]:
    return [{"chain": int(c), "n_train": g.Ps[c], "kappa": g.kappas[c], "replica": g.reps[c],
             "step": int(sim.states.diverged_at[c]), "leaf": int(sim.states.bad_leaf[c])}
            for c in np.flatnonzero(~sim.alive)]


def finish(rd: RunDir, summary: dict):
    """Write the summary and remove checkpoints: the run is complete."""
    rd.write_json("summary.json", summary)
    for ck in rd.path.glob("checkpoint*.npz"):
        ck.unlink()
