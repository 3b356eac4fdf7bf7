r"""The reused-weight coupling vs depth and width (preset ``depth-coupling``).

For each width n and depth L, ``seeds`` depth-μP ResNets (one-layer blocks, mode
``"ablate-coupling"``) are trained for ``steps`` full-batch SGD steps three times from the same
initialisation: plain backprop, with the coupling removed, and with the null swap
(:mod:`mflab.analysis.reused_weight_coupling`). Recorded per seed:

* a_k and a_k^null, k = 0 … T−1: the accumulated coupling in the backward vector along the plain run,
  and the same projections applied to an independent Gaussian matrix (its finite-n floor);
* the ablation effect rms_x |f_k^std − f_k^abl| and the null's rms_x |f_k^std − f_k^null| per step,
  and the output movement rms_x |f_T^std − f_0|.

Summary: log-log slopes in L (largest width) of the coupling excess a − a^null at the first and last
step and of the ablation excess Δ − Δ^null at the last step, and slopes in n (largest depth) at
step 0, each with a seed-bootstrap 95 % interval when every level's excess is positive. The notes
expect: at init (k = 0) the excess is at the floor (O(1/n)); the paper claims the ablation effect
decays as L⁻². Outputs: ``results/points.csv`` (one row per n, L, seed, step), ``summary.json``,
``figures/depth_coupling.png``. Each finished (n, L) cell is a unit of :mod:`mflab.framework.study`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.fits import mean_loglog_slope
from ...analysis.reused_weight_coupling import history_train
from ...networks.resnet import ResNet, check_resnet_memory
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from .limit import task as _task  # the same inputs on the sphere and tanh(x₁ + x₂/2)


@dataclass
class DepthCouplingConfig:
    """Configuration of ``depth-coupling``: widths, depths, seeds and the GD steps of the coupling measurement."""

    preset: str = "depth-coupling"
    seed: int = seed_field()
    widths: list[int] = field(default_factory=lambda: [128, 256, 512])
    depths: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32])
    seeds: int = 8
    activation: str = "tanh"
    lr: float = 0.5
    steps: int = bounded(4, ge=1, fix="a positive integer")
    n_inputs: int = bounded(4, ge=1, fix="a positive integer")
    d: int = bounded(8, ge=1, fix="a positive integer")
    n_boot: int = bounded(1000, ge=1, fix="a positive integer")

    def validate(self):
        for name in ("widths", "depths"):
            vals = getattr(self, name)
            require(len(set(vals)) >= 1, name, "is empty", "list at least one value")
            for i, v in enumerate(vals):
                require(v >= 1, f"{name}[{i}]", f"must be >= 1, got {v}", "use positive integers")
        require(self.seeds >= 2, "seeds", f"must be >= 2, got {self.seeds}", "error bars need seeds; e.g. 8")
        require(self.lr > 0, "lr", f"must be > 0, got {self.lr}", "e.g. lr = 0.5")
        ResNet.create(8, 2, self.activation, "depth-mup", mode="ablate-coupling")
        check_resnet_memory(3, max(self.widths), max(self.depths), self.d, self.n_inputs * (self.steps + 1),
                            field="widths", fix="drop the largest width (memory grows as width²) or depth")


def measure_cell(cfg, n: int, L: int, X, y) -> dict:
    """Arrays over seeds for one (n, L): a (S, T), a_null (S, T), abl (S, T+1), null (S, T+1), move (S,)."""
    net = ResNet.create(n, L, cfg.activation, "depth-mup", mode="ablate-coupling")
    rms = lambda a, b: jnp.sqrt(jnp.mean((a - b) ** 2, axis=-1))  # noqa: E731

    def one(key):
        p = net.init(key, X.shape[1], X.dtype)
        std, abl, nul = (history_train(net, p, X, y, cfg.lr, cfg.steps, swap=s, key=jax.random.fold_in(key, 5))
                         for s in ("none", "coupling", "null"))
        return {"a": std.coupling, "a_null": std.coupling_null, "abl": rms(std.outputs, abl.outputs),
                "null": rms(std.outputs, nul.outputs), "move": rms(std.outputs[-1], std.outputs[0]),
                "alive": std.alive & abl.alive & nul.alive}

    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 100_000 * n + L), cfg.seeds)
    # seeds run sequentially (lax.map): vmapping the three QR-carrying loops hung XLA:CPU (jax 0.10.2)
    # for L >= 4 with no CPU use; the cost is small since each run is tiny
    return {k: np.asarray(v) for k, v in jax.jit(lambda ks: jax.lax.map(one, ks))(keys).items()}


def _setup(cfg):
    return _task(cfg)


def _units(cfg):
    return [(n, L) for n in cfg.widths for L in cfg.depths]


def _compute(cfg, unit, ctx) -> dict:
    n, L = unit
    m = measure_cell(cfg, n, L, *ctx.shared)
    rows = []
    for s in range(cfg.seeds):
        for k in range(cfg.steps + 1):
            rows.append({
                "width": n, "depth": L, "seed": s, "step": k, "alive": bool(m["alive"][s]),
                "coupling": float(m["a"][s, k]) if k < cfg.steps else None,
                "coupling_null": float(m["a_null"][s, k]) if k < cfg.steps else None,
                "ablation_effect": float(m["abl"][s, k]), "null_effect": float(m["null"][s, k]),
                "output_move": float(m["move"][s])})
    return {"rows": rows}


def _reduce(cfg, results, ctx) -> Reduced:
    rows = [r for res in results.values() for r in res["rows"]]
    dead = {(r["width"], r["depth"], r["seed"]) for r in rows if not r["alive"]}
    runs = len({(r["width"], r["depth"], r["seed"]) for r in rows})
    if len(dead) == runs:
        return Reduced.diverged({"preset": cfg.preset, "diverged_runs": len(dead)},
                                f"GD diverged in all {runs} runs (every width, depth and seed)",
                                f"lower lr (now {cfg.lr:g})", ctx)
    if dead:
        ctx.log(f"{len(dead)} runs diverged (alive = false in results/points.csv); fix: lower lr")
    summary = {"preset": cfg.preset, "status": "completed", "diverged_runs": len(dead), **_slopes(cfg, rows)}
    return Reduced({"points": rows}, summary)


def _figures(cfg, red, ctx) -> dict:
    from .plots import depth_coupling_figure

    return {"depth_coupling": depth_coupling_figure(red.tables["points"], cfg)}


def _describe(s: dict) -> list[str]:
    lines = [f"diverged runs: {s.get('diverged_runs')}   slopes (log-log, 95% bootstrap CI):"]
    for key in ("coupling_excess_vs_depth_first_step", "coupling_excess_vs_depth_last_step", "ablation_excess_vs_depth",
                "coupling_excess_vs_width_first_step"):
        v = s.get(key) or {}
        sl, ci = v.get("slope"), v.get("ci95")
        lines.append(f"  {key}: " + ("—" if sl is None else f"{sl:+.2f}") + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""))
    return lines


def _samples(rows, n, L, step, key, null_key):
    sel = sorted((r for r in rows if r["width"] == n and r["depth"] == L and r["step"] == step and r["alive"]),
                 key=lambda r: r["seed"])
    return np.array([r[key] - r[null_key] for r in sel])


def excess_slope(xs, samples: list[np.ndarray], n_boot: int, seed: int = 0) -> dict:
    """Seed-mean excesses and their log-log slope against x with a bootstrap 95 % interval
    (:func:`mflab.analysis.fits.mean_loglog_slope`; ``excess`` is the mean)."""
    out = mean_loglog_slope(xs, samples, n_boot, seed)
    return {"x": list(xs), "excess": out["means"], "stderr": out["stderr"], "slope": out["slope"], "ci95": out["ci95"]}


def _slopes(cfg, rows):
    n_max, L_max, T = max(cfg.widths), max(cfg.depths), cfg.steps
    Ls, ns = sorted(set(cfg.depths)), sorted(set(cfg.widths))
    by_L = lambda step, key, null: excess_slope(  # noqa: E731
        Ls, [_samples(rows, n_max, L, step, key, null) for L in Ls], cfg.n_boot)
    return {
        "width_for_depth_slopes": n_max, "depth_for_width_slopes": L_max,
        "coupling_excess_vs_depth_first_step": by_L(0, "coupling", "coupling_null"),
        "coupling_excess_vs_depth_last_step": by_L(T - 1, "coupling", "coupling_null"),
        "ablation_excess_vs_depth": by_L(T, "ablation_effect", "null_effect"),
        "coupling_excess_vs_width_first_step": excess_slope(
            ns, [_samples(rows, n, L_max, 0, "coupling", "coupling_null") for n in ns], cfg.n_boot),
    }


STUDY = Study(
    "depth-coupling",
    "the reused-weight coupling of depth-muP ResNets: its size in the backward pass and the effect of removing it "
    "on the outputs, vs depth and width, each against a null swap",
    DepthCouplingConfig, units=_units, compute=_compute, reduce=_reduce, setup=_setup, figures=_figures,
    describe=_describe, unit_name="cell",
    defaults={"preset": "depth-coupling", "widths": [256, 512, 1024], "depths": [2, 4, 8, 16, 32, 64], "seeds": 32},
    quick={"widths": [128, 256, 512], "depths": [2, 4, 8, 16, 32], "seeds": 8},
    tables={"points": ("width", "depth", "seed", "step")},
)
register(STUDY.preset())
