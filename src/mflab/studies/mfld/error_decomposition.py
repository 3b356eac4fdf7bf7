r"""The four-way error decomposition of μP mean-field Langevin training (preset ``error-decomposition``).

Setting: erf network, x ~ N(0, I_d), target f*(x) = h_1(x₁) + ½ h_3(x₂) + 0.3 h_2(x₃) (a Hermite
dictionary; the h_2 term is invisible to the odd activation erf, so its energy 0.09 is an
unrealizable tail no μ can fit). For every sample size n: N_ref particles (B, C) and every N in
``widths`` (A) run coupled data-mode dynamics on the same n samples (:func:`~mflab.analysis.propagation_of_chaos.coupled_system`);
D runs the population objective in kernel mode, from two initialisations (the configured one and a
Laplace one of the same scale), to check that the residual does not depend on μ0. At every logged t the
table of :func:`mflab.analysis.error_decomposition.decomposition_table` is written (exact, closes to
rounding).

Fitted scalings (replica-mean log-log slopes with bootstrap 95 % intervals): chaos at T_∞ against N
(expected −1), statistical against n (−½ to −1), and the optimisation part against t (its decay rate
from a log-linear fit). Outputs: ``results/table.csv`` (one row per n, N, replica, t; ``alive``: A, B and D all stayed finite,
the replicas the fits and the figure use), ``summary.json``,
``figures/error_decomposition.png``. Each population cloud and each n is a unit of :mod:`mflab.framework.study`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.error_decomposition import COMPONENTS, decomposition_table, function_gram, hermite_tail
from ...analysis.fits import mean_loglog_slope
from ...analysis.identifiability import l2_distance
from ...analysis.propagation_of_chaos import coupled_system, log_times
from ...dynamics.mean_field_langevin import DataObjective, MFLDSystem, ParticleInit, PopulationObjective
from ...dynamics.objectives import TrainData
from ...tasks.hermite import HermiteDictionary
from ...tasks.registry import build_task
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from ...resources import check_memory


@dataclass
class ErrorDecompositionConfig:
    """Configuration of ``error-decomposition``: widths N, sample sizes n, the reference and population
    particle counts, replicas and the Langevin dynamics."""

    preset: str = "error-decomposition"
    seed: int = seed_field()
    d: int = 4
    widths: list[int] = field(default_factory=lambda: [64, 128, 256])
    n_train: list[int] = field(default_factory=lambda: [128, 512, 2048])
    m_ref: int = 1024
    # particles of the population (kernel-mode) run D: O(m_pop² d) per step
    m_pop: int = bounded(512, ge=1, fix="a positive integer")
    replicas: int = bounded(3, ge=1, fix="a positive integer")
    eta: float = 0.2
    tau: float = 1e-2
    lam: float = 1e-2
    steps: int = bounded(1500, ge=1, fix="a positive integer")
    log_every: int = bounded(150, ge=1, fix="a positive integer")
    ref_log_every: int = 50  # the reference (B) is logged this often: the optimisation part's decay in t
    init: ParticleInit = field(default_factory=ParticleInit)
    n_boot: int = bounded(500, ge=1, fix="a positive integer")

    def validate(self):
        require(self.d >= 3, "d", f"the target uses x_1, x_2, x_3, got d = {self.d}", "use d >= 3")
        for name in ("widths", "n_train"):
            vals = getattr(self, name)
            require(len(set(vals)) >= 2, name, "needs at least two distinct values to fit a scaling", "e.g. [64, 128, 256]")
            for i, v in enumerate(vals):
                require(v >= 2, f"{name}[{i}]", f"must be >= 2, got {v}", "use positive integers")
        require(self.m_ref >= 4 * max(self.widths), "m_ref", f"must be >= 4·max(widths) = {4 * max(self.widths)}",
                "raise m_ref or drop the largest widths")
        require(self.replicas >= 2, "replicas", "confidence intervals need at least 2 replicas", "e.g. replicas = 3")
        require(self.steps % self.log_every == 0, "log_every", f"must divide steps = {self.steps}", "e.g. steps / 10")
        require(self.ref_log_every >= 1 and self.log_every % self.ref_log_every == 0, "ref_log_every",
                f"must divide log_every = {self.log_every}", "e.g. ref_log_every = log_every / 10")
        require(self.eta > 0, "eta", f"must be > 0, got {self.eta}", "e.g. eta = 0.2")
        require(self.tau >= 0 and self.lam >= 0, "tau", "tau and lam must be >= 0", "e.g. tau = 1e-3, lam = 1e-3")
        self.init.validate("init")
        data = MFLDSystem(DataObjective("erf"), self.m_ref).memory_bytes(
            self.d, self.replicas, self.steps // self.ref_log_every + 1, max(self.n_train))
        pop = MFLDSystem(PopulationObjective("erf", None), self.m_pop).memory_bytes(
            self.d, self.replicas, self.steps // self.ref_log_every + 1)
        field = "m_pop" if pop > data else "m_ref"
        check_memory(max(data, pop), field, f"{self.replicas} replicas of {self.m_ref} particles on up to "
                     f"{max(self.n_train)} points, and the population run of {self.m_pop} particles (m_pop² kernel)",
                     f"lower {field}, replicas or the largest n_train")


def target(cfg: ErrorDecompositionConfig) -> HermiteDictionary:
    return build_task("hermite", d=cfg.d, degrees=[1, 3, 2], amplitudes=[1.0, 0.5, 0.3], name="erf-realizable-plus-h2")


def _sys_args(cfg, progress):
    return dict(d=cfg.d, eta=cfg.eta, tau=cfg.tau, steps=cfg.steps, log_every=cfg.log_every, replicas=cfg.replicas,
                progress=progress)


def _units(cfg):
    return [("population", "configured"), ("population", "laplace")] + [("n", n) for n in sorted(set(cfg.n_train))]


def _compute(cfg, unit, ctx) -> dict:
    f_star, key, (kind, which) = ctx.shared, jax.random.PRNGKey(cfg.seed), unit
    sys_args = _sys_args(cfg, ctx.progress)
    if kind == "population":
        init = cfg.init if which == "configured" else ParticleInit("laplace", cfg.init.scale)
        cl, alive = coupled_system(PopulationObjective("erf", f_star, cfg.lam), cfg.m_pop, init,
                                   jax.random.fold_in(key, 99), **sys_args)
        return {"clouds": np.asarray(cl[:, -1]), "alive": np.asarray(alive)}
    n = which
    X = jax.random.normal(jax.random.fold_in(key, n), (n, cfg.d))
    data = TrainData(X, f_star.target(X), jnp.full(n, 1.0 / n))
    arrays = {}
    for N in sorted(set(cfg.widths)) + [cfg.m_ref]:
        args = dict(sys_args, log_every=cfg.ref_log_every) if N == cfg.m_ref else sys_args
        cl, alive = coupled_system(DataObjective("erf", cfg.lam), N, cfg.init, key, data=data, **args)
        if not alive.all():
            ctx.log(f"n = {n}, N = {N}: {int((~alive).sum())} replicas diverged and were frozen; fix: lower eta")
        arrays[f"N{N}"], arrays[f"alive_N{N}"] = np.asarray(cl), np.asarray(alive)
    return arrays


def _lost_systems(results, replicas) -> list[str]:
    """The systems (population runs, or (n, N) pairs) whose every replica diverged."""
    lost = []
    for (kind, which), r in results.items():
        if kind == "population" and not _alive(r, "alive", replicas).any():
            lost.append(f"the population run ({which} start)")
        lost += [f"n = {which}, N = {k.removeprefix('alive_N')}" for k in r
                 if kind == "n" and k.startswith("alive_N") and not r[k].any()]
    return lost


def _reduce(cfg, results, ctx) -> Reduced:
    f_star, log = ctx.shared, ctx.log
    lost = _lost_systems(results, cfg.replicas)
    if lost:
        where = "; ".join(lost[:3]) + (f" and {len(lost) - 3} more systems" if len(lost) > 3 else "")
        return Reduced.diverged({"preset": cfg.preset}, f"every replica diverged in {where}",
                                f"lower eta (now {cfg.eta:g})", ctx)
    pop = {which: r["clouds"] for (kind, which), r in results.items() if kind == "population"}
    pop_alive = {which: _alive(r, "alive", cfg.replicas) for (kind, which), r in results.items() if kind == "population"}
    D, D_alive = pop["configured"], pop_alive["configured"]
    times = log_times(cfg.eta, cfg.steps, cfg.log_every)
    rows, opt_rows, dead, unpaired = [], [], {}, []
    for n in sorted(set(cfg.n_train)):
        z = results[("n", n)]
        B_fine, B_alive = z[f"N{cfg.m_ref}"], _alive(z, f"alive_N{cfg.m_ref}", cfg.replicas)
        B = B_fine[:, ::cfg.log_every // cfg.ref_log_every]  # at the logged times of the A runs
        for r in range(cfg.replicas):
            for j in range(1, B_fine.shape[1]):
                opt_rows.append({"n": n, "replica": r, "alive": bool(B_alive[r]),
                                 "t": float(j * cfg.ref_log_every * cfg.eta),
                                 "optimization": l2_distance(B_fine[r, j], B_fine[r, -1], "erf")})
        for N in sorted(set(cfg.widths)):
            A = z[f"N{N}"]
            # replica r decomposes f_A − f* only if A, its coupled reference B and the population run D stayed finite
            paired = _alive(z, f"alive_N{N}", cfg.replicas) & B_alive & D_alive
            if not paired.all():
                dead[f"n = {n}, N = {N}"] = int((~paired).sum())
            if not paired.any():
                unpaired.append(f"n = {n}, N = {N}")
            for r in range(cfg.replicas):
                for j, t in enumerate(times):
                    if j == 0:
                        continue
                    G = function_gram("erf", [A[r, j], B[r, j], B[r, -1], D[r]], f_star)
                    rows.append({"n": n, "N": N, "replica": r, "alive": bool(paired[r]), "t": float(t),
                                 **decomposition_table(G)})
        log(f"n = {n}: decomposition done")
    if dead:
        log(f"replicas left out of the fits and the figure (a system they are coupled to diverged): {dead}; "
            f"fix: lower eta (now {cfg.eta:g})")
    if unpaired:  # a system with no such replica has no decomposition to fit
        return Reduced.diverged({"preset": cfg.preset, "diverged_replicas": dead},
                                "no replica has its network, its reference and the population run all finite at "
                                + "; ".join(unpaired[:3]) + (f" and {len(unpaired) - 3} more" if len(unpaired) > 3 else ""),
                                f"lower eta (now {cfg.eta:g})", ctx)
    tail = hermite_tail("erf", f_star)
    e = np.array([1.0, -1.0])
    resid = {name: float(np.mean([e @ function_gram("erf", [c], f_star) @ e for c in pop[name][pop_alive[name]]]))
             for name in pop}
    # the tables keep every replica, flagged 'alive'; the fits and the figure see the finite ones
    alive_rows, alive_opt = [r for r in rows if r["alive"]], [r for r in opt_rows if r["alive"]]
    summary = {"preset": cfg.preset, "status": "completed", "hermite_tail": tail, "residual_by_init": resid,
               **_fits(cfg, alive_rows, times), "diverged_replicas": dead,
               "optimization_decay": optimization_decay(alive_opt)}
    return Reduced({"table": rows, "optimization": opt_rows}, summary,
                   extra={"tail": tail, "alive_rows": alive_rows, "alive_opt": alive_opt})


def _alive(r, key, replicas) -> np.ndarray:
    """The replica mask saved under ``key`` (units saved before it was recorded count as alive)."""
    return np.asarray(r.get(key, np.ones(replicas, bool)), bool)


def _figures(cfg, red, ctx) -> dict:
    from .plots import error_decomposition_figure

    return {"error_decomposition": error_decomposition_figure(red.extra["alive_rows"], cfg, red.extra["tail"],
                                                              red.extra["alive_opt"])}


def _describe(s: dict) -> list[str]:
    lines = [f"Hermite tail (unrealizable part): {s.get('hermite_tail')}",
             f"residual by initialisation: {s.get('residual_by_init')}"]
    for k, v in s.items():
        if isinstance(v, dict) and "slope" in v:
            ci = v.get("ci95")
            lines.append(f"  {k}: slope " + ("—" if v["slope"] is None else f"{v['slope']:+.2f}")
                         + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""))
    return lines


def _fits(cfg, rows, times):
    T = float(times[-1])
    final = [r for r in rows if r["t"] == T]
    widths, ns = sorted(set(cfg.widths)), sorted(set(cfg.n_train))
    chaos = mean_loglog_slope(widths, [np.array([r["chaos"] for r in final if r["N"] == N]) for N in widths],
                              cfg.n_boot, cfg.seed)
    stat = mean_loglog_slope(ns, [np.array([r["statistical"] for r in final if r["n"] == n and r["N"] == widths[0]])
                                  for n in ns], cfg.n_boot, cfg.seed)
    closure = max(abs(r["closure_error"]) / max(abs(r["total"]), 1e-30) for r in rows)
    means = {c: float(np.mean([r[c] for r in final])) for c in COMPONENTS}
    return {"chaos_vs_N": chaos, "statistical_vs_n": stat,
            "components_at_T_mean": means, "total_at_T_mean": float(np.mean([r["total"] for r in final])),
            "max_relative_closure_error": float(closure)}


def optimization_decay(opt_rows) -> dict:
    """‖f_B(t) − f_C‖² on the reference's fine time grid (mean over n and replicas): the floor (median of
    the second half of the run: the stationary fluctuation of the finite reference) and the exponential
    rate α of the excess over it, fitted on log(excess) against t while the excess exceeds the floor."""
    ts = np.array(sorted({r["t"] for r in opt_rows}))[:-1]  # the last time is C itself
    m = np.array([np.mean([r["optimization"] for r in opt_rows if r["t"] == t]) for t in ts])
    floor = float(np.median(m[len(m) // 2:]))
    ex = m - floor
    use = ex > floor
    use &= np.cumprod(use).astype(bool)  # the initial stretch above the floor
    if use.sum() < 3:
        return {"floor": floor, "rate": None, "fit_times": [], "initial": float(m[0])}
    c = np.polyfit(ts[use], np.log(ex[use]), 1)
    return {"floor": floor, "rate": float(-c[0]), "fit_times": [float(ts[use][0]), float(ts[use][-1])],
            "initial": float(m[0])}


STUDY = Study(
    "error-decomposition",
    "four-way split of the muP mean-field error into chaos, optimisation, statistical and residual parts with "
    "exact cross terms; fitted scalings in N, t, n; the unrealizable Hermite tail and its independence of the init",
    ErrorDecompositionConfig, units=_units, compute=_compute, reduce=_reduce, setup=target, figures=_figures,
    describe=_describe, unit_name="system",
    defaults={"preset": "error-decomposition", "widths": [128, 256, 512, 1024], "n_train": [256, 1024, 4096, 16384],
              "m_ref": 4096, "m_pop": 2000, "replicas": 5, "steps": 5000, "log_every": 500},
    quick={"widths": [64, 128, 256], "n_train": [128, 512, 2048], "m_ref": 1024, "m_pop": 512, "replicas": 3},
    tables={"table": ("n", "N", "replica", "t")},
)
register(STUDY.preset())
