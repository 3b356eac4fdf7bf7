r"""Study ``sgld-parity``: the SGLD posterior of a two-layer network on a (P, κ, replica) grid, beside
the infinite-width NNGP-KRR prediction on the same data (:mod:`mflab.studies.bayes.design`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...dynamics.runner import default_chain_batch
from ...errors import ConfigError, DivergenceError
from ...framework.config import require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from .design import (COLUMNS, SimulationRecord, divergence_fix, diverged_rows, krr_grid, prepare, sampler_label, setting_title, simulate, simulation_result,
                     trace_rows)
from .sections import NetworkConfig, SGLDConfig, TaskConfig, check_posterior_memory, check_representable, check_sampler_fits_task


@dataclass
class SGLDExperimentConfig:
    """Configuration of the SGLD study (presets ``sgld-parity`` and ``sgld-parity-published``): task, network,
    sampler and the infinite-width theory beside it. ``mflab config PRESET`` prints every field."""

    preset: str = "sgld-parity"
    seed: int = seed_field()
    precision: str = "float32"
    theory: bool = True  # compute the NNGP-KRR prediction on the same data
    task: TaskConfig = field(default_factory=TaskConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sgld: SGLDConfig = field(default_factory=SGLDConfig)

    def validate(self):
        require(self.precision in ("float32", "float64"), "precision", f"unknown precision '{self.precision}'",
                "use float32 or float64")
        check_representable(self.task, self.network)
        check_sampler_fits_task(self.task, self.sgld)
        if self.sgld.batch_size is not None and self.sgld.batch_size > min(self.task.n_train):
            raise ConfigError("sgld.batch_size", f"{self.sgld.batch_size} exceeds the smallest n_train "
                              f"{min(self.task.n_train)}", "lower batch_size or omit it for full batch")
        check_posterior_memory(self.task, self.network, self.sgld, self.theory, precision=self.precision)


def _setup(cfg: SGLDExperimentConfig):
    return prepare(cfg.task, cfg.network, cfg.sgld, cfg.seed)


def _units(cfg):
    return ["sgld", "krr"]


def _compute(cfg: SGLDExperimentConfig, unit, ctx) -> dict:
    g = ctx.shared
    if unit == "sgld":
        return simulation_result(simulate(g, cfg.sgld, ctx.rd, ctx.progress, ctx.log, checkpoint=ctx.checkpoint_name,
                                          net_cfg=cfg.network))
    C = len(g.points)
    return krr_grid(g) if cfg.theory else {k: np.full(C, np.nan) for k in ("test_mse_mean", "test_mse_gibbs", "overlap")}


def _provenance(cfg):
    C = len(cfg.task.n_train) * len(cfg.sgld.kappa) * cfg.sgld.replicas
    return {"chain_batch": cfg.sgld.chain_batch or default_chain_batch(C)}


def _reduce(cfg: SGLDExperimentConfig, results, ctx) -> Reduced:
    g, sg = ctx.shared, cfg.sgld
    sim, theory = SimulationRecord.from_result(results["sgld"]), results["krr"]
    C, Ps, kappas, reps = len(g.points), g.Ps, g.kappas, g.reps
    tr, final, alive, params = sim.trace, sim.final, sim.alive, sim.params
    names = list(final)
    final_rows = [{"chain": c, "n_train": Ps[c], "kappa": kappas[c], "replica": reps[c], "alive": bool(alive[c]),
                   **{k: final[k][c] for k in names}, "krr_test_mse_mean": theory["test_mse_mean"][c],
                   "krr_test_mse_gibbs": theory["test_mse_gibbs"][c], "krr_overlap": theory["overlap"][c]}
                  for c in range(C)]
    point_rows = []
    for P in cfg.task.n_train:
        for kap in sg.kappa:
            sel = (Ps == P) & (kappas == kap)
            row = {"n_train": P, "kappa": kap, "replicas_alive": int(alive[sel].sum())}
            for k in ("overlap", "test_mse_mean", "test_mse_gibbs", "train_mse"):
                with np.errstate(all="ignore"):
                    row[k] = np.nanmean(final[k][sel]) if np.any(np.isfinite(final[k][sel])) else np.nan
                    row[k + "_std"] = np.nanstd(final[k][sel]) if np.any(np.isfinite(final[k][sel])) else np.nan
            for k in ("overlap", "test_mse_mean", "test_mse_gibbs"):
                row["krr_" + k] = np.mean(theory[k][sel])
            point_rows.append(row)
    arrays = {"final_params": dict(W=params.W, a=params.a, n_train=Ps, kappa=kappas, replica=reps,
                                   **{k: v for k, v in (("b", params.b), ("c", params.c)) if v is not None})}
    summary = {
        "preset": cfg.preset, "status": "completed" if alive.any() else "diverged",
        "method": sampler_label(sg), "sample": sg.sample, "init": "prior" if sg.init_from is None else
        f"learned: the final weights of '{sg.init_from}' at its largest P",
        "chains": C, "steps": sim.steps_done, "wall_seconds": sim.wall,
        "chain_steps_per_second": C * sim.steps_run / sim.wall if sim.wall > 0 and sim.steps_run else None,
        "diverged_chains": diverged_rows(sim, g),
        "stopped_chains": (int(np.isfinite(final["criterion_met_at"]).sum()) if "criterion_met_at" in final else None),
        "points": point_rows,
    }
    error = None
    if not alive.any():
        first = min(int(x) for x in np.asarray(sim.diverged_at))
        error = DivergenceError(f"all {C} chains diverged (first at step {first}); "
                                f"results up to then are in '{ctx.rd.path.name}'. Fix: {divergence_fix(g, sg, cfg.network)}.")
    return Reduced({"trace": trace_rows(tr, g), "final": final_rows, "points": point_rows}, summary, arrays=arrays,
                   extra={"sim": sim, "theory": theory}, error=error)


def _figures(cfg, red, ctx) -> dict:
    from . import plots

    g, sim, theory = ctx.shared, red.extra["sim"], red.extra["theory"]
    Ps, kappas, alive, task = g.Ps, g.kappas, sim.alive, g.task
    best = int(np.argmax(np.where(alive, Ps * 1.0 - kappas, -np.inf)))
    return {"trajectories": plots.sgld_trajectories(sim.trace, Ps, kappas, theory, setting_title(g)),
            "learning_curve": plots.sgld_learning_curves(red.tables["points"], setting_title(g), sampler_label(cfg.sgld)),
            "weights": plots.weight_map(sim.params.W[best], getattr(task, "support", ()),
                                        title=f"{setting_title(g)}: |w_ij| of the final sample at P={Ps[best]}, "
                                              f"κ={kappas[best]:g}")}


def describe(summary: dict) -> list[str]:
    """`mflab show`: chains, steps, wall time, divergences and the (P, κ) table with both errors of each
    posterior: the error of the posterior mean ("MSE of mean") and the Gibbs error (each sample's error,
    averaged), for SGLD and for KRR (whose Gibbs error adds its predictive variance)."""
    lines = [f"chains: {summary.get('chains')}   steps: {summary.get('steps')}   "
             f"wall: {summary.get('wall_seconds') or 0:.1f}s"]
    if summary.get("stopped_chains") is not None:
        lines.append(f"stopping rule met by {summary['stopped_chains']} of {summary.get('chains')} chains")
    for d in summary.get("diverged_chains", []):
        lines.append(f"  diverged: chain {d['chain']} (P={d['n_train']}, kappa={d['kappa']}) at step {d['step']}")
    pts = summary.get("points", [])
    nan = float("nan")
    if pts:
        lines.append("test MSE: 'mean' = error of the posterior mean, 'Gibbs' = posterior average of each sample's error")
        lines.append(f"network: {summary.get('method', 'SGLD')}; start: {summary.get('init', 'prior')}")
        lines.append(f"{'P':>7} {'kappa':>8} {'overlap':>14} {'net mean':>18} {'net Gibbs':>11} "
                     f"{'KRR overlap':>12} {'KRR mean':>9} {'KRR Gibbs':>10}")
        for r in pts:
            g = lambda k: nan if r.get(k) is None else r[k]  # noqa: E731
            lines.append(f"{r['n_train']:>7} {r['kappa']:>8.2g} {g('overlap'):>7.3f} ± {r.get('overlap_std') or 0:<5.3f}"
                         f"{g('test_mse_mean'):>11.4f} ± {r.get('test_mse_mean_std') or 0:<6.4f}"
                         f"{g('test_mse_gibbs'):>10.4f}{g('krr_overlap'):>13.3f}{g('krr_test_mse_mean'):>10.4f}"
                         f"{g('krr_test_mse_gibbs'):>10.4f}")
    return lines


STUDY = Study(
    "sgld-parity",
    "SGLD posterior of a two-layer ReLU net on k-sparse parity vs the NNGP-KRR prediction "
    "(full: d=35, k=4, N=512, the Bayesian study's schedule; GPU-scale)",
    SGLDExperimentConfig, units=_units, compute=_compute, reduce=_reduce, setup=_setup, figures=_figures,
    describe=describe, provenance=_provenance, unit_name="method",
    defaults={
        "preset": "sgld-parity",
        "task": {"name": "parity", "d": 35, "k": 4, "n_train": [500, 1000, 2133], "n_test": 20_000},
        "network": {"width": 512, "activation": "relu", "parametrization": "ntk"},
        "sgld": {"kappa": [5e-3], "lr": 1e-3, "lr_final": 5e-4, "schedule": "polynomial", "decay_steps": 2_000_000,
                 "steps": 2_000_000, "log_every": 10_000, "chunk_steps": 100_000, "replicas": 3},
    },
    quick={
        "task": {"d": 12, "k": 4, "n_train": [50, 100, 200, 400, 800], "n_test": 4096},
        "network": {"width": 128},
        "sgld": {"kappa": [5e-3], "lr": 5e-2, "schedule": "constant", "steps": 20_000, "log_every": 250,
                 "chunk_steps": 5_000, "replicas": 2},
    },
    tables={"points": ("n_train", "kappa")},
    columns=COLUMNS,
)
register(STUDY.preset())

PUBLISHED_PROTOCOL = {  # paper B §1.4 and §8, read from the authors' scripts
    "task": {"name": "parity", "d": 35, "k": 4, "n_train": [10, 100, 500, 750, 1000, 2133, 3666, 5000, 7500, 10000],
             "n_test": 100_000},
    "network": {"width": 512, "activation": "relu", "parametrization": "ntk"},
    "sgld": {"kappa": [5e-3], "lr": 1e-3, "lr_final": 5e-4, "schedule": "polynomial", "decay_steps": 2_000_000,
             "steps": 7_500_000, "log_every": 10_000, "chunk_steps": 100_000, "replicas": 3, "sample": "final",
             "stop": {}},
}
register(STUDY.preset(
    "sgld-parity-published",
    "the published SGLD protocol of paper B: η 1e-3 → 5e-4 (power 2 over 2·10⁶ steps), at most 7.5·10⁶ steps, each "
    "chain stopped 10⁵ steps after test MSE < 0.03 (train 0-1 error ≤ 0.01 at P ≤ 550 or κ ≥ 0.02), its final "
    "weights the sample, 10⁵ test points, 3 seeds (GPU-scale; --set sgld.sampler=kinetic for the fast sampler)",
    defaults={"preset": "sgld-parity-published", **PUBLISHED_PROTOCOL},
    quick={"task": {"d": 12, "k": 4, "n_train": [50, 100, 200, 400], "n_test": 4096}, "network": {"width": 128},
           "sgld": {"lr": 5e-2, "schedule": "constant", "steps": 40_000, "log_every": 500, "chunk_steps": 10_000,
                    "replicas": 2, "stop": {"extra_steps": 2_000, "small_n_train": 100}}}))
