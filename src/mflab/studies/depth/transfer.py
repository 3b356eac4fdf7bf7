r"""Learning-rate transfer across depth (preset ``depth-transfer``).

For every task (scikit-learn's digits, a synthetic two-layer teacher), variant (parametrization,
block size, depth-aware first-layer exponent ζ, optimizer) and depth L, ``seeds`` ResNets are trained
for ``steps`` full-batch steps at every base rate η of the grid ``lrs`` (one compiled, vmapped call
per (task, variant, L)). Recorded per run: train loss (MSE, no ½, summed over outputs; averaged over the
last 10 % of steps), test loss, test accuracy (digits), and divergence (a diverging run is stopped, its row kept with
``alive = false``).

The optimum η*(L) is the minimiser of the seed-mean log train loss, refined by a least-squares
parabola through the grid minimum and two neighbours on each side (in log₂ η); at the grid's edge or
next to a diverged rate it is the grid value and flagged ``edge``. Its drift with depth is reported as

    drift = slope of log₂ η*(L) against log₂ L   (octaves of η per doubling of depth),
    spread = max_L log₂ η* − min_L log₂ η*        (octaves).

Outputs: ``results/points.csv`` (one row per run), ``results/optima.csv``, ``figures/depth_transfer.png``
(train loss vs η, one curve per depth, one panel per task × variant), ``summary.json``. Finished
(task, variant, L) cells are units of :mod:`mflab.framework.study`: an interrupted run resumes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.fits import loglog_slope
from ...dynamics.resnet_training import train_kernel
from ...dynamics.runner import advance
from ...dynamics.objectives import TrainData
from ...tasks.base import Dataset
from ...tasks.registry import build_task, check_task_name
from ...framework.config import bounded, require, seed_field
from .variants import Variant, validate_variants
from ...framework.presets import register
from ...networks.resnet import check_resnet_memory
from ...framework.study import Reduced, Study

TASKS = ("digits", "teacher")  # the registered tasks this study runs


def _default_variants():
    return [Variant("sp", 2), Variant("depth-mup", 2), Variant("depth-mup", 2, 0.5)]


def _default_lrs():
    return [float(2.0 ** (k / 2)) for k in range(-6, 13)]  # 2^-3 … 2^6, half-octave steps


@dataclass
class DepthTransferConfig:
    """Configuration of ``depth-transfer``: tasks, ResNet variants, depths, width, the rate grid (trained
    ``rate_batch`` rates at a time) and the training budget."""

    preset: str = "depth-transfer"
    seed: int = seed_field()
    tasks: list[str] = field(default_factory=lambda: list(TASKS))
    variants: list[Variant] = field(default_factory=_default_variants)
    depths: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32])
    width: int = bounded(128, ge=1, fix="a positive integer")
    activation: str = "tanh"
    lrs: list[float] = field(default_factory=_default_lrs)
    steps: int = bounded(200, ge=1, fix="a positive integer")
    seeds: int = bounded(3, ge=1, fix="a positive integer")
    n_train: int = bounded(512, ge=1, fix="a positive integer")
    # teacher only; digits tests on the images not used for training
    n_test: int = bounded(1024, ge=1, fix="a positive integer")
    teacher_d: int = bounded(16, ge=1, fix="a positive integer")
    teacher_width: int = bounded(4, ge=1, fix="a positive integer")
    # rates trained at once per compiled call (memory ∝ seeds · rate_batch · L · n²); 0: all of them
    rate_batch: int = bounded(0, ge=0, fix="0 (all rates at once) or a positive integer")

    def validate(self):
        require(len(self.tasks) >= 1, "tasks", "is empty", f"choose from {list(TASKS)}")
        for i, t in enumerate(self.tasks):
            check_task_name(t, TASKS, f"tasks[{i}]")
        require(len(self.depths) >= 2, "depths", "needs at least two depths to measure a drift", "e.g. [2, 4, 8, 16]")
        for i, L in enumerate(self.depths):
            require(L >= 1, f"depths[{i}]", f"must be >= 1, got {L}", "use positive integers")
        require(len(self.lrs) >= 3, "lrs", "needs at least three rates to locate an optimum", "e.g. 2^-4 … 2^4")
        for i, lr in enumerate(self.lrs):
            require(lr > 0, f"lrs[{i}]", f"must be > 0, got {lr}", "learning rates are positive")
        validate_variants(self.variants, self.activation)
        check_resnet_memory(self.seeds * min(self.rate_batch or len(self.lrs), len(self.lrs)), self.width, max(self.depths), max(self.teacher_d, 64),
                            self.n_train, max(v.block_layers for v in self.variants), "width",
                            "lower width (memory grows as width²), the largest depth, or rate_batch (seeds × "
                            "rate_batch networks train at once)")


def load_task(cfg: DepthTransferConfig, name: str) -> Dataset:
    """The digits split, or a teacher dataset (Gaussian inputs, random tanh two-layer teacher in the NTK
    parametrization, rescaled to unit target power); both from the task registry."""
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 11)
    task = build_task(name, TASKS, "tasks", seed=cfg.seed, d=cfg.teacher_d, activation="tanh", width=cfg.teacher_width,
                      key=key, parametrization="ntk")
    ds = task.dataset(jax.random.fold_in(key, 1), cfg.n_train, cfg.n_test)
    if name == "digits":
        return ds
    scale = 1.0 / np.sqrt(task.target_power)
    return Dataset(ds.X_train, ds.y_train * scale, ds.X_test, ds.y_test * scale)


def train_grid(net, ds: Dataset, lrs, steps: int, keys, optimizer: str, rate_batch: int = 0) -> dict:
    """Train one network per (seed key, rate), vmapped over seeds and ``rate_batch`` rates per call (0: all);
    arrays of shape (seeds, rates).
    ``train_loss`` is the training loss averaged over the last 10 % of the steps (at large rates GD
    oscillates at the edge of stability, and the last step's loss alone is noisy); test metrics are
    those of the final parameters."""
    Xtr, Ytr, Xte, Yte = (jnp.asarray(a) for a in ds)
    n_out = None if Ytr.ndim == 1 else Ytr.shape[1]
    data = TrainData(Xtr, Ytr, jnp.full(Xtr.shape[0], 1.0 / Xtr.shape[0], Xtr.dtype))
    tail = max(1, steps // 10)

    def one(key, lr):
        p = net.init(key, Xtr.shape[1], Xtr.dtype, n_out=n_out)
        kernel = train_kernel(net, p, optimizer)

        st = advance(kernel, kernel.init(p), None, lr, data, steps - tail)
        st, acc = advance(kernel, st, None, lr, data, tail, t0=steps - tail, accumulate=lambda s, info: info.loss)
        sq = lambda X, Y: jnp.mean(((net.apply(st.params, X) - Y) ** 2).reshape(X.shape[0], -1).sum(1))  # noqa: E731
        out = {"train_loss": acc / tail, "test_loss": sq(Xte, Yte), "alive": st.alive, "diverged_at": st.diverged_at}
        if n_out is not None:
            out["test_accuracy"] = jnp.mean(jnp.argmax(net.apply(st.params, Xte), 1) == jnp.argmax(Yte, 1))
        return out

    grid = jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))
    lrs = jnp.asarray(lrs, Xtr.dtype)
    step = rate_batch or len(lrs)
    parts = [jax.device_get(grid(keys, lrs[i:i + step])) for i in range(0, len(lrs), step)]
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def optimum(lrs, losses, alive) -> tuple[float, float, bool]:
    """(η*, seed-mean loss at the best grid rate, edge flag) from per-(seed, rate) losses; rates where
    any seed diverged are excluded. When the grid minimum has two usable neighbours on each side, η* is
    the vertex of a least-squares parabola through those five points in (log₂ η, log loss), which
    averages out the edge-of-stability noise of single rates; otherwise (or if the fit is not convex)
    it is the grid minimum, flagged ``edge``."""
    x = np.log2(np.asarray(lrs, float))
    ok = np.all(alive, axis=0) & np.all(np.isfinite(losses), axis=0)
    if not ok.any():
        return float("nan"), float("nan"), True
    y = np.where(ok, np.log(np.mean(np.where(ok, losses, 1.0), axis=0)), np.inf)
    i = int(np.argmin(y))
    win = slice(i - 2, i + 3)
    if 2 <= i < len(x) - 2 and ok[win].all():
        c = np.polyfit(x[win], y[win], 2)
        if c[0] > 0:
            return 2.0 ** float(np.clip(-c[1] / (2 * c[0]), x[i - 2], x[i + 2])), float(np.exp(y[i])), False
    return 2.0 ** x[i], float(np.exp(y[i])), True


def _setup(cfg):
    return {t: load_task(cfg, t) for t in cfg.tasks}


def _units(cfg):
    return [(t, vi, L) for t in cfg.tasks for vi in range(len(cfg.variants)) for L in cfg.depths]


def _compute(cfg, unit, ctx) -> dict:
    t, vi, L = unit
    v = cfg.variants[vi]
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1000 * L + vi), cfg.seeds)
    res = train_grid(v.net(cfg.width, L, cfg.activation), ctx.shared[t], cfg.lrs, cfg.steps, keys, v.optimizer,
                     cfg.rate_batch)
    rows = []
    for s in range(cfg.seeds):
        for j, lr in enumerate(cfg.lrs):
            row = {"task": t, "variant": vi, "label": v.label, "depth": L, "lr": lr, "seed": s}
            row.update({k: (bool(a[s, j]) if k == "alive" else int(a[s, j]) if k == "diverged_at"
                            else float(a[s, j]) if a[s, j] == a[s, j] else None) for k, a in res.items()})
            rows.append(row)
    return {"rows": rows}


def _reduce(cfg, results, ctx) -> Reduced:
    rows = [r for res in results.values() for r in res["rows"]]
    optima, drift = _optima(cfg, rows)
    diverged = sum(not r["alive"] for r in rows)
    if diverged:
        ctx.log(f"{diverged} of {len(rows)} runs diverged and were stopped (alive = false in results/points.csv); "
                "they are excluded from the optima")
    summary = {"preset": cfg.preset, "status": "completed", "drift": drift, "diverged_runs": diverged}
    return Reduced({"points": rows, "optima": optima}, summary)


def _figures(cfg, red, ctx) -> dict:
    from .plots import depth_transfer_figure

    return {"depth_transfer": depth_transfer_figure(red.tables["points"], red.tables["optima"], cfg)}


def _describe(s: dict) -> list[str]:
    lines = [f"diverged runs: {s.get('diverged_runs')}   drift of the optimal rate "
             "(octaves per depth doubling; 0 = the rate transfers):"]
    for task, per in (s.get("drift") or {}).items():
        for label, d in per.items():
            o = d.get("octaves_per_depth_doubling")
            lines.append(f"  {task}, {label}: " + ("—" if o is None else f"{o:+.2f}"))
    return lines


def _optima(cfg, rows):
    optima, drift = [], {}
    for t in cfg.tasks:
        for vi, v in enumerate(cfg.variants):
            per_L = []
            for L in cfg.depths:
                sel = [r for r in rows if r["task"] == t and r["variant"] == vi and r["depth"] == L]
                loss = np.array([[next(r["train_loss"] for r in sel if r["seed"] == s and r["lr"] == lr)
                                  for lr in cfg.lrs] for s in range(cfg.seeds)], dtype=float)
                alive = np.array([[next(r["alive"] for r in sel if r["seed"] == s and r["lr"] == lr)
                                   for lr in cfg.lrs] for s in range(cfg.seeds)])
                lr_opt, loss_opt, edge = optimum(cfg.lrs, loss, alive)
                per_L.append((L, lr_opt))
                optima.append({"task": t, "variant": vi, "label": v.label, "depth": L, "lr_opt": lr_opt,
                               "log2_lr_opt": float(np.log2(lr_opt)), "train_loss_opt": loss_opt, "edge": edge})
            Ls, lo = zip(*[(L, np.log2(x)) for L, x in per_L if np.isfinite(x)]) if per_L else ((), ())
            drift.setdefault(t, {})[v.label] = {
                "octaves_per_depth_doubling": loglog_slope(Ls, [2.0**x for x in lo]) if len(Ls) >= 2 else None,
                "spread_octaves": float(max(lo) - min(lo)) if lo else None,
                "log2_lr_opt": {int(L): float(x) for L, x in zip(Ls, lo)}}
    return optima, drift


STUDY = Study(
    "depth-transfer",
    "learning-rate transfer across depth: train loss vs rate, one curve per depth, for SP, depth-muP and "
    "depth-muP with the depth-aware first-layer rate (two-layer blocks; digits and a teacher); optimum drift",
    DepthTransferConfig, units=_units, compute=_compute, reduce=_reduce, setup=_setup, figures=_figures,
    describe=_describe, unit_name="cell",
    defaults={"preset": "depth-transfer", "width": 256, "depths": [2, 4, 8, 16, 32, 64], "steps": 500, "seeds": 3,
              "n_train": 1024, "rate_batch": 5},
    quick={"width": 64, "depths": [2, 4, 8, 16], "steps": 100, "seeds": 2, "n_train": 256},
    tables={"points": ("task", "variant", "depth", "lr", "seed"), "optima": ("task", "variant", "depth")},
)
register(STUDY.preset())
