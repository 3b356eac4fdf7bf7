r"""Phase-diagram experiment: SGLD, mean-field (MF), MF-ARD and NNGP-KRR on one (P, κ) grid.

Every method sees the same data: replica r's training set (nested subsets over P) and one shared
test set (:func:`mflab.studies.bayes.design.prepare`). Outputs: a tidy table with one row per
(method, P, κ, replica), phase diagrams of the target overlap m, learning curves with all
methods on one figure, weight marginals (input feature selection), the critical sample sizes
P_c(κ) and noises κ_c(P) per method (:mod:`mflab.analysis.phase`), and ``report.md``.

Resuming: each method is a unit of :mod:`mflab.framework.study` (``results/units/<method>.npz``, the raw
per-method results) and is not rerun once finished. SGLD and the MF solvers checkpoint every chunk
(``checkpoints/<method>.npz``).

MF test quantities use the posterior-mean predictor ⟨f⟩ averaged over the last ``mf.patience``
chunks of each point's solve (:func:`solve_mean_field`). SGLD's test MSE is the mean over logged posterior samples of the per-sample
MSE, as in the study (it includes the posterior variance of f).

Cost: MF points log the test overlap at the end of every chunk (``trace_overlap`` in the stage
file), so that the report can charge both methods by one equilibration criterion
(:func:`mf_equilibration_iterations`). MF compile time, one compile per P, is timed on its own.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from ...conventions import PRIORS, TwoLayerPrior, authors_single_index_priors, get_parametrization, posterior_noise
from ...analysis.equilibration import equilibration_step, equilibration_steps
from ...analysis.phase import critical_values
from ...errors import ConfigError, MflabError, suggest
from ...theory.mean_field import READOUTS, FieldDrift, MeanField, mf_init, mf_kernel, mf_posterior, mf_predict
from ...dynamics.objectives import TrainData
from ...dynamics.runner import Trace, default_chain_batch, run_chains
from ...framework.config import bounded, config_section, require, seed_field
from ...framework.presets import register
from ...framework.rundir import RunDir
from ...framework.study import Reduced, Study
from .sections import NetworkConfig, SGLDConfig, TaskConfig, check_posterior_memory, check_representable, check_sampler_fits_task
from .design import (COLUMNS, ERRORS, PosteriorDesign, divergence_fix, krr_grid, prepare, sampler_label, setting_title,
                     simulate, trace_rows)

METHODS = ("sgld", "mf", "mf-ard", "krr")


@dataclass
class MFConfig:
    """Mean-field solver settings (mflab.theory.mean_field). At most ``iterations`` outer iterations
    per grid point, each of ``inner_steps`` particle Langevin steps, in chunks of ``chunk_iterations``.

    Convergence (a drift test that sees through the particles' Monte-Carlo noise): the field on
    the training points averaged over the last ``patience`` chunks and over the ``patience`` chunks
    before must differ by less than ``tol`` in relative RMS. A point that never passes is reported
    as non-converged with its last drift."""

    particles: int = bounded(256, ge=1, fix="a positive integer")
    inner_steps: int = bounded(10, ge=1, fix="a positive integer")
    lr: float = bounded(0.5, gt=0, fix="a positive number")
    iterations: int = bounded(2000, ge=1, fix="a positive integer")
    chunk_iterations: int = bounded(100, ge=1, fix="a positive integer")
    alpha0: float = bounded(4.0, gt=0, fix="a positive number")
    beta0: Optional[float] = bounded(None, gt=0, fix="omit it for α0 σ_w²/d")
    ard_damping: float = bounded(0.5, gt=0, le=1, fix="e.g. 0.5")
    tol: float = bounded(0.02, gt=0, fix="a positive number")
    patience: int = bounded(3, ge=1, fix="a positive integer")
    # "integrated": the readout integrated out and the field solved exactly (mflab's); "particles": (w, a) particles
    # and field ← s Σ a φ, the authors' population dynamics (mflab.theory.mean_field)
    readout: str = "integrated"
    # true: each P starts from the previous P's solution (nested training sets); false: from the prior, as the
    # authors' scripts start every P
    warm_start: bool = True

    def validate(self):
        if self.readout not in READOUTS:
            raise ConfigError("mf.readout", f"unknown readout '{self.readout}'", suggest(self.readout, READOUTS))
        require(self.iterations % self.chunk_iterations == 0, "mf.iterations",
                f"{self.iterations} is not a multiple of chunk_iterations = {self.chunk_iterations}",
                f"use iterations = {max(1, round(self.iterations / self.chunk_iterations)) * self.chunk_iterations}")


@dataclass
class PhaseConfig:
    """Configuration of the phase study (presets ``parity-phase`` and ``hermite-index``): task, network,
    sampler, mean-field solver, methods, priors and the transition threshold. ``mflab config PRESET``
    prints every field."""

    preset: str = "parity-phase"
    seed: int = seed_field()
    precision: str = "float32"
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    threshold: float = 0.5  # m at which a transition is located
    equilibration_tol: float = 0.05  # band on m for SGLD's equilibration step (mflab.analysis.equilibration)
    main_kappa: Optional[float] = None  # κ of the learning-curve figure (default: the first κ)
    # "shared": the network section's prior for every method (the clean comparison); "authors": the two priors
    # of the authors' single-index scripts (mflab.conventions.authors_single_index_priors), network and theory
    prior: str = "shared"
    krr_max_n_train: Optional[int] = bounded(None, ge=1, fix="omit it to run KRR at every P")  # KRR is O(P³): cap it
    task: TaskConfig = field(default_factory=TaskConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sgld: SGLDConfig = field(default_factory=SGLDConfig)
    mf: MFConfig = field(default_factory=MFConfig)

    def validate(self):
        for i, m in enumerate(self.methods):
            if m not in METHODS:
                raise ConfigError(f"methods[{i}]", f"unknown method '{m}'", suggest(m, METHODS))
        if self.prior not in PRIORS:
            raise ConfigError("prior", f"unknown prior '{self.prior}'", suggest(self.prior, PRIORS))
        if self.prior == "authors":
            self._apply_authors_prior()
        require(self.precision in ("float32", "float64"), "precision", f"unknown precision '{self.precision}'",
                "use float32 or float64")
        require(0 < self.threshold < 1, "threshold", f"must be in (0, 1), got {self.threshold}", "e.g. 0.5")
        require(self.equilibration_tol > 0, "equilibration_tol", f"must be > 0, got {self.equilibration_tol}", "e.g. 0.05")
        require(self.main_kappa is None or self.main_kappa in self.sgld.kappa, "main_kappa",
                f"{self.main_kappa} is not in sgld.kappa {self.sgld.kappa}", "pick one of the grid's κ")
        check_representable(self.task, self.network)
        check_sampler_fits_task(self.task, self.sgld)
        check_posterior_memory(self.task, self.network, self.sgld, "krr" in self.methods,
                               self.mf.particles if {"mf", "mf-ard"} & set(self.methods) else 0, self.precision,
                               krr_max_n_train=self.krr_max_n_train)
        if {"mf", "mf-ard"} & set(self.methods):
            if self.sgld.temperature_convention != "kappa":
                raise ConfigError("sgld.temperature_convention", "the MF equations are written for T = 2κ²",
                                  'use temperature_convention = "kappa"')


    def _apply_authors_prior(self):
        """Set the network section to the authors' SGLD prior; a field the user set otherwise is refused."""
        require(self.task.name == "single-index", "prior", "the authors' priors are those of their single-index "
                f"scripts, not of task '{self.task.name}'", "use prior = 'shared'")
        require(self.mf.beta0 is None, "mf.beta0", "prior = 'authors' sets β0 = α0/d", "remove mf.beta0, or use prior = 'shared'")
        net = authors_single_index_priors(self.task.d, self.mf.alpha0)[0]
        want = {"sigma_a": net.sigma_a, "sigma_w": net.sigma_w, "bias": True, "sigma_b": net.sigma_b,
                "output_bias": True, "sigma_c": net.sigma_c}
        default = NetworkConfig()
        for name, v in want.items():
            have = getattr(self.network, name)
            if have != getattr(default, name) and not np.isclose(float(have), float(v)):
                raise ConfigError(f"network.{name}", f"is {have}, but prior = 'authors' sets it to {v:.6g} (the authors' "
                                  "SGLD prior)", "remove it, or use prior = 'shared' to choose the prior yourself")
            setattr(self.network, name, v)

    def mean_field_prior(self) -> TwoLayerPrior:
        """The prior the MF and MF-ARD solvers use: the network's (``prior = "shared"``) or the authors' MF-ARD prior."""
        if self.prior == "authors":
            return authors_single_index_priors(self.task.d, self.mf.alpha0)[1]
        n = self.network
        return TwoLayerPrior(n.sigma_a, n.sigma_w, n.sigma_b if n.bias else None, n.sigma_c if n.output_bias else None,
                             self.mf.beta0)


def prior_description(cfg: PhaseConfig) -> dict:
    """Which prior each method used, in words (report and summary)."""
    def words(p: TwoLayerPrior) -> str:
        return (f"σ_a = {p.sigma_a:g}, σ_w = {p.sigma_w:.4g} (w ~ N(0, σ_w²/d)), "
                + (f"hidden bias σ_b = {p.sigma_b:.4g}" if p.sigma_b is not None else "no hidden bias") + ", "
                + (f"output bias σ_c = {p.sigma_c:g}" if p.sigma_c is not None else "no output bias"))
    n = cfg.network
    net = TwoLayerPrior(n.sigma_a, n.sigma_w, n.sigma_b if n.bias else None, n.sigma_c if n.output_bias else None)
    mfp = cfg.mean_field_prior()
    beta = "" if mfp.ard_beta0 is None else f"; MF-ARD β0 = {mfp.ard_beta0:.4g}"
    out = {"prior": cfg.prior, "sgld": words(net), "krr": words(net), "mf": words(mfp), "mf-ard": words(mfp) + beta}
    return {k: v for k, v in out.items() if k == "prior" or k in cfg.methods}


# --- MF stage ---------------------------------------------------------------------------------
def _mean_field(cfg: PhaseConfig, g: PosteriorDesign, ard: bool) -> MeanField:
    n = cfg.network
    gamma = n.gamma if n.gamma is not None else get_parametrization(n.parametrization).gamma
    m, pr = cfg.mf, cfg.mean_field_prior()
    with config_section("mf"):
        return MeanField.create(n.activation, n.width, gamma=gamma, sigma_a=pr.sigma_a, sigma_w=pr.sigma_w,
                                particles=m.particles, inner_steps=m.inner_steps, lr=m.lr, ard=ard, alpha0=m.alpha0,
                                beta0=pr.ard_beta0, ard_damping=m.ard_damping, sigma_b=pr.sigma_b, sigma_c=pr.sigma_c,
                                readout=m.readout)


def solve_mean_field(cfg: PhaseConfig, g: PosteriorDesign, ard: bool, rd: RunDir, progress=True, log=None,
                     checkpoint: str | None = None) -> dict:
    """MF (or MF-ARD) fixed points on the whole grid.

    Lanes are the (κ, replica) pairs, vectorised with lax.map. Along each lane the sample sizes are
    solved in ascending order, each warm-started from the previous P's solution (nested training
    sets; the field is extrapolated to the new points by ⟨f⟩ = Σ_b c_b φ(w_b·x)); the smallest P, and every P
    with ``mf.warm_start = false``, starts from the symmetric state. Each P group is one :func:`run_chains` call of the MF kernel
    (:func:`mflab.theory.mean_field.mf_kernel`), with its own compile (nothing is padded to max(P)) and
    its own stream (lane key folded with the group index). Each lane stops as soon as it passes the
    drift test (:class:`~mflab.theory.mean_field.FieldDrift` on the chunk means of the field, at least
    2·patience chunks) and is skipped from then on (the runner's stop predicate); a P group ends when
    every lane has stopped or at ``mf.iterations``. The test predictor is the average over the lane's
    last ``patience`` chunks.
    A checkpoint (``checkpoint``, relative to ``rd``) is written after every finished P group."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    name = "mf-ard" if ard else "mf"
    mf, m = _mean_field(cfg, g, ard), cfg.mf
    d, dtype = g.task.d, g.data.X.dtype
    lanes = [(kap, r) for kap in cfg.sgld.kappa for r in range(cfg.sgld.replicas)]
    Ps = sorted(cfg.task.n_train)
    index = {pt: c for c, pt in enumerate(g.points)}
    C = len(g.points)
    kap = jnp.asarray([k for k, _ in lanes], dtype)
    keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(g.k_chain, 2 * 10**6 + ard), int(r)) for _, r in lanes])
    init_keys = jnp.stack([jax.random.fold_in(g.k_chain, 3 * 10**6 + int(r)) for _, r in lanes])
    states = jax.vmap(lambda k: mf_init(mf, k, d, Ps[0], dtype))(init_keys)
    out = {"overlap": np.full(C, np.nan), "test_mse_mean": np.full(C, np.nan), "test_mse_gibbs": np.full(C, np.nan),
           "converged": np.zeros(C, bool),
           "residual": np.full(C, np.nan), "iterations_used": np.zeros(C, int), "train_mse": np.full(C, np.nan),
           "W": np.zeros((C, mf.particles, d), np.float32), "rho": np.zeros((C, d), np.float32),
           **({"b": np.zeros((C, mf.particles), np.float32)} if mf.bias else {}),
           "trace_overlap": np.full((C, m.iterations // m.chunk_iterations), np.nan)}
    ck = rd.path / (checkpoint or f"checkpoints/{name}.npz")  # one per method: mf and mf-ard never share
    lane_batch = default_chain_batch(len(lanes))
    done, wall, compile_s = 0, 0.0, 0.0
    leaves, treedef = jax.tree_util.tree_flatten(states)
    ck_name = ck.relative_to(rd.path).as_posix()
    z = rd.read_checkpoint(ck_name)
    if z is not None:
        try:
            done, wall = int(z["groups_done"]), float(z["wall"])
            compile_s = float(z["compile"])
            if not 0 <= done <= len(Ps) or any(z["out_" + k].shape != np.shape(v) for k, v in out.items()):
                raise ValueError(f"it records {done} of {len(Ps)} sample sizes, or other shapes")
            out = {k: z["out_" + k] for k in out}
            if done:  # stamped with this configuration (RunDir.read_checkpoint), so the shapes match
                states = treedef.unflatten([jnp.asarray(z[f"s{i}"]) for i in range(len(leaves))])
        except (KeyError, ValueError, TypeError) as e:
            raise MflabError(f"checkpoint '{ck_name}' cannot be resumed ({str(e) or type(e).__name__}); "
                             "fix: delete it to restart that method, or rerun with --force") from None
        log(f"resuming {name} after P = {Ps[done - 1] if done else '-'}")

    predict = jax.jit(jax.vmap(lambda s, X: mf_predict(mf, s, X)))
    spread = jax.jit(jax.vmap(lambda s, dat, noise: jnp.mean(mf_posterior(mf, s, dat, noise, g.X_test).variance)))
    overlaps = jax.jit(jax.vmap(jax.vmap(lambda f: g.task.order_parameter(f, g.X_test))))
    max_chunks = m.iterations // m.chunk_iterations
    kernel = mf_kernel(mf)
    for gi in range(done, len(Ps)):
        t0 = time.perf_counter()
        P = Ps[gi]
        X = jnp.stack([g.train[r][0][:P] for _, r in lanes])
        y = jnp.stack([g.train[r][1][:P] for _, r in lanes])
        data = TrainData(X, y, jnp.full(X.shape[:2], 1.0 / P, dtype))
        if gi > 0 and m.warm_start:  # extrapolate the previous solution's field to the enlarged training set
            states = states._replace(state=states.state._replace(field=predict(states, X)))
        elif gi > 0:  # cold start: the prior's particles (the same draw for every P), zero field
            states = jax.vmap(lambda k: mf_init(mf, k, d, P, dtype))(init_keys)
        w_rms = np.sqrt(np.mean(np.asarray(y) ** 2, axis=1))
        drift_test = FieldDrift(m.patience, m.tol, w_rms)
        group_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, gi)  # each P group has its own stream
        res = run_chains(kernel, states, group_keys, posterior_noise(kap, cfg.sgld.temperature_convention), data,
                         n_steps=m.iterations, log_every=m.chunk_iterations, chunk_steps=m.chunk_iterations,
                         observe=lambda s, dat: {"f_test": mf_predict(mf, s, g.X_test)},
                         block_mean=lambda s, info: {"field": s.field}, stop=drift_test.stop,
                         chain_batch=lane_batch, progress=progress, log=log,
                         desc=f"{name.upper()} P = {P} ({gi + 1}/{len(Ps)}), {len(lanes)} lanes",
                         divergence_fix="lower mf.lr")
        states, compile_s = res.states, compile_s + res.compile_seconds
        chunks = np.where(res.stopped_at >= 0, res.stopped_at, res.steps_done) // m.chunk_iterations
        fields, tests = res.trace.values["field"], res.trace.values["f_test"]
        drift = np.array([drift_test.drift(fields[li, :n], li) for li, n in enumerate(chunks)])
        f_avg = np.stack([np.mean(tests[li, max(0, n - m.patience):n], 0) for li, n in enumerate(chunks)])
        train_avg = np.stack([np.mean(fields[li, max(0, n - m.patience):n], 0) for li, n in enumerate(chunks)])
        train_mse = np.mean((np.asarray(y) - train_avg) ** 2, axis=1)
        trace = np.full((len(lanes), max_chunks), np.nan)
        trace_all = np.asarray(overlaps(jnp.asarray(tests)))
        for li, n in enumerate(chunks):
            trace[li, :n] = trace_all[li, :n]
        used = chunks * m.chunk_iterations
        y_test = np.asarray(g.y_test)
        ov = np.asarray(overlaps(jnp.asarray(f_avg)[:, None]))[:, 0]
        ok, W_np, rho_np = np.asarray(states.alive), np.asarray(states.W), np.asarray(states.rho)
        var = np.asarray(spread(states, data, posterior_noise(kap, cfg.sgld.temperature_convention)))
        for li, (k, r) in enumerate(lanes):
            c = index[(P, k, r)]
            out["overlap"][c], out["test_mse_mean"][c] = ov[li], np.mean((f_avg[li] - y_test) ** 2)
            out["test_mse_gibbs"][c] = out["test_mse_mean"][c] + var[li]
            failed = not ok[li]
            out["converged"][c] = drift[li] < m.tol and not failed
            out["residual"][c] = np.nan if failed else drift[li]
            out["iterations_used"][c] = used[li]
            out["train_mse"][c] = train_mse[li]
            out["trace_overlap"][c] = trace[li]
            out["W"][c], out["rho"][c] = W_np[li], rho_np[li]
            if mf.bias:
                out["b"][c] = np.asarray(states.b)[li]
        wall += time.perf_counter() - t0
        rd.write_checkpoint(ck_name, groups_done=gi + 1, wall=wall, compile=compile_s,
                        **{"out_" + k: v for k, v in out.items()},
                        **{f"s{i}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(states))})
    out["wall"], out["compile"] = wall, compile_s
    failed = np.isnan(out["residual"])
    if failed.any():
        log(f"{name}: {int(failed.sum())}/{C} points hit non-finite values and were stopped (residual NaN); "
            f"fix: lower mf.lr (now {m.lr:g})")
    slow = ~out["converged"] & ~failed  # finite but still drifting
    if slow.any():
        log(f"{name}: {int(slow.sum())}/{C} points did not converge within {m.iterations} outer iterations (field "
            f"drift up to {np.max(out['residual'][slow]):.3g} > tol {m.tol}); they are reported as non-converged. "
            "Fix: raise mf.iterations or mf.particles.")
    return out


# --- the study ------------------------------------------------------------------------------------
def _setup(cfg: PhaseConfig):
    return prepare(cfg.task, cfg.network, cfg.sgld, cfg.seed)


def _units(cfg: PhaseConfig):
    return [m for m in METHODS if m in cfg.methods]


def _compute(cfg: PhaseConfig, method, ctx) -> dict:
    g, rd, progress, log = ctx.shared, ctx.rd, ctx.progress, ctx.log
    if method == "sgld":
        sim = simulate(g, cfg.sgld, rd, progress, log, checkpoint=ctx.checkpoint_name, net_cfg=cfg.network)
        if not sim.alive.any():
            log(f"every SGLD chain diverged; {divergence_fix(g, cfg.sgld, cfg.network)}. The other methods still run.")
        tr = sim.trace
        return {"overlap": sim.final["overlap"], "test_mse_mean": sim.final["test_mse_mean"],
                "test_mse_gibbs": sim.final["test_mse_gibbs"], "alive": sim.alive,
                "wall": np.asarray(sim.wall), "W": sim.params.W, "converged": sim.alive,
                "diverged_at": np.asarray(sim.states.diverged_at), "steps_done": np.asarray(sim.steps_done),
                "trace_steps": tr.steps, **{f"trace_{k}": v for k, v in tr.values.items()},
                "equilibrated_at": equilibration_steps(tr.steps, tr.values["overlap"], cfg.equilibration_tol)}
    if method in ("mf", "mf-ard"):
        out = solve_mean_field(cfg, g, method == "mf-ard", rd, progress, log, checkpoint=ctx.checkpoint_name)
        return {k: np.asarray(v) for k, v in out.items()}
    t = time.perf_counter()
    out = krr_grid(g, cfg.krr_max_n_train)
    return {**out, "wall": np.asarray(time.perf_counter() - t), "converged": np.ones(len(g.points), bool)}


def _reduce(cfg: PhaseConfig, results, ctx) -> Reduced:
    g = ctx.shared
    rows = []
    for meth, res in results.items():
        for c, (P, kap, r) in enumerate(g.points):
            rows.append({"method": meth, "n_train": P, "kappa": kap, "replica": r, "overlap": float(res["overlap"][c]),
                         "test_mse_mean": float(res["test_mse_mean"][c]),
                         "test_mse_gibbs": float(res["test_mse_gibbs"][c]), "converged": bool(res["converged"][c]),
                         "residual": float(res["residual"][c]) if "residual" in res else None,
                         "train_mse": float(res["train_mse"][c]) if "train_mse" in res else None})
    tables = {"points": rows}
    if "sgld" in results:
        sg = results["sgld"]
        trace = Trace(sg["trace_steps"], {k[6:]: v for k, v in sg.items() if k.startswith("trace_") and k != "trace_steps"})
        tables["trace_sgld"] = trace_rows(trace, g)
    crit = []
    for meth in results:
        crit += [dict(r, kind="P_c") for r in critical_values(rows, meth, "n_train", "kappa", cfg.threshold)]
        crit += [dict(r, kind="kappa_c") for r in critical_values(rows, meth, "kappa", "n_train", cfg.threshold)]
    tables["critical"] = [{k: v for k, v in r.items() if k != "per_replica"} for r in crit]
    main_kappa = cfg.main_kappa if cfg.main_kappa is not None else cfg.sgld.kappa[0]
    summary = _summary(cfg, g, results, rows, crit, main_kappa)
    report = _report(cfg, summary, rows)
    if "sgld" in results:
        summary["diverged_chains"] = [
            {"chain": int(c), "n_train": g.Ps[c], "kappa": g.kappas[c], "replica": g.reps[c],
             "step": int(results["sgld"]["diverged_at"][c])} for c in np.flatnonzero(~results["sgld"]["alive"])]
    return Reduced(tables, summary, report, extra={"results": results, "crit": crit, "main_kappa": main_kappa})


def _figures(cfg: PhaseConfig, red, ctx) -> dict:
    from . import plots as phase_plots

    g, results, crit, main_kappa = ctx.shared, red.extra["results"], red.extra["crit"], red.extra["main_kappa"]
    rows = red.tables["points"]
    labels = {"sgld": f"network ({sampler_label(cfg.sgld)})"}
    figs = {"phase_diagram": phase_plots.phase_diagrams(rows, list(results), cfg.task.n_train, cfg.sgld.kappa, crit,
                                                         cfg.threshold, setting_title(g), labels),
            "learning_curves": phase_plots.learning_curves(rows, list(results), main_kappa, setting_title(g), labels)}
    clouds = {m: results[m]["W"] for m in ("sgld", "mf", "mf-ard") if m in results}
    if clouds:
        sel = int(np.flatnonzero((g.Ps == max(cfg.task.n_train)) & (g.kappas == main_kappa))[0])
        figs["weight_marginals"] = phase_plots.weight_marginals({m: W[sel] for m, W in clouds.items()},
                                                                getattr(g.task, "support", ()),
                                                                f"P={g.Ps[sel]}, κ={main_kappa:g}",
                                                                getattr(g.task, "directions", None),
                                                                setting=setting_title(g), labels=labels)
    return figs


def describe(s: dict) -> list[str]:
    """`mflab show` for the phase studies: P_c per method and κ, plateau numbers with both errors of every
    method's posterior (the error of its posterior mean, and its Gibbs error), costs."""
    kaps = s["grid"]["kappa"]
    lines = [f"P = {s['grid']['n_train']}, κ = {kaps}, {s['grid']['replicas']} replicas; P_c(κ) per method "
             "(— : no transition in range):",
             f"  {'method':8s} " + " ".join(f"{'κ=' + format(k, 'g'):>10s}" for k in kaps)]
    for m in s["methods"]:
        pc = s["critical_sample_size"].get(m, {})
        lines.append(f"  {m:8s} " + " ".join(f"{_fmt(pc.get(str(k)), '.4g'):>10s}" for k in kaps))
    lines.append(f"at κ = {s['main_kappa']:g}, P = {s['grid']['n_train'][-1]}:")
    for m in s["methods"]:
        lines.append(f"  {m:8s} m = {_fmt(s['plateau_overlap'].get(m), '.3f')}, test MSE: posterior mean "
                     f"{_fmt(s['plateau_test_mse_mean'].get(m), '.4f')}, Gibbs {_fmt(s['plateau_test_mse_gibbs'].get(m), '.4f')}; "
                     f"wall {s['wall_seconds'].get(m, 0):.1f} s, non-converged points {s['non_converged_points'].get(m)}")
    if "priors" in s:  # runs made before the priors were recorded have no such entry
        lines.append(f"priors (prior = '{s['priors']['prior']}'):")
        lines += [f"  {m:8s} {v}" for m, v in s["priors"].items() if m != "prior"]
    return lines


def _agg(rows, meth, P, kap, key):
    v = np.array([r[key] for r in rows if r["method"] == meth and r["n_train"] == P and r["kappa"] == kap], float)
    if not np.isfinite(v).any():  # e.g. the error of a posterior mean when each chain keeps one sample
        return math.nan, math.nan
    return float(np.nanmean(v)), float(np.nanstd(v))


def _summary(cfg, g, results, rows, crit, main_kappa) -> dict:
    Ps = sorted(cfg.task.n_train)
    s = {"preset": cfg.preset, "status": "completed", "methods": list(results), "main_kappa": main_kappa,
         "grid": {"n_train": Ps, "kappa": cfg.sgld.kappa, "replicas": cfg.sgld.replicas},
         "wall_seconds": {m: float(np.asarray(r["wall"])) for m, r in results.items()},
         "compile_seconds": {m: float(np.asarray(r["compile"])) for m, r in results.items() if "compile" in r},
         "critical_sample_size": {m: {str(r["kappa"]): r["critical"] for r in crit if r["method"] == m and r["kind"] == "P_c"}
                                  for m in results},
         **{f"plateau_{e}": {m: _agg(rows, m, Ps[-1], main_kappa, e)[0] for m in results} for e in ERRORS},
         "plateau_overlap": {m: _agg(rows, m, Ps[-1], main_kappa, "overlap")[0] for m in results},
         "non_converged_points": {m: int((~np.asarray(r["converged"], bool)).sum()) for m, r in results.items()},
         "priors": prior_description(cfg)}
    if "sgld" in results and "mf-ard" in results:
        pc = s["critical_sample_size"]["sgld"].get(str(main_kappa), float("nan"))
        after = [P for P in Ps if np.isfinite(pc) and P >= pc]
        for e in ERRORS:  # like with like: posterior mean against posterior mean, Gibbs against Gibbs
            diffs = [abs(_agg(rows, "mf-ard", P, main_kappa, e)[0] - _agg(rows, "sgld", P, main_kappa, e)[0])
                     for P in after]
            s[f"mf_ard_vs_sgld_max_abs_{e}_diff_after_transition"] = max(diffs) if diffs else None
    if "sgld" in results:
        sg = results["sgld"]
        teq = np.asarray(sg["equilibrated_at"], float)
        frac = float(np.nansum(teq) / (len(teq) * max(int(sg["steps_done"]), 1)))
        s["sgld_equilibration"] = {"median_step": float(np.nanmedian(teq)) if np.isfinite(teq).any() else None,
                                   "max_step": float(np.nanmax(teq)) if np.isfinite(teq).any() else None,
                                   "steps_run": int(sg["steps_done"]), "budget_fraction_needed": frac,
                                   "tol": cfg.equilibration_tol}
    for b in ("mf", "mf-ard"):
        if b in results and "trace_overlap" in results[b]:
            teq = mf_equilibration_iterations(results[b], cfg.mf.chunk_iterations, cfg.equilibration_tol)
            used = np.asarray(results[b]["iterations_used"], float)
            s[f"{b}_equilibration"] = {"median_iterations": float(np.median(teq)), "max_iterations": float(np.max(teq)),
                                       "budget_fraction_needed": float(teq.sum() / max(used.sum(), 1.0))}
        if "sgld" in results and b in results:
            w_b = max(float(np.asarray(results[b]["wall"])), 1e-9)
            w_s = float(np.asarray(results["sgld"]["wall"]))
            s[f"speed_ratio_sgld_over_{b}"] = w_s / w_b
            if f"{b}_equilibration" in s:  # MF compiles (one per P group) are a fixed cost, charged in full
                c_b = float(np.asarray(results[b].get("compile", 0.0)))
                s[f"speed_ratio_equal_accuracy_sgld_over_{b}"] = (
                    w_s * s["sgld_equilibration"]["budget_fraction_needed"]
                    / max(c_b + (w_b - c_b) * s[f"{b}_equilibration"]["budget_fraction_needed"], 1e-9))
    return s


def mf_equilibration_iterations(res: dict, chunk_iterations: int, tol: float) -> np.ndarray:
    """Outer iterations each MF point needed, by the criterion SGLD is charged with
    (:mod:`mflab.analysis.equilibration`) applied to the point's test-overlap trace, logged at the end
    of every chunk. A point is charged at least one chunk; a trace too short to judge is charged in full."""
    out = []
    for row, used in zip(np.asarray(res["trace_overlap"], float), np.asarray(res["iterations_used"], float)):
        v = row[np.isfinite(row)]
        if len(v) < 2:
            out.append(used)
            continue
        t = equilibration_step(chunk_iterations * np.arange(1, len(v) + 1), v, tol)
        out.append(used if np.isnan(t) else t)
    return np.asarray(out, float)


def _pm(rows, meth, P, kap, key, spec):
    me, se = _agg(rows, meth, P, kap, key)
    return f"{_fmt(me, spec)} ± {_fmt(se, spec)}"


def _fmt(x, spec=".3g"):
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


def _report(cfg, s, rows) -> str:
    Ps, kaps, meths = s["grid"]["n_train"], s["grid"]["kappa"], s["methods"]
    L = [f"# {cfg.preset}: report", "",
         f"Task {cfg.task.name} (d = {cfg.task.d}, k = {cfg.task.k}), width N = {cfg.network.width}, "
         f"{cfg.network.activation}, {cfg.network.parametrization} parametrization; "
         f"P ∈ {Ps}, κ ∈ {kaps}, {cfg.sgld.replicas} replicas. Transition threshold m = {cfg.threshold}.", "",
         f"Priors (`prior = \"{cfg.prior}\"`" + ("; one prior for every method" if cfg.prior == "shared" else
                                                 "; the authors' scripts use different priors for network and theory")
         + "):", "", *[f"- {m}: {v}" for m, v in s["priors"].items() if m != "prior"], "",
         "## Critical sample size P_c(κ)", "", "| method | " + " | ".join(f"κ={k:g}" for k in kaps) + " |",
         "|---|" + "---|" * len(kaps)]
    for m in meths:
        L.append(f"| {m} | " + " | ".join(_fmt(s["critical_sample_size"][m].get(str(k))) for k in kaps) + " |")
    L += ["", "(— : no transition inside the P range.)", "",
          f"## Target overlap m and both test errors at κ = {s['main_kappa']:g} (mean ± std over replicas)", "",
          "m is the overlap of the posterior mean ⟨f⟩ with the target. 'mean' is the test MSE of the posterior "
          "mean, E(⟨f⟩ − y)²; 'Gibbs' is the posterior average of each sample's test MSE, E E_f(f − y)², which "
          "exceeds it by the spread E Var f. SGLD: both from its logged samples after burn-in. NNGP-KRR: its "
          "Gaussian-process variance. MF, MF-ARD: the readout variance given the particle cloud "
          "(`mflab.theory.mean_field.mf_posterior`), which leaves out the features' own fluctuations.", "",
          "| P | " + " | ".join(f"{m} m | {m} mean | {m} Gibbs" for m in meths) + " |",
          "|---|" + "---|---|---|" * len(meths)]
    for P in Ps:
        cells = []
        for m in meths:
            cells += [_pm(rows, m, P, s["main_kappa"], "overlap", ".3f")]
            cells += [_pm(rows, m, P, s["main_kappa"], e, ".4f") for e in ERRORS]
        L.append(f"| {P} | " + " | ".join(cells) + " |")
    L += ["", "## Headline numbers", ""]
    for m in meths:
        comp = f" ({s['compile_seconds'][m]:.1f} s of it compiling)" if m in s["compile_seconds"] else ""
        L.append(f"- {m}: plateau test MSE of the posterior mean {_fmt(s['plateau_test_mse_mean'][m], '.4f')}, "
                 f"Gibbs {_fmt(s['plateau_test_mse_gibbs'][m], '.4f')}, plateau m {_fmt(s['plateau_overlap'][m], '.3f')} "
                 f"(P = {Ps[-1]}); wall {s['wall_seconds'][m]:.1f} s{comp}; non-converged points: {s['non_converged_points'][m]}")
    for e, what in (("test_mse_mean", "of the posterior means"), ("test_mse_gibbs", "Gibbs")):
        key = f"mf_ard_vs_sgld_max_abs_{e}_diff_after_transition"
        if key in s:
            L.append(f"- MF-ARD vs SGLD: max |Δ test MSE| ({what}) over P ≥ P_c(SGLD) = {_fmt(s[key], '.4f')}")
    if "sgld_equilibration" in s:
        e = s["sgld_equilibration"]
        L.append(f"- SGLD equilibration (m within max({e['tol']:g}, 3σ) of its final value): median step "
                 f"{_fmt(e['median_step'], '.0f')}, max {_fmt(e['max_step'], '.0f')} of {e['steps_run']}; "
                 f"{100 * e['budget_fraction_needed']:.0f}% of the SGLD budget was needed")
    for b in ("mf", "mf-ard"):
        if f"{b}_equilibration" in s:
            e = s[f"{b}_equilibration"]
            L.append(f"- {b} equilibration (same criterion on the per-chunk test overlap): median "
                     f"{e['median_iterations']:.0f}, max {e['max_iterations']:.0f} outer iterations; "
                     f"{100 * e['budget_fraction_needed']:.0f}% of the iterations run were needed")
    for k, v in s.items():
        if k.startswith("speed_ratio_equal_accuracy"):
            L.append(f"- wall-time ratio {k[27:].replace('_over_', ' / ')} at equal accuracy (each method charged "
                     f"only up to each point's equilibration step; MF compiles charged in full): {v:.2f}")
        elif k.startswith("speed_ratio"):
            L.append(f"- wall-time ratio {k[12:].replace('_over_', ' / ')} (whole budgets): {v:.2f}")
    L += ["", "Figures: figures/phase_diagram.png, figures/learning_curves.png, figures/weight_marginals.png.",
          "Tables: results/points.csv (one row per method, P, κ, replica), results/critical.csv.", ""]
    return "\n".join(L)


# --- presets ------------------------------------------------------------------------------------
_PUBLISHED_P = [10, 100, 500, 750, 1000, 2133, 3666, 5000, 7500, 10000]
_PUBLISHED_KAPPA = [5e-4, 1e-3, 5e-3, 7.5e-3, 1e-2, 2.5e-2, 5e-2, 7.5e-2]

STUDY = Study("parity-phase", "SGLD, MF, MF-ARD and NNGP-KRR on one (P, κ) design", PhaseConfig, units=_units,
              compute=_compute, reduce=_reduce, setup=_setup, figures=_figures, describe=describe, unit_name="method",
              columns=COLUMNS)

register(STUDY.preset(
    "parity-phase",
    "flagship: feature-learning phase diagram of 4-sparse parity over (P, κ) for SGLD, MF, MF-ARD and "
    "NNGP-KRR (full: the published d=35, N=512 grid with 3 seeds; GPU-scale, resumable)",
    defaults={
        "preset": "parity-phase", "main_kappa": 5e-3,
        "task": {"name": "parity", "d": 35, "k": 4, "n_train": _PUBLISHED_P, "n_test": 100_000},
        "network": {"width": 512, "activation": "relu", "parametrization": "ntk", "sigma_a": 1.0, "sigma_w": 1.0},
        "sgld": {"kappa": _PUBLISHED_KAPPA, "lr": 1e-3, "lr_final": 5e-4, "schedule": "polynomial",
                 "decay_steps": 2_000_000, "steps": 4_000_000, "log_every": 20_000, "chunk_steps": 200_000,
                 "replicas": 3},
        "mf": {"particles": 512, "inner_steps": 10, "lr": 0.5, "iterations": 20_000, "chunk_iterations": 500,
               "alpha0": 8.0},
    },
    quick={
        "task": {"d": 12, "k": 4, "n_train": [25, 50, 100, 200, 400, 800], "n_test": 4096},
        "network": {"width": 128},
        "sgld": {"kappa": [2e-3, 5e-3, 2e-2], "lr": 5e-2, "schedule": "constant", "steps": 20_000, "log_every": 500,
                 "chunk_steps": 5_000, "replicas": 2},
        "mf": {"particles": 128, "inner_steps": 10, "lr": 2.0, "iterations": 1_500, "chunk_iterations": 50},
    },
    tables={"points": ("method", "n_train", "kappa", "replica")},
))

_SINGLE_INDEX_P = [50, 100, 1000, 5000, 10_000, 25_000, 50_000, 75_000]
_SINGLE_INDEX_KAPPA = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]

register(STUDY.preset(
    "hermite-index",
    "single-index target He_4(w*·x), w* on k=2 of d=18 Gaussian coordinates: SGLD, MF-ARD and NNGP-KRR over P and κ "
    "(full: the authors' setting, N=1024, 8 P × 5 κ × 4 seeds, their two priors and stopping rule; GPU-scale, "
    "resumable; KRR up to P = 25000)",
    defaults={
        "preset": "hermite-index", "methods": ["sgld", "mf-ard", "krr"], "main_kappa": 1e-3, "prior": "authors",
        "krr_max_n_train": 25_000,
        "task": {"name": "single-index", "d": 18, "k": 2, "degree": 4, "normalized": False,
                 "n_train": _SINGLE_INDEX_P, "n_test": 20_000},
        "network": {"width": 1024, "activation": "relu", "parametrization": "ntk"},
        "sgld": {"kappa": _SINGLE_INDEX_KAPPA, "lr": 1e-2, "lr_final": 5e-4, "schedule": "polynomial",
                 "decay_steps": 2_500_000, "steps": 4_000_000, "log_every": 20_000, "chunk_steps": 200_000,
                 "replicas": 4, "sample": "final",
                 "stop": {"metric": "test_mse", "below": 0.015, "fallback_metric": "train_mse", "fallback_below": 0.01}},
        "mf": {"particles": 1024, "lr": 0.5, "iterations": 20_000, "chunk_iterations": 500, "alpha0": 0.1},
    },
    # quick: a transition a 2-core CPU shows in minutes (docs/mean_field.md): unit-power target h_4 = He_4/√24, hidden
    # biases (bias-free ReLU units along w* carry h_2 and h_4 in one fixed ratio), one shared prior, the kinetic
    # sampler, posterior averages after burn-in instead of the stopping rule
    quick={
        "main_kappa": 5e-3, "prior": "shared", "krr_max_n_train": None,
        "task": {"d": 8, "k": 2, "normalized": True, "n_train": [25, 50, 100, 200, 400, 800, 1600], "n_test": 4096},
        "network": {"width": 128, "bias": True},
        "sgld": {"kappa": [5e-3, 1e-2], "sampler": "kinetic", "lr": 2e-2, "lr_final": None, "schedule": "constant",
                 "decay_steps": None, "steps": 20_000, "log_every": 500, "chunk_steps": 5_000, "replicas": 2,
                 "sample": "average", "stop": None},
        "mf": {"particles": 128, "iterations": 1_000, "chunk_iterations": 100},
    },
    tables={"points": ("method", "n_train", "kappa", "replica")},
))
