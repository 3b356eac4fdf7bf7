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
from .config import require, to_dict
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


def grid_points(cfg: SGLDExperimentConfig) -> list[tuple[int, float, int]]:
    return list(itertools.product(cfg.task.n_train, cfg.sgld.kappa, range(cfg.sgld.replicas)))


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


def _save_checkpoint(rd: RunDir, result):
    leaves = jax.tree_util.tree_leaves(result.states)
    arrays = {f"state_{i}": np.asarray(x) for i, x in enumerate(leaves)}
    arrays.update({f"trace_{k}": v for k, v in result.trace.values.items()})
    rd.write_arrays("checkpoint.npz", trace_steps=result.trace.steps, steps_done=result.steps_done, **arrays)


def _load_checkpoint(rd: RunDir, states_template):
    p = rd.path / "checkpoint.npz"
    if not p.exists():
        return None
    z = np.load(p)
    leaves, treedef = jax.tree_util.tree_flatten(states_template)
    states = treedef.unflatten([jnp.asarray(z[f"state_{i}"]) for i in range(len(leaves))])
    trace = Trace(z["trace_steps"], {k[6:]: z[k] for k in z.files if k.startswith("trace_") and k != "trace_steps"})
    return states, trace, int(z["steps_done"])


def run(cfg: SGLDExperimentConfig, rd: RunDir, progress: bool = True, log=None) -> dict:
    """Run (or resume) the experiment into ``rd``; returns the summary dict."""
    log = log or (lambda m: print(m, file=sys.stderr))
    jax.config.update("jax_enable_x64", cfg.precision == "float64")
    task, net = build_task(cfg.task), build_network(cfg.network)
    sg = cfg.sgld
    d, P_max = task.d, max(cfg.task.n_train)
    key = jax.random.key(cfg.seed)
    k_data, k_test, k_chain = jax.random.split(key, 3)

    X_test, y_test = sample(task, k_test, cfg.task.n_test)
    train = [sample(task, jax.random.fold_in(k_data, r), P_max, cfg.task.label_noise) for r in range(sg.replicas)]
    points = grid_points(cfg)
    C = len(points)
    Ps = np.array([p[0] for p in points])
    kappas = np.array([p[1] for p in points])
    reps = np.array([p[2] for p in points])

    def stack(fn):
        return jnp.stack([fn(P, kap, r) for (P, kap, r) in points])

    data = TrainData(stack(lambda P, kap, r: train[r][0]), stack(lambda P, kap, r: train[r][1]),
                     stack(lambda P, kap, r: (jnp.arange(P_max) < P) / P))
    data = data._replace(weights=data.weights.astype(data.X.dtype))
    temps = jnp.asarray([temperature(k, sg.temperature_convention) for k in kappas], data.X.dtype)
    hypers = Hyper(temps, jnp.ones(C, data.X.dtype))
    chain_keys = jnp.stack([jax.random.fold_in(k_chain, int(r)) for r in reps])
    init_keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(k_chain, 10**6), int(r)) for r in reps])

    schedule = make_schedule(sg.schedule, sg.lr, sg.lr_final, sg.decay_steps, sg.power)
    kernel = langevin(mse_objective(net, sg.batch_size), net.prior_variances(d), schedule, net.lr_multipliers(),
                      sg.noise)
    states = jax.vmap(lambda k: kernel.init(net.init(k, d)))(init_keys)
    observe = make_observe(net, task, X_test, y_test)

    rd.write_json("provenance.json", provenance(cfg.seed, {"chain_batch": sg.chain_batch or default_chain_batch(C)}))
    resumed = _load_checkpoint(rd, states)
    if resumed is not None:
        states, trace, start = resumed
        log(f"resuming from step {start} of {sg.steps}")
    else:
        trace, start = Trace(np.zeros(1, np.int64), initial_observations(observe, states, data)), 0

    t0 = time.perf_counter()
    result = run_chains(kernel, states, chain_keys, hypers, data, n_steps=sg.steps, log_every=sg.log_every,
                        observe=observe, chunk_steps=sg.chunk_steps, chain_batch=sg.chain_batch or None,
                        start_step=start, trace=trace, progress=progress, desc=f"SGLD {C} chains",
                        on_chunk=lambda res: _save_checkpoint(rd, res), log=log)
    wall = time.perf_counter() - t0
    steps_run = result.steps_done - start

    # --- tables ------------------------------------------------------------------------
    tr = result.trace
    names = [k for k in tr.values if k != "alive"]
    alive_log = tr.values["alive"].astype(bool)
    rows = []
    for c in range(C):
        for j, s in enumerate(tr.steps):
            rows.append({"chain": c, "n_train": Ps[c], "kappa": kappas[c], "replica": reps[c], "step": int(s),
                         "alive": bool(alive_log[c, j]), **{k: tr.values[k][c, j] for k in names}})
    rd.write_table("trace", rows)

    burn = tr.steps >= sg.burn_in_fraction * tr.steps[-1]
    final = {}
    for k in names:
        v = np.where(alive_log & burn[None, :], tr.values[k], np.nan)
        with np.errstate(all="ignore"):
            final[k] = np.nanmean(v, axis=1) if np.any(~np.isnan(v)) else np.full(C, np.nan)
    theory = {"test_mse": np.full(C, np.nan), "overlap": np.full(C, np.nan)}
    if cfg.theory:
        cache = {}
        for c, (P, kap, r) in enumerate(points):
            if (P, kap, r) not in cache:
                f = nngp_posterior_mean(net, train[r][0][:P], train[r][1][:P], X_test, float(temps[c]))
                cache[(P, kap, r)] = (float(jnp.mean((f - y_test) ** 2)), float(task.order_parameter(f, X_test)))
            theory["test_mse"][c], theory["overlap"][c] = cache[(P, kap, r)]
    alive = np.asarray(result.states.alive)
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
                    row[k] = np.nanmean(final[k][sel])
                    row[k + "_std"] = np.nanstd(final[k][sel])
            row["krr_overlap"], row["krr_test_mse"] = np.mean(theory["overlap"][sel]), np.mean(theory["test_mse"][sel])
            point_rows.append(row)
    rd.write_table("points", point_rows)
    params = jax.device_get(result.states.params)
    rd.write_arrays("results/final_params.npz", W=params.W, a=params.a, n_train=Ps, kappa=kappas, replica=reps,
                    **({"b": params.b} if params.b is not None else {}))

    # --- figures -------------------------------------------------------------------------
    from . import plotting

    rd.save_figure(plotting.sgld_trajectories(tr, Ps, kappas, theory), "trajectories")
    rd.save_figure(plotting.learning_curves(point_rows, task_name=task.name), "learning_curve")
    best = int(np.argmax(np.where(alive, Ps * 1.0 - kappas, -np.inf)))
    rd.save_figure(plotting.weight_map(params.W[best], getattr(task, "support", ()),
                                       title=f"|W| at P={Ps[best]}, κ={kappas[best]:g}"), "weights")

    chain_steps = C * steps_run
    summary = {
        "preset": cfg.preset, "status": "completed" if alive.any() else "diverged",
        "chains": C, "steps": int(result.steps_done), "wall_seconds": wall,
        "chain_steps_per_second": chain_steps / wall if wall > 0 and steps_run else None,
        "diverged_chains": [{"chain": c, "n_train": Ps[c], "kappa": kappas[c], "replica": reps[c],
                             "step": int(result.states.diverged_at[c]), "leaf": int(result.states.bad_leaf[c])}
                            for c in np.flatnonzero(~alive)],
        "points": point_rows,
    }
    rd.write_json("summary.json", summary)
    ckpt = rd.path / "checkpoint.npz"
    if ckpt.exists():
        ckpt.unlink()
    if not alive.any():
        first = min(int(x) for x in np.asarray(result.states.diverged_at))
        raise DivergenceError(f"all {C} chains diverged (first at step {first}); "
                              f"results up to then are in '{rd.path.name}'. Fix: lower sgld.lr (now {sg.lr:g}).")
    return summary

