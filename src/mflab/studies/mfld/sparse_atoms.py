r"""Sparse-dictionary decomposition of the long-time mean-field measure (preset ``sparse-atoms``).

Target: a bias-free ReLU teacher f*(x) = Σ_j b_j relu(v_j·x) with orthonormal v_j = e_j and amplitudes
``amplitudes`` (realizable, Barron–Hermite). For every weight decay λ in ``lams``: N particles run
mean-field Langevin dynamics on the closed-form population risk (no data noise) at small τ for
``steps`` steps; the final cloud is reduced to atoms (:func:`mflab.analysis.sparse_atoms.extract_atoms`),
and compared with the coefficient-threshold count S_up (closed form for orthogonal atoms) and, when
``frank_wolfe``, with the support S* of the population TV problem solved by sliding Frank–Wolfe
(:mod:`mflab.theory.sparse_bound`). Expected: a staircase, Ŝ dropping by one each time λ crosses a
threshold A_j = |b_j|/2 (ReLU: max_r E[relu(z) relu(rz)]/r = ½), and Ŝ ≤ S_up.

Outputs: ``results/atoms.csv`` (one row per λ), ``results/clouds.npz`` (final particles per λ),
``figures/sparse_atoms.png``, ``summary.json``. Each λ is a unit of :mod:`mflab.framework.study`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import numpy as np

from ...analysis.sparse_atoms import extract_atoms
from ...dynamics.mean_field_langevin import MFLDSystem, ParticleInit, PopulationObjective, init_particles
from ...theory.gaussian import population_risk
from ...dynamics.runner import run_chains, stack_chains
from ...networks.activations import get_activation
from ...tasks.registry import build_task
from ...tasks.teacher import Teacher
from ...theory.sparse_bound import frank_wolfe, s_up_closed_form
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from ...resources import check_memory


@dataclass
class SparseAtomsConfig:
    """Configuration of ``sparse-atoms``: the teacher's amplitudes, the weight decays λ, the particle count
    and dynamics, and the atom extraction (mass, amplitude cut)."""

    preset: str = "sparse-atoms"
    seed: int = seed_field()
    activation: str = "relu"
    d: int = bounded(4, ge=1, fix="a positive integer")
    amplitudes: list[float] = field(default_factory=lambda: [1.0, 0.6, 0.3])
    lams: list[float] = field(default_factory=lambda: [0.02, 0.1, 0.2, 0.4, 0.6])
    width: int = bounded(256, ge=1, fix="a positive integer")
    eta: float = 0.2
    tau: float = 1e-4
    steps: int = bounded(4000, ge=1, fix="a positive integer")
    log_every: int = bounded(500, ge=1, fix="a positive integer")
    init: ParticleInit = field(default_factory=lambda: ParticleInit(scale=0.5))
    frank_wolfe: bool = True
    mass: float = 0.99
    eps_amp: float = 0.05

    def validate(self):
        get_activation(self.activation)
        require(1 <= len(self.amplitudes) <= self.d, "amplitudes",
                f"needs 1..d = {self.d} atoms (orthonormal directions e_1..e_S), got {len(self.amplitudes)}",
                "give at most d amplitudes or raise d")
        for i, lam in enumerate(self.lams):
            require(lam > 0, f"lams[{i}]", f"must be > 0, got {lam}", "weight decays are positive")
        require(self.steps % self.log_every == 0, "log_every", f"must divide steps = {self.steps}", "e.g. 500")
        require(self.eta > 0, "eta", f"must be > 0, got {self.eta}", "e.g. eta = 0.2")
        require(self.tau >= 0, "tau", f"must be >= 0, got {self.tau}", "atoms need a small tau, e.g. 1e-4")
        require(0 < self.mass <= 1, "mass", f"must be in (0, 1], got {self.mass}", "e.g. mass = 0.99")
        self.init.validate("init")
        need = MFLDSystem(PopulationObjective(self.activation, None), self.width).memory_bytes(
            self.d, 1, self.steps // self.log_every + 1)
        check_memory(need, "width", f"{self.width} particles (a width² population kernel per step)",
                     "lower width")


def teacher(cfg: SparseAtomsConfig) -> Teacher:
    return build_task("teacher", d=cfg.d, amplitudes=cfg.amplitudes, activation=cfg.activation, name="sparse-teacher")


class _Shared(NamedTuple):
    teacher: Teacher
    power: float


def _setup(cfg):
    T = teacher(cfg)
    return _Shared(T, float(T.target_power))


def _units(cfg):
    return list(range(len(cfg.lams)))


def _compute(cfg, i, ctx) -> dict:
    T, power = ctx.shared
    N = cfg.width
    lam = cfg.lams[i]
    system = MFLDSystem(PopulationObjective(cfg.activation, T, lam), N)
    kern = system.kernel
    p0 = init_particles(cfg.init, jax.random.PRNGKey(cfg.seed), N, cfg.d)
    st = stack_chains(kern.init(p0), 1)
    res = run_chains(kern, st, jax.random.PRNGKey(cfg.seed + 1)[None], stack_chains(system.hyper(cfg.eta, cfg.tau), 1),
                     None, n_steps=cfg.steps, log_every=cfg.log_every, chunk_steps=cfg.steps, progress=ctx.progress,
                     divergence_fix=f"lower eta (now {cfg.eta:g})",
                     desc=f"λ={lam:g}", observe=lambda p, _: {"risk": population_risk(cfg.activation, T, p,
                                                                                      target_power=power)})
    params = jax.tree_util.tree_map(lambda x: np.asarray(x[0]), res.states.params)
    theta = np.concatenate([params.a[:, None], params.W], axis=1)
    ex = extract_atoms(theta, cfg.activation, T, mass=cfg.mass, eps_amp=cfg.eps_amp)
    sup = s_up_closed_form(cfg.activation, T, lam)
    row = {"lam": lam, "S_hat": ex["S_hat"], "S_up": sup["S_up"], "risk": float(res.trace.values["risk"][0, -1]),
           "sparse_residual": ex["sparse_residual"], "target_residual": ex["target_residual"],
           "min_abs_cos": min((m["abs_cos"] for m in ex["matching"]), default=None),
           "threshold": ex["threshold"], "alive": bool(res.states.alive[0]),
           "atoms": [{"amplitude": a, "direction": w} for a, w in zip(ex["amplitudes"], ex["directions"])],
           "thresholds_A": sup["thresholds"], "theta": theta.tolist()}
    if cfg.frank_wolfe:
        fw = frank_wolfe(cfg.activation, T, lam, seed=cfg.seed)
        row.update(S_star_fw=fw["S_star"], S_star_fw_raw=fw["S_star_raw"], fw_certificate=fw["certificate"])
    return row


def _reduce(cfg, results, ctx) -> Reduced:
    rows = list(results.values())
    lost = [r["lam"] for r in rows if not r["alive"]]
    if len(lost) == len(rows):
        return Reduced.diverged({"preset": cfg.preset, "lams": cfg.lams},
                                f"the particle system diverged at every λ ({', '.join(f'{x:g}' for x in lost)})",
                                f"lower eta (now {cfg.eta:g})", ctx)
    if lost:
        ctx.log(f"λ = {', '.join(f'{x:g}' for x in lost)} diverged: frozen at the last finite state, not a long-time "
                "cloud, so left out of the Ŝ ≤ S_up check; fix: lower eta")
    clouds = {f"lam_{i}": np.asarray(r["theta"]) for i, r in enumerate(rows)}
    table = [{k: v for k, v in r.items() if k not in ("atoms", "theta", "thresholds_A")} for r in rows]
    ok = all(r["S_hat"] <= r["S_up"] for r in rows if r["alive"])
    summary = {"preset": cfg.preset, "status": "completed", "lams": cfg.lams, "S_hat": [r["S_hat"] for r in rows],
               "S_up": [r["S_up"] for r in rows], "thresholds_A": rows[0]["thresholds_A"],
               "S_hat_le_S_up": ok, **({"S_star_fw": [r["S_star_fw"] for r in rows]} if cfg.frank_wolfe else {}),
               "diverged": lost}
    if not ok:
        ctx.log("note: Ŝ > S_up at some λ (see results/atoms.csv): the closed form assumes orthogonal atoms")
    return Reduced({"atoms": table}, summary, arrays={"clouds": clouds}, extra={"rows": rows})


def _figures(cfg, red, ctx) -> dict:
    from .plots import sparse_atoms_figure

    return {"sparse_atoms": sparse_atoms_figure(red.extra["rows"], cfg)}


def _describe(s: dict) -> list[str]:
    lines = [f"{'lambda':>8} {'S_hat':>6} {'S_up':>5}" + (f" {'S*_FW':>6}" if "S_star_fw" in s else "")]
    for j, lam in enumerate(s.get("lams", [])):
        lines.append(f"{lam:>8.3g} {s['S_hat'][j]:>6} {s['S_up'][j]:>5}"
                     + (f" {s['S_star_fw'][j]:>6}" if "S_star_fw" in s else ""))
    lines.append(f"S_hat <= S_up at every lambda: {s.get('S_hat_le_S_up')}; diverged: {s.get('diverged')}")
    return lines




STUDY = Study(
    "sparse-atoms",
    "sparse-dictionary decomposition of the long-time mean-field measure: atoms of the particle cloud vs weight "
    "decay (the staircase), against the closed-form S_up and the Frank-Wolfe support of the TV problem",
    SparseAtomsConfig, units=_units, compute=_compute, reduce=_reduce, setup=_setup, figures=_figures,
    describe=_describe, unit_name="weight decay",
    defaults={"preset": "sparse-atoms", "width": 1024, "steps": 20000, "lams": [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6]},
    quick={"width": 256, "steps": 4000, "lams": [0.02, 0.1, 0.2, 0.4, 0.6]},
    tables={"atoms": ("lam",)},
)
register(STUDY.preset())
