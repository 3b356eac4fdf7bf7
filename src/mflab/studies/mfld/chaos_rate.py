r"""Propagation of chaos of μP mean-field Langevin dynamics (preset ``chaos-rate``).

Synchronously coupled N-particle systems against an M_ref-particle reference
(:mod:`mflab.analysis.propagation_of_chaos`), on the notes' pilot task (A §2.3): erf network,
x ~ N(0, I_d), target y = erf(x₁) + ½ erf(x₂) (a two-neuron erf teacher, realizable), either on a
fixed sample of ``n_train`` points (``mode = "data"``) or on the population risk in closed form
(``mode = "population"``). Recorded per (N, replica, logged time): the coupling proxy C_N(t) and the
function gap G_N(t); at the final time also the distribution diagnostics exact W₂²(μ̂_N, μ̂_ref)
(POT, for N·M_ref small enough; sliced otherwise, with a warning) and the debiased sliced W₂².

Summary: log-log slopes in N of sup_t C_N(t) and sup_t G_N(t) and at every logged t, with replica-
bootstrap 95 % intervals (expected −1), and N·sup_t C_N(t) (bounded in N if the rate is uniform in
time). Also the moments of the reference cloud along the flow (``results/moments.csv``: m_p, exponential
moments at fractions of w* with the max-dominance flag, tail scale vs the OU prediction).
Outputs: ``results/points.csv``, ``results/rates.csv``, ``results/distances.csv``,
``figures/chaos_rate.png``, ``summary.json``. Each finished system size is kept in
a unit of :mod:`mflab.framework.study` (its clouds): an interrupted run resumes without redoing it.
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.moment_class import ou_scale, track_moments, w_star
from ...analysis.propagation_of_chaos import CoupledRuns, chaos_metrics, coupled_system, log_times, rate_fits
from ...analysis.wasserstein import OTFallbackWarning, debiased_sliced_w2_squared, w2_squared
from ...dynamics.mean_field_langevin import DataObjective, MFLDSystem, ParticleInit, PopulationObjective
from ...dynamics.objectives import TrainData
from ...errors import suggest
from ...networks.activations import get_activation
from ...tasks.registry import build_task
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from ...resources import check_memory

MODES = ("data", "population")


@dataclass
class ChaosRateConfig:
    """Configuration of ``chaos-rate``: the particle counts N against M_ref, the Langevin step and entropy, the
    risk (data or population) and the distance diagnostics."""

    preset: str = "chaos-rate"
    seed: int = seed_field()
    activation: str = "erf"
    mode: str = "data"
    d: int = bounded(5, ge=1, fix="a positive integer")
    n_train: int = bounded(512, ge=1, fix="a positive integer")  # data mode: fixed sample size
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024, 2048])
    m_ref: int = 8192
    replicas: int = bounded(16, ge=1, fix="a positive integer")
    eta: float = 0.2
    tau: float = 0.01
    lam: float = 0.01
    steps: int = bounded(300, ge=1, fix="a positive integer")
    log_every: int = bounded(30, ge=1, fix="a positive integer")
    init: ParticleInit = field(default_factory=ParticleInit)
    # exact W2 for clouds up to this size, sliced above
    exact_w2_max: int = bounded(4096, ge=1, fix="a positive integer")
    sliced_projections: int = bounded(200, ge=1, fix="a positive integer")
    n_boot: int = bounded(1000, ge=1, fix="a positive integer")

    def validate(self):
        get_activation(self.activation)
        require(self.mode in MODES, "mode", f"unknown mode '{self.mode}'", suggest(self.mode, MODES))
        require(self.mode == "data" or get_activation(self.activation).name == "erf", "activation",
                "population mode of chaos-rate integrates the erf teacher in closed form, which needs an erf student",
                "use activation = 'erf' or mode = 'data'")
        require(self.d >= 2, "d", f"the pilot target uses x_1 and x_2, got d = {self.d}", "use d >= 2")
        require(len(set(self.widths)) >= 2, "widths", "needs at least two distinct sizes to fit a rate",
                "e.g. widths = [64, 128, 256, 512]")
        for i, n in enumerate(self.widths):
            require(n >= 2, f"widths[{i}]", f"must be >= 2, got {n}", "particle counts are positive")
        require(self.m_ref >= 4 * max(self.widths), "m_ref",
                f"the reference must have at least 4·max(widths) = {4 * max(self.widths)} particles, got {self.m_ref}",
                "raise m_ref or drop the largest widths (its own O(1/M_ref) error must stay small)")
        require(self.replicas >= 2, "replicas", f"must be >= 2, got {self.replicas}", "confidence intervals need replicas")
        require(self.eta > 0, "eta", f"must be > 0, got {self.eta}", "e.g. eta = 0.2")
        require(self.tau >= 0, "tau", f"must be >= 0, got {self.tau}", "tau = 0 is noiseless gradient descent")
        require(self.lam >= 0, "lam", f"must be >= 0, got {self.lam}", "e.g. lam = 0.01")
        require(self.steps % self.log_every == 0, "log_every", f"must divide steps = {self.steps}",
                "e.g. log_every = steps / 10")
        self.init.validate("init")
        snaps = self.steps // self.log_every + 1
        check_memory(self.memory_bytes(), "m_ref", f"{self.replicas} replicas of N up to {self.m_ref} particles, "
                     f"{snaps} logged clouds", "lower m_ref (and the largest widths with it), replicas, or "
                     "log less often (log_every); exact_w2_max bounds the W2 cost matrix")

    def memory_bytes(self) -> float:
        """The largest system's run, every size's clouds kept for the reduction, and the larger of the
        function gap's kernel matrices (:func:`chaos_metrics`: the reference's M_ref × M_ref Gram matrix and
        its product, one replica at a time, or every replica's N × M_ref cross Gram matrix) and exact W₂'s
        float64 cost matrix (3 N·M_ref words when both clouds fit ``exact_w2_max``)."""
        objective = DataObjective(self.activation) if self.mode == "data" else PopulationObjective("erf", None)
        snaps = self.steps // self.log_every + 1
        sizes = sorted(set(self.widths)) + [self.m_ref]
        run = max(MFLDSystem(objective, n).memory_bytes(self.d, self.replicas, snaps, self.n_train) for n in sizes)
        kept = 4 * self.replicas * snaps * (1 + self.d) * sum(sizes)
        w2 = 24 * max(self.widths) * self.m_ref if self.m_ref <= self.exact_w2_max else 0
        gap = 4 * max(2 * self.m_ref ** 2, 2 * self.replicas * max(self.widths) * self.m_ref)
        return float(run + kept + max(w2, gap))


def pilot_task(cfg: ChaosRateConfig):
    """The erf teacher f*(x) = erf(x₁) + ½ erf(x₂) and, in data mode, its fixed training sample."""
    teacher = build_task("teacher", d=cfg.d, amplitudes=[1.0, 0.5], activation="erf", name="erf-pilot")
    X = jax.random.normal(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 7), (cfg.n_train, cfg.d))
    return teacher, TrainData(X, teacher.target(X), jnp.full(cfg.n_train, 1.0 / cfg.n_train))


def objective(cfg: ChaosRateConfig, teacher):
    """The width-free objective of every system size."""
    if cfg.mode == "population":
        return PopulationObjective(cfg.activation, teacher, cfg.lam)
    return DataObjective(cfg.activation, cfg.lam)


class _Shared(NamedTuple):
    objective: object
    data: object


def _setup(cfg):
    act = get_activation(cfg.activation)
    if not act.smooth:
        print(f"warning: uniform-in-time propagation of chaos assumes a smooth activation (LSI); {act.name} may not "
              "show it", file=sys.stderr)
    teacher, data = pilot_task(cfg)
    return _Shared(objective(cfg, teacher), data)


def _units(cfg):
    return sorted(set(cfg.widths)) + [cfg.m_ref]


def _compute(cfg, n, ctx) -> dict:
    cl, al = coupled_system(ctx.shared.objective, n, cfg.init, jax.random.PRNGKey(cfg.seed), cfg.d, cfg.eta, cfg.tau,
                            cfg.steps, cfg.log_every, cfg.replicas, ctx.shared.data if cfg.mode == "data" else None,
                            progress=ctx.progress)
    return {"clouds": np.asarray(cl), "alive": np.asarray(al)}


def _reduce(cfg, results, ctx) -> Reduced:
    log, t0 = ctx.log, time.perf_counter()

    def say(what):  # the reduction's phases, each announced with the time so far (tens of seconds at full size)
        log(f"chaos-rate: {what} ({time.perf_counter() - t0:.0f} s)")

    clouds = {n: r["clouds"] for n, r in results.items()}
    alive = {n: r["alive"] for n, r in results.items()}
    runs = CoupledRuns(log_times(cfg.eta, cfg.steps, cfg.log_every), clouds, cfg.m_ref, alive)
    dead = {n: int((~a).sum()) for n, a in alive.items() if (~a).any()}
    if dead:
        log(f"diverged replicas per N: {dead} (frozen at their last finite state); fix: lower eta")
    # a replica measures the coupling at N only if both its size-N system and the reference stayed finite
    paired = {n: a & alive[cfg.m_ref] for n, a in alive.items() if n != cfg.m_ref}
    lost = sorted(n for n, a in paired.items() if not a.any())
    if lost:  # a size with no such replica has no coupling to measure
        return Reduced.diverged({"preset": cfg.preset, "mode": cfg.mode, "activation": cfg.activation,
                                 "widths": sorted(set(cfg.widths)), "m_ref": cfg.m_ref, "replicas": cfg.replicas,
                                 "diverged_replicas": dead},
                                f"every replica diverged, at N = {', '.join(map(str, lost))} or in the "
                                f"M_ref = {cfg.m_ref} reference it is coupled to", f"lower eta (now {cfg.eta:g})", ctx)

    say(f"coupling C_N and function gap G_N of {len(clouds) - 1} sizes against M_ref = {cfg.m_ref}")
    metrics = chaos_metrics(runs, cfg.activation, log=lambda m: say(f"  {m}"))
    widths = sorted(metrics)
    point_rows = [{"N": n, "replica": r, "alive": bool(paired[n][r]), "t": float(t),
                   "coupling": float(metrics[n]["coupling"][r, j]),
                   "function_gap": float(metrics[n]["function_gap"][r, j])}
                  for n in widths for r in range(cfg.replicas) for j, t in enumerate(runs.times)]
    # the fits and the figure see the replicas that stayed finite (the table keeps every one, with 'alive')
    metrics = {n: {k: v[paired[n]] for k, v in m.items()} for n, m in metrics.items()}
    say(f"rate fits with {cfg.n_boot} bootstrap resamples")
    fits = rate_fits(metrics, runs.times, cfg.n_boot, cfg.seed)
    rate_rows = []
    for name in ("coupling", "function_gap"):
        for j, f in enumerate(fits[name]["per_time"]):
            rate_rows.append({"metric": name, "t": float(runs.times[j + 1]), "slope": f["slope"],
                              "ci_low": (f["ci95"] or [None, None])[0], "ci_high": (f["ci95"] or [None, None])[1]})
        f = fits[name]["sup_over_time"]
        rate_rows.append({"metric": name, "t": "sup", "slope": f["slope"], "ci_low": (f["ci95"] or [None, None])[0],
                          "ci_high": (f["ci95"] or [None, None])[1]})
    say("moments of the reference cloud")
    moments = _moments(cfg, runs)
    say(f"W2 distances to the reference (exact OT up to {cfg.exact_w2_max} points, sliced above)")
    dist_rows = _distances(cfg, runs, widths)
    say("done")

    def headline(name):
        f = fits[name]["sup_over_time"]
        ok = f["ci95"] is not None and f["ci95"][0] <= -1 <= f["ci95"][1]
        return {"slope": f["slope"], "ci95": f["ci95"], "minus_one_in_ci": ok, "N_times_sup": fits[name]["n_times_sup"]}

    summary = {"preset": cfg.preset, "status": "completed", "mode": cfg.mode, "activation": cfg.activation,
               "widths": widths, "m_ref": cfg.m_ref, "replicas": cfg.replicas, "expected_slope": -1.0,
               "coupling_sup_t": headline("coupling"), "function_gap_sup_t": headline("function_gap"),
               "diverged_replicas": dead}
    return Reduced({"points": point_rows, "rates": rate_rows, "moments": moments, "distances": dist_rows}, summary,
                   extra={"metrics": metrics, "fits": fits, "times": runs.times})


def _figures(cfg, red, ctx) -> dict:
    from .plots import chaos_rate_figure

    e = red.extra
    setting = (f"{cfg.activation} network, d = {cfg.d}, {cfg.mode} risk"
               f"{f' (P = {cfg.n_train})' if cfg.mode == 'data' else ''}, τ = {cfg.tau:g}, λ = {cfg.lam:g}, "
               f"η = {cfg.eta:g}, M_ref = {cfg.m_ref}")
    return {"chaos_rate": chaos_rate_figure(e["metrics"], e["fits"], e["times"], red.tables["distances"], setting)}


def _describe(s: dict) -> list[str]:
    lines = [f"{s.get('mode')} mode, {s.get('activation')}, N = {s.get('widths')} against M_ref = {s.get('m_ref')}, "
             f"{s.get('replicas')} replicas; rate of sup_t in N (expected {s.get('expected_slope')}):"]
    for key in ("coupling_sup_t", "function_gap_sup_t"):
        h = s.get(key) or {}
        sl, ci = h.get("slope"), h.get("ci95")
        lines.append(f"  {key}: " + ("—" if sl is None else f"{sl:+.2f}") + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""))
    if s.get("diverged_replicas"):
        lines.append(f"  diverged replicas per N: {s['diverged_replicas']}")
    return lines




def _moments(cfg, runs: CoupledRuns) -> list[dict]:
    """Moments of the reference cloud (replica 0) along the flow: m_p, exponential moments at fractions
    of the initialisation's w* (max-dominance flagged), and the χ²-matched tail scale next to the
    Ornstein–Uhlenbeck prediction s_t² (from the initial tail scale)."""
    ws = w_star(cfg.init, cfg.d)
    w0 = ws["gaussian"]["w_star"]
    fracs = (0.25, 0.5, 0.9, 1.2) if ws["admissible"] and np.isfinite(w0) else ()
    rows = track_moments(runs.clouds[runs.m_ref][0], ws=tuple(f * w0 for f in fracs), seed=cfg.seed)
    s0 = next(r["estimate"] for r in rows if r["time_index"] == 0 and r["statistic"] == "tail_scale_sq")
    for r in rows:
        r["t"] = float(runs.times[r["time_index"]])
        if r["statistic"] == "tail_scale_sq":
            r["ou_prediction"] = float(ou_scale(s0, cfg.tau, cfg.lam, r["t"]))
    return rows


def _distances(cfg, runs: CoupledRuns, widths) -> list[dict]:
    """Exact W₂² (or sliced, above ``exact_w2_max``) and debiased sliced W₂² between μ̂_N and the
    reference at the final time, for the first two replicas."""
    ref = runs.clouds[runs.m_ref][:, -1]
    rows = []
    for n in widths:
        for r in range(min(2, cfg.replicas)):
            X = runs.clouds[n][r, -1]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", OTFallbackWarning)
                w2, method = w2_squared(X, ref[r], cfg.exact_w2_max, cfg.sliced_projections, cfg.seed)
            for w in caught:
                print(f"warning: {w.message}", file=sys.stderr)
            sw = debiased_sliced_w2_squared(X, ref[r], cfg.sliced_projections, cfg.seed + r)
            rows.append({"N": n, "replica": r, "w2_sq": w2, "w2_method": method, **sw})
    return rows


STUDY = Study(
    "chaos-rate",
    "propagation of chaos of muP mean-field Langevin dynamics: synchronously coupled N-particle systems vs an "
    "M_ref reference, coupling and function-gap rates in N with replica CIs (expected -1), W2 diagnostics",
    ChaosRateConfig, units=_units, compute=_compute, reduce=_reduce, setup=_setup, figures=_figures,
    describe=_describe, unit_name="system size",
    defaults={"preset": "chaos-rate", "widths": [64, 128, 256, 512, 1024, 2048], "m_ref": 8192, "replicas": 16},
    quick={"widths": [64, 128, 256, 512], "m_ref": 4096, "replicas": 16},
    tables={"points": ("N", "replica", "t"), "rates": ("metric", "t")},
)
register(STUDY.preset())
