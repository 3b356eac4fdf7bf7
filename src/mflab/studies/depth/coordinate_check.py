r"""Depth-and-width coordinate check of pre-activation ResNets (preset ``depth-coordinate-check``).

For every variant (parametrization, block size, first-layer rate exponent ζ), width n and depth L,
train ``seeds`` networks for ``steps`` full-batch GD steps on a small synthetic regression task and
record the feature updates of :mod:`mflab.analysis.coordinate_check`. Outputs: ``results/points.csv``
(one row per variant, n, L, seed), ``figures/coordinate_check.png`` (Δh_L and, for two-layer blocks,
the first internal layer's own update Δz^own against L, one line per n) and the fitted log-log slopes
in L at the largest width. Each (variant, n, L) point is a unit of :mod:`mflab.framework.study`:
an interrupted run resumes without redoing finished ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.coordinate_check import coordinate_check
from ...analysis.fits import loglog_slope
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...networks.resnet import check_resnet_memory
from ...framework.study import Reduced, Study
from .variants import Variant, validate_variants


def _default_variants():
    return [Variant("sp"), Variant("mup"), Variant("depth-mup"), Variant("depth-mup", 2), Variant("depth-mup", 2, 0.5)]


@dataclass
class CoordinateCheckConfig:
    """Configuration of ``depth-coordinate-check``: widths, depths and ResNet variants, the GD step and seeds."""

    preset: str = "depth-coordinate-check"
    seed: int = seed_field()
    widths: list[int] = field(default_factory=lambda: [64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])
    variants: list[Variant] = field(default_factory=_default_variants)
    activation: str = "tanh"
    lr: float = 0.05  # base η; group rates η n^c L^ζ from mflab.conventions
    steps: int = bounded(1, ge=1, fix="a positive integer")
    seeds: int = bounded(2, ge=1, fix="a positive integer")
    n_inputs: int = bounded(8, ge=1, fix="a positive integer")
    d: int = bounded(8, ge=1, fix="a positive integer")

    def validate(self):
        for name in ("widths", "depths"):
            for i, v in enumerate(getattr(self, name)):
                require(v >= 1, f"{name}[{i}]", f"must be >= 1, got {v}", "use positive integers")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}", "e.g. lr = 0.05")
        validate_variants(self.variants, self.activation)
        check_resnet_memory(1, max(self.widths), max(self.depths), self.d, self.n_inputs,
                            max(v.block_layers for v in self.variants), "widths",
                            "drop the largest width (memory grows as width²) or the largest depth")


def _task(cfg: CoordinateCheckConfig):
    X = jax.random.normal(jax.random.PRNGKey(cfg.seed), (cfg.n_inputs, cfg.d))
    return X, jnp.tanh(X[:, 0] + 0.5 * X[:, 1])


def _units(cfg):
    return [(vi, n, L) for vi in range(len(cfg.variants)) for n in cfg.widths for L in cfg.depths]


def _compute(cfg, unit, ctx) -> dict:
    vi, n, L = unit
    v = cfg.variants[vi]
    X, y = ctx.shared
    rows = coordinate_check(lambda n, L: v.net(n, L, cfg.activation), [n], [L], X, y, cfg.lr, cfg.steps, cfg.seeds,
                            key=jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1), optimizer=v.optimizer)
    return {"rows": [dict(r, variant=vi, label=v.label) for r in rows]}


def _reduce(cfg, results, ctx) -> Reduced:
    rows = [r for res in results.values() for r in res["rows"]]
    diverged = [r for r in rows if not r["alive"]]
    if diverged:
        ctx.log(f"{len(diverged)} runs diverged (alive = false in results/points.csv); fix: lower lr")
    n_max = max(cfg.widths)
    slopes = {}
    for vi, v in enumerate(cfg.variants):
        sel = [r for r in rows if r["variant"] == vi and r["width"] == n_max and r["alive"]]
        Ls = sorted({r["depth"] for r in sel})
        if len(Ls) < 2:
            continue
        mean = lambda k, L: np.mean([r[k] for r in sel if r["depth"] == L])  # noqa: E731
        slopes[v.label] = {"dh_L": loglog_slope(Ls, [mean("dh_L", L) for L in Ls]),
                           "df": loglog_slope(Ls, [mean("df", L) for L in Ls])}
        if v.block_layers == 2:
            slopes[v.label]["dz_own"] = loglog_slope(Ls, [mean("dz_own", L) for L in Ls])
    summary = {"preset": cfg.preset, "status": "completed", "width_for_slopes": n_max,
               "loglog_slopes_in_depth": slopes, "diverged_runs": len(diverged)}
    return Reduced({"points": rows}, summary)


def _figures(cfg, red, ctx) -> dict:
    from .plots import coordinate_check_figure

    return {"coordinate_check": coordinate_check_figure(red.tables["points"], cfg)}


def _describe(s: dict) -> list[str]:
    lines = [f"diverged runs: {s.get('diverged_runs')}   log-log slopes in depth L at width {s.get('width_for_slopes')} "
             "(depth-muP expects 0 for dh_L and df):"]
    for label, sl in (s.get("loglog_slopes_in_depth") or {}).items():
        lines.append(f"  {label}: " + ", ".join(f"{k} {v:+.2f}" for k, v in sl.items()))
    return lines


STUDY = Study(
    "depth-coordinate-check",
    "ResNet feature updates after GD vs depth L and width n for SP, muP, depth-muP, two-layer blocks "
    "and the depth-aware first-layer rate (seconds to minutes on CPU)",
    CoordinateCheckConfig, units=_units, compute=_compute, reduce=_reduce, setup=_task, figures=_figures,
    describe=_describe, unit_name="point",
    defaults={"preset": "depth-coordinate-check", "widths": [128, 256, 512], "depths": [2, 4, 8, 16, 32, 64, 128],
              "seeds": 4},
    quick={"widths": [64, 128, 256], "depths": [2, 4, 8, 16, 32, 64], "seeds": 2},
    tables={"points": ("variant", "width", "depth", "seed")},
)
register(STUDY.preset())
