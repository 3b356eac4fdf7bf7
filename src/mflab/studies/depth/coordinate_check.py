r"""Depth-and-width coordinate check of pre-activation ResNets (preset ``depth-coordinate-check``).

For every variant (parametrization, block size, first-layer rate exponent ζ), width n and depth L,
train ``seeds`` networks for ``steps`` full-batch GD steps on a small synthetic regression task and
record the feature updates of :mod:`mflab.analysis.coordinate_check`. Outputs: ``results/points.csv``
(one row per variant, n, L, seed), ``figures/coordinate_check.png`` (Δh_L and, for two-layer blocks,
the first internal layer's own update Δz^own against L, one line per n) and the fitted log-log slopes
in L at the largest width. Finished (variant, n, L) points are kept in ``results/partial.json``:
an interrupted run resumes without redoing them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..analysis.coordinate_check import coordinate_check, loglog_slope
from ..dynamics.optimizers import check_optimizer
from ..errors import ConfigError
from ..networks.resnet import ResNet
from .config import require
from .rundir import RunDir, provenance, resumable


@dataclass
class Variant:
    """One ResNet family of a depth study: parametrization, block size, first-layer rate exponent ζ
    (the depth-aware correction) and optimizer (rates from the table in :mod:`mflab.conventions`)."""

    parametrization: str = "depth-mup"
    block_layers: int = 1
    first_layer_lr_exponent: float = 0.0
    optimizer: str = "sgd"

    @property
    def label(self) -> str:
        s = f"{self.parametrization}, {self.block_layers}-layer blocks"
        s += f", ζ={self.first_layer_lr_exponent:g}" if self.first_layer_lr_exponent else ""
        return s + (f", {self.optimizer}" if self.optimizer != "sgd" else "")

    def net(self, width: int, depth: int, activation: str) -> ResNet:
        return ResNet.create(width, depth, activation, self.parametrization, self.block_layers,
                             first_layer_lr_exponent=self.first_layer_lr_exponent)


def validate_variants(variants: list, activation: str):
    """Every variant builds a ResNet and names a known optimizer; errors name ``variants[i].field``."""
    require(len(variants) >= 1, "variants", "is empty", "list at least one variant")
    for i, v in enumerate(variants):
        try:
            v.net(8, 2, activation)
            check_optimizer(v.optimizer, "variants.optimizer")
        except ConfigError as e:
            raise ConfigError(f"variants[{i}].{e.field.split('.')[-1]}", e.problem, e.fix) from None


def _default_variants():
    return [Variant("sp"), Variant("mup"), Variant("depth-mup"), Variant("depth-mup", 2), Variant("depth-mup", 2, 0.5)]


@dataclass
class CoordinateCheckConfig:
    preset: str = "depth-coordinate-check"
    seed: int = 0
    widths: list[int] = field(default_factory=lambda: [64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])
    variants: list[Variant] = field(default_factory=_default_variants)
    activation: str = "tanh"
    lr: float = 0.05  # base η; group rates η n^c L^ζ from mflab.conventions
    steps: int = 1
    seeds: int = 2
    n_inputs: int = 8
    d: int = 8

    def validate(self):
        for name in ("widths", "depths"):
            for i, v in enumerate(getattr(self, name)):
                require(v >= 1, f"{name}[{i}]", f"must be >= 1, got {v}", "use positive integers")
        for name in ("steps", "seeds", "n_inputs", "d"):
            require(getattr(self, name) >= 1, name, f"must be >= 1, got {getattr(self, name)}", "a positive integer")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}", "e.g. lr = 0.05")
        validate_variants(self.variants, self.activation)


def _task(cfg: CoordinateCheckConfig):
    X = jax.random.normal(jax.random.PRNGKey(cfg.seed), (cfg.n_inputs, cfg.d))
    return X, jnp.tanh(X[:, 0] + 0.5 * X[:, 1])


def run(cfg: CoordinateCheckConfig, rd: RunDir, progress: bool = True, log=None) -> dict:
    log = log or (lambda m: print(m, file=sys.stderr))
    rd.write_json("provenance.json", provenance(cfg.seed))
    X, y = _task(cfg)
    done = rd.read_json("results/partial.json") or {"rows": []}
    finished = {(r["variant"], r["width"], r["depth"]) for r in done["rows"]}
    todo = [(vi, n, L) for vi in range(len(cfg.variants)) for n in cfg.widths for L in cfg.depths
            if (vi, n, L) not in finished]
    for vi, n, L in resumable(todo, len(finished), "points", "coordinate check", "pt", progress, log):
        v = cfg.variants[vi]
        rows = coordinate_check(lambda n, L: v.net(n, L, cfg.activation), [n], [L], X, y, cfg.lr, cfg.steps, cfg.seeds,
                                key=jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1), optimizer=v.optimizer)
        done["rows"] += [dict(r, variant=vi, label=v.label) for r in rows]
        rd.write_json("results/partial.json", done)
    rows = done["rows"]
    rd.write_table("points", rows)
    diverged = [r for r in rows if not r["alive"]]
    if diverged:
        log(f"{len(diverged)} runs diverged (alive = false in results/points.csv); fix: lower lr")
    from .depth_plots import coordinate_check_figure

    rd.save_figure(coordinate_check_figure(rows, cfg), "coordinate_check")
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
    rd.write_json("summary.json", summary)
    return summary
