r"""Convergence of depth-μP ResNets to the depth limit (preset ``depth-limit``).

For each coarse depth L in ``depths``, ``seeds`` networks of depth 2L (one-layer blocks, width n)
are drawn with their multilevel coarse partners (:func:`mflab.networks.resnet.coarsen`) and an
independent depth-L network. Each is trained for ``steps`` full-batch GD steps on a small smooth
regression task. The coupled increments Δ_L of the outputs f, the kernel K_h and the feature
kernel K_φ are recorded at initialisation and after training (:mod:`mflab.analysis.depth_limit`).

Outputs: ``results/levels.csv`` (one row per L, stage and observable: |E Δ_L| raw and noise-debiased,
its standard error, whether it is resolved, the spread of coupled vs independent differences and,
for K_h at init, the infinite-width prediction), ``figures/depth_limit.png``, and in the summary the
log-log slope in L with a seed-bootstrap 95 % interval (the theory expects −1). Each level L is a
unit of :mod:`mflab.framework.study` (every seed's observables): an interrupted run resumes without
redoing finished levels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.depth_limit import OBSERVABLES, coupled_level, increment_stats, slope_with_ci, theory_init_increment
from ...errors import ConfigError
from ...networks.resnet import ResNet, check_resnet_memory
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from ...tasks.base import sample_inputs

STAGES = ("init", "trained")


@dataclass
class DepthLimitConfig:
    """Configuration of ``depth-limit``: width, coarse depths, seeds (vmapped ``seed_batch`` at a time) and GD."""

    preset: str = "depth-limit"
    seed: int = seed_field()
    width: int = 256
    depths: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16])  # coarse depths L (fine: 2L)
    seeds: int = 48
    # networks vmapped per compiled call (memory ∝ seed_batch · L · n²)
    seed_batch: int = bounded(16, ge=1, fix="a positive integer")
    parametrization: str = "depth-mup"
    activation: str = "tanh"
    lr: float = 0.5
    steps: int = bounded(5, ge=1, fix="a positive integer")
    n_inputs: int = bounded(4, ge=1, fix="a positive integer")
    d: int = bounded(8, ge=1, fix="a positive integer")
    n_boot: int = bounded(1000, ge=1, fix="a positive integer")

    def validate(self):
        require(self.width >= 1, "width", f"must be >= 1, got {self.width}", "e.g. width = 256")
        for i, L in enumerate(self.depths):
            require(L >= 1, f"depths[{i}]", f"must be >= 1, got {L}", "coarse depths are positive (fine = 2L)")
        require(len(set(self.depths)) >= 2, "depths", "needs at least two distinct depths to fit a rate",
                "e.g. depths = [1, 2, 4, 8, 16]")
        require(self.seeds >= 2, "seeds", f"must be >= 2, got {self.seeds}", "error bars need seeds; e.g. 48")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}", "e.g. lr = 0.5")
        try:
            ResNet.create(8, 2, self.activation, self.parametrization)
        except ConfigError as e:
            raise ConfigError(e.field.split(".")[-1], e.problem, e.fix) from None
        # seed_batch coupled pairs at once: the fine network (2L) and its coarsened copy (L)
        check_resnet_memory(2 * min(self.seed_batch, self.seeds), self.width, 2 * max(self.depths), self.d,
                            self.n_inputs, field="width",
                            fix="lower width (memory grows as width²) or seed_batch (networks trained at once)")


def task(cfg: DepthLimitConfig):
    """P inputs on the sphere ‖x‖² = d and the smooth target tanh(x₁ + x₂/2)."""
    X = sample_inputs(jax.random.PRNGKey(cfg.seed), "sphere", cfg.n_inputs, cfg.d)
    return X, jnp.tanh(X[:, 0] + 0.5 * X[:, 1])


def _units(cfg):
    return sorted(set(cfg.depths))


def _compute(cfg, L, ctx) -> dict:
    X, y = ctx.shared
    fine = ResNet.create(cfg.width, 2 * L, cfg.activation, cfg.parametrization)
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), L), cfg.seeds)
    parts = [coupled_level(fine, X, y, cfg.lr, cfg.steps, keys[i:i + cfg.seed_batch])
             for i in range(0, cfg.seeds, cfg.seed_batch)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _reduce(cfg, results, ctx) -> Reduced:
    X, y = ctx.shared
    Ls = list(results)
    raw = {f"L{L}_{k}": v for L, res in results.items() for k, v in res.items()}
    log = ctx.log
    rows, slopes = [], {}
    alive = {L: raw[f"L{L}_alive"].astype(bool) for L in Ls}
    dead = sum(int((~a).sum()) for a in alive.values())
    if dead:
        log(f"{dead} coupled triples had a rejected (diverging) GD step and are left out; fix: lower lr")
    for stage in STAGES:
        for obs in OBSERVABLES:
            deltas = []
            for L in Ls:
                a = alive[L]
                f, c, i = (raw[f"L{L}_{t}_{stage}_{obs}"][a] for t in ("fine", "coupled", "independent"))
                if len(f) < 2:
                    continue
                st = increment_stats(f, c, i)
                row = {"depth": L, "fine_depth": 2 * L, "stage": stage, "observable": obs, "seeds": int(a.sum()), **st}
                if stage == "init" and obs == "K_h":
                    row["theory_infinite_width"] = theory_init_increment(
                        ResNet.create(cfg.width, 2 * L, cfg.activation, cfg.parametrization), X)
                rows.append(row)
                deltas.append((L, f - c, st["resolved"]))
            res = [(L, d) for L, d, ok in deltas if ok]
            entry = {"resolved_depths": [L for L, _ in res], "all_depths": [L for L, _, _ in deltas]}
            if len(res) >= 2:
                s, lo, hi = slope_with_ci([L for L, _ in res], [d for _, d in res], cfg.n_boot, cfg.seed)
                entry.update(slope=s, ci95=[lo, hi])
            slopes[f"{stage}/{obs}"] = entry
    head = {"preset": cfg.preset, "width": cfg.width, "depths": Ls, "seeds": cfg.seeds}
    if not rows:
        return Reduced.diverged({**head, "rejected_triples": dead}, f"GD diverged in {dead} of {len(Ls) * cfg.seeds} "
                                "coupled triples, leaving fewer than two seeds at every depth",
                                f"lower lr (now {cfg.lr:g})", ctx)
    ratio = [r["std_independent"] / r["std_coupled"] for r in rows if r["std_coupled"] > 0]
    summary = {**head, "status": "completed", "loglog_slope_in_depth": slopes, "expected_slope": -1.0,
               "variance_reduction_of_coupling": {"median_std_ratio": float(np.median(ratio)),
                                                  "min_std_ratio": float(np.min(ratio))},
               "rejected_triples": dead}
    return Reduced({"levels": rows}, summary)


def _figures(cfg, red, ctx) -> dict:
    from .plots import depth_limit_figure

    return {"depth_limit": depth_limit_figure(red.tables["levels"], cfg)}


def _describe(s: dict) -> list[str]:
    lines = [f"width {s.get('width')}, depths {s.get('depths')}, {s.get('seeds')} seeds; log-log slopes of the coupled "
             f"increments in L (expected {s.get('expected_slope')}), on the levels resolved above 2σ:"]
    for key, e in (s.get("loglog_slope_in_depth") or {}).items():
        sl, ci = e.get("slope"), e.get("ci95")
        lines.append(f"  {key}: " + ("not resolved at two levels" if sl is None else
                                     f"{sl:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}] on L = {e.get('resolved_depths')}"))
    return lines




STUDY = Study(
    "depth-limit",
    "depth-muP ResNets: coupled coarse/fine increments of outputs and kernels vs depth, at init and after GD, "
    "with log-log slopes (expected -1) and seed-bootstrap intervals",
    DepthLimitConfig, units=_units, compute=_compute, reduce=_reduce, setup=task, figures=_figures,
    describe=_describe, unit_name="depth",
    defaults={"preset": "depth-limit", "width": 1024, "depths": [1, 2, 4, 8, 16, 32], "seeds": 128, "seed_batch": 16},
    quick={"width": 256, "depths": [1, 2, 4, 8, 16], "seeds": 48},
    tables={"levels": ("stage", "observable", "depth")},
)
register(STUDY.preset())
