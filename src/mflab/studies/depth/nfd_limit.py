r"""Finite depth-μP ResNets against their width limit during training (preset ``nfd-limit``).

For every depth L: the NFD simulator (:mod:`mflab.theory.nfd`) in its three response modes
(``both`` = the limit of backprop, ``forward``, ``none`` = the limit of the decoupled network), and
networks of growing width in the training modes ``backprop``, ``decoupled`` and
``ablate-coupling`` (:mod:`mflab.analysis.nfd_comparison`), all trained by ``steps`` full-batch GD
steps at rate η·n on P inputs with the same targets (spec: ``shared/papers/C2_nfd_simulator.md`` §5).
A separate set of simulator runs at layer-slices K_τ with common random numbers
(``noise_depth``) measures the Euler error in layer-time.

Observables (scalars): f_T − f_0 and f_1 − f_0 per input, G₀ (diagonal) and Φ, K^h at ℓ = L (the
(0, 0) and (0, 1) entries) after T steps. Networks: seed means with standard errors; the width
extrapolation O_∞ + c/n (weighted least squares over widths) is compared with the simulator in units
of the combined standard error (z). Tables: ``observables``, ``extrapolation``, ``gap`` (backprop −
decoupled vs depth, networks at the largest width against the simulator's both − none) and
``euler``; figures ``width_convergence``, ``gap_vs_depth``, ``euler``; ``report.md``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ...analysis.nfd_comparison import NETWORK_MODES, network_trajectories, width_extrapolation
from ...errors import ConfigError, suggest
from ...framework.config import bounded, require, seed_field
from ...framework.presets import register
from ...framework.study import Reduced, Study
from ...tasks.base import sample_inputs
from ...networks.activations import get_activation
from ...networks.resnet import ResNet, check_resnet_memory
from ...theory.nfd import RESPONSES, NFDSimulator, check_memory, simulate

LIMIT_OF = {"backprop": "both", "decoupled": "none"}  # the system each network mode converges to


@dataclass
class NFDLimitConfig:
    """Configuration of ``nfd-limit``: the ResNets (depths, widths, seeds, training modes) and the NFD
    simulator (particles, response modes, the Euler depths) on the same inputs and GD steps."""

    preset: str = "nfd-limit"
    seed: int = seed_field()
    activation: str = "tanh"
    branch_multiplier: float = bounded(1.0, gt=0, fix="e.g. 1.0")
    lr: float = bounded(0.5, gt=0, fix="e.g. lr = 0.5")
    steps: int = bounded(3, ge=1, fix="a positive number of GD steps, e.g. 3")
    d: int = bounded(8, ge=1, fix="a positive input dimension, e.g. 8")
    targets: list[float] = field(default_factory=lambda: [1.0, -1.0, 0.5])  # one input per target, |x|² = d
    depths: list[int] = field(default_factory=lambda: [2, 8, 32, 64])
    widths: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    modes: list[str] = field(default_factory=lambda: list(NETWORK_MODES))
    seeds: int = bounded(6, ge=2, fix="error bars need seeds; e.g. 6")
    # networks vmapped per compiled call (memory ∝ seed_batch · L · n²)
    seed_batch: int = bounded(6, ge=1, fix="a positive integer")
    responses: list[str] = field(default_factory=lambda: list(RESPONSES))
    particles: int = bounded(150_000, ge=1000, fix="e.g. particles = 150000 (the Monte-Carlo error is O(M^-1/2))")
    euler_depths: list[int] = field(default_factory=lambda: [2, 4, 8, 16, 32, 64])
    euler_repeats: int = bounded(2, ge=1, fix="independent keys of the Euler runs, e.g. 2")

    def validate(self):
        require(len(self.targets) >= 1, "targets", "is empty", "e.g. targets = [1.0, -1.0, 0.5]")
        require(all(np.isfinite(self.targets)), "targets", "contains NaN or inf", "finite targets")
        for name in ("depths", "widths", "euler_depths"):
            vals = getattr(self, name)
            require(len(vals) >= 1, name, "is empty", f"list at least one value in {name}")
            for i, v in enumerate(vals):
                require(isinstance(v, int) and v >= 1, f"{name}[{i}]", f"must be a positive integer, got {v!r}",
                        "e.g. 16")
        require(len(set(self.widths)) >= 2, "widths", "needs two distinct widths for the 1/n extrapolation",
                "e.g. widths = [512, 1024, 2048]")
        require(len(set(self.euler_depths)) >= 2, "euler_depths", "needs two distinct depths for the Euler rate",
                "e.g. euler_depths = [2, 4, 8, 16, 32]")
        fine = max(self.euler_depths)
        for i, K in enumerate(self.euler_depths):
            require(fine % K == 0, f"euler_depths[{i}]", f"{K} does not divide the finest {fine} (common random numbers "
                    "need nested grids)", "use powers of two, e.g. [2, 4, 8, 16, 32]")
        for i, m in enumerate(self.modes):
            require(m in NETWORK_MODES, f"modes[{i}]", f"unknown training mode '{m}'", suggest(m, NETWORK_MODES))
        for i, r in enumerate(self.responses):
            require(r in RESPONSES, f"responses[{i}]", f"unknown response mode '{r}'", suggest(r, RESPONSES))
        try:
            get_activation(self.activation)
        except ConfigError as e:
            raise ConfigError("activation", e.problem, e.fix) from None
        for L in set(self.depths) | set(self.euler_depths):
            check_memory(self._sim(L, "both"), len(self.targets))
        check_resnet_memory(min(self.seed_batch, self.seeds), max(self.widths), max(self.depths), self.d,
                            len(self.targets), field="widths",
                            fix="drop the largest width (memory grows as width²) or lower seed_batch")

    def _sim(self, L, responses, noise_depth=None):
        return NFDSimulator.create(L, self.steps, self.particles, self.activation, self.branch_multiplier,
                                   responses, noise_depth=noise_depth)


def task(cfg: NFDLimitConfig):
    """P = len(targets) inputs drawn N(0, I_d) and put on the sphere |x|² = d (float32 draws, key ``seed``)."""
    X = sample_inputs(jax.random.PRNGKey(cfg.seed), "sphere", len(cfg.targets), cfg.d, jnp.float32)
    return X, jnp.asarray(cfg.targets, jnp.float32)


def _units(cfg):
    units = [("system", L, r) for L in cfg.depths for r in cfg.responses]
    units += [("network", L, n, m) for L in cfg.depths for m in cfg.modes for n in sorted(set(cfg.widths))]
    units += [("euler", K, i) for i in range(cfg.euler_repeats) for K in sorted(set(cfg.euler_depths))]
    return units


def _compute(cfg, unit, ctx) -> dict:
    X, y = ctx.shared
    t0 = time.perf_counter()
    if unit[0] == "network":
        _, L, n, mode = unit
        net = ResNet.create(n, L, cfg.activation, "depth-mup", branch_multiplier=cfg.branch_multiplier, mode=mode)
        keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(cfg.seed + 1), 1000 * L + n), cfg.seeds)
        # the same keys in every mode: paired initial weights
        parts = [network_trajectories(net, X, y, cfg.lr, cfg.steps, keys[i:i + cfg.seed_batch])
                 for i in range(0, cfg.seeds, cfg.seed_batch)]
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        kind, L, tag = unit
        if kind == "system":
            sim, key = cfg._sim(L, tag), jax.random.fold_in(jax.random.PRNGKey(cfg.seed + 2), L)
        else:
            sim = cfg._sim(L, "both", noise_depth=max(cfg.euler_depths))
            key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed + 3), tag)  # one key per repeat, all K
        r = simulate(sim, X, y, cfg.lr, key)
        if r.stop_reason != "completed":
            ctx.log(f"{unit}: the simulator stopped after {r.passes_done} passes ({r.stop_reason}); fix: lower lr")
        out = {"f": r.f[None], "Phi": r.Phi[None], "Kh": r.Kh[None], "G0": r.G0[None],
               "alive": np.array([r.stop_reason == "completed"]), "stop_reason": r.stop_reason}
    out["seconds"] = time.perf_counter() - t0
    return out


def scalars(res: dict, steps: int) -> dict[str, np.ndarray]:
    """The summary observables of one unit, each an array over seeds (one entry for a simulator run)."""
    f, T = res["f"], steps
    out = {}
    for mu in range(f.shape[-1]):
        out[f"f_T-f_0[{mu}]"] = f[:, T, mu] - f[:, 0, mu]
        out[f"f_1-f_0[{mu}]"] = f[:, 1, mu] - f[:, 0, mu]
    for mu in range(res["G0"].shape[-1]):
        out[f"G0[{mu}{mu}]@T"] = res["G0"][:, T, mu, mu]
    P = res["Phi"].shape[-1]
    for name in ("Phi", "Kh"):
        for a, b in ((0, 0),) + (((0, 1),) if P > 1 else ()):
            out[f"{name}_L[{a}{b}]@T"] = res[name][:, T, -1, a, b]
    return out


def _reduce(cfg, results, ctx) -> Reduced:
    T = cfg.steps
    if not any(r["alive"].any() for u, r in results.items() if u[0] == "system"):
        return Reduced.diverged({"preset": cfg.preset, "depths": cfg.depths, "widths": sorted(set(cfg.widths))},
                                "the simulator diverged at every depth and response setting, so no network has a "
                                "limit to be compared with", f"lower lr (now {cfg.lr:g})", ctx)
    widths = sorted(set(cfg.widths))
    sys_ = {(u[1], u[2]): scalars(r, T) for u, r in results.items() if u[0] == "system"}
    nets = {(u[1], u[2], u[3]): (scalars(r, T), r["alive"].astype(bool)) for u, r in results.items() if u[0] == "network"}
    rows, ext, gap = [], [], []
    for L in cfg.depths:
        for resp in cfg.responses:
            for name, v in sys_[(L, resp)].items():
                rows.append({"depth": L, "source": "simulator", "variant": resp, "width": "inf", "observable": name,
                             "mean": float(v[0]), "se": float("nan"), "seeds": 1})
        for mode in cfg.modes:
            for name in nets[(L, widths[0], mode)][0]:
                vals = []
                for n in widths:
                    sc, alive = nets[(L, n, mode)]
                    v = sc[name][alive]
                    vals.append(v)
                    rows.append({"depth": L, "source": "network", "variant": mode, "width": n, "observable": name,
                                 "mean": float(np.mean(v)) if len(v) else float("nan"),
                                 "se": float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan"),
                                 "seeds": int(len(v))})
                if mode not in LIMIT_OF or any(len(v) < 2 or not np.all(np.isfinite(v)) for v in vals):
                    continue
                fit = width_extrapolation(widths, vals)
                target = LIMIT_OF[mode]
                if (L, target) not in sys_:
                    continue
                s_val = float(sys_[(L, target)][name][0])
                other = "none" if target == "both" else "both"
                ext.append({"depth": L, "mode": mode, "observable": name, "limit": float(fit["limit"]),
                            "limit_se": float(fit["limit_se"]), "slope_1_over_n": float(fit["slope"]),
                            "system": target, "system_value": s_val,
                            "z": float((fit["limit"] - s_val) / fit["limit_se"]),
                            "largest_width_mean": float(fit["mean"][-1]), "largest_width_se": float(fit["se"][-1]),
                            "z_largest_width": float((fit["mean"][-1] - s_val) / fit["se"][-1]),
                            "z_vs_other_system": (float((fit["mean"][-1] - sys_[(L, other)][name][0]) / fit["se"][-1])
                                                  if (L, other) in sys_ else float("nan"))})
        if {"backprop", "decoupled"} <= set(cfg.modes):
            n = widths[-1]
            for name in ("f_1-f_0[0]", "f_T-f_0[0]"):
                (sb, ab), (sd, ad) = nets[(L, n, "backprop")], nets[(L, n, "decoupled")]
                ok = ab & ad
                d = sb[name][ok] - sd[name][ok]  # paired: same initial weights
                row = {"depth": L, "observable": name, "width": n, "network_gap": float(np.mean(d)),
                       "network_gap_se": float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")}
                if (L, "both") in sys_ and (L, "none") in sys_:
                    row["simulator_gap"] = float(sys_[(L, "both")][name][0] - sys_[(L, "none")][name][0])
                gap.append(row)
    euler = _euler_rows(cfg, results)
    summary = {"preset": cfg.preset, "status": "completed", "depths": cfg.depths, "widths": widths,
               "steps": T, "particles": cfg.particles, "seeds": cfg.seeds}
    for mode in LIMIT_OF:
        zs = [abs(r["z"]) for r in ext if r["mode"] == mode]
        zo = [abs(r["z_vs_other_system"]) for r in ext if r["mode"] == mode and np.isfinite(r["z_vs_other_system"])]
        if zs:
            summary[f"{mode}_vs_{LIMIT_OF[mode]}"] = {"max_abs_z": float(np.max(zs)), "median_abs_z": float(np.median(zs)),
                                                     "observables": len(zs),
                                                     "median_abs_z_vs_other_system": float(np.median(zo)) if zo else None}
    if gap:
        summary["gap_first_input"] = {f"L{r['depth']}/{r['observable']}": [r["network_gap"], r["network_gap_se"],
                                                                          r.get("simulator_gap")] for r in gap}
    summary["euler"] = _euler_fit(euler)
    secs = {k: float(sum(r["seconds"] for u, r in results.items() if u[0] == k)) for k in ("system", "network", "euler")}
    summary["seconds"] = secs
    red = Reduced({"observables": rows, "extrapolation": ext, "gap": gap, "euler": euler}, summary)
    red.report = _report(cfg, red)
    return red


def _euler_rows(cfg, results) -> list[dict]:
    Ks = sorted(set(cfg.euler_depths))
    rows = []
    for K in Ks:
        per = [scalars(results[("euler", K, i)], cfg.steps) for i in range(cfg.euler_repeats)]
        names = [f"f_T-f_0[{mu}]" for mu in range(len(cfg.targets))] + ["G0[00]@T", "Phi_L[00]@T"]
        for name in names:
            v = np.array([p[name][0] for p in per])
            rows.append({"K_tau": K, "observable": name, "mean": float(np.mean(v)), "repeats": len(v),
                         "spread": float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")})
    finest = {r["observable"]: r["mean"] for r in rows if r["K_tau"] == Ks[-1]}
    for r in rows:
        r["minus_finest"] = r["mean"] - finest[r["observable"]]
    return rows


def _euler_fit(rows) -> dict:
    """Per observable: O(K) = O_∞ + c/K fitted by least squares on the repeat means, and the log-log slope
    of |O(K) − O(2K)| in K (−1 for a first-order scheme)."""
    out = {}
    for name in sorted({r["observable"] for r in rows}):
        sel = sorted((r for r in rows if r["observable"] == name), key=lambda r: r["K_tau"])
        K = np.array([r["K_tau"] for r in sel], float)
        m = np.array([r["mean"] for r in sel])
        c1, c0 = np.polyfit(1 / K, m, 1)
        entry = {"limit": float(c0), "c": float(c1)}
        pairs = [(K[i], abs(m[i] - m[i + 1])) for i in range(len(K) - 1) if K[i + 1] == 2 * K[i]]
        if len(pairs) >= 2 and all(p[1] > 0 for p in pairs):
            entry["increment_slope"] = float(np.polyfit(np.log([p[0] for p in pairs]), np.log([p[1] for p in pairs]), 1)[0])
        out[name] = entry
    return out


def _report(cfg, red: Reduced) -> str:
    s = red.summary
    lines = ["# nfd-limit: depth-μP ResNets against their width limit during training", "",
             f"{len(cfg.targets)} inputs (|x|² = d = {cfg.d}), targets {cfg.targets}, {cfg.activation}, a = "
             f"{cfg.branch_multiplier}, η = {cfg.lr}, T = {cfg.steps} GD steps (rate η·n, MSE without ½). "
             f"Simulator: M = {cfg.particles} particles. Networks: widths {s['widths']}, {cfg.seeds} seeds each "
             f"(the same initial weights in every training mode). Depths {cfg.depths}.", "",
             "## Networks against the simulator", "",
             "z: (1/n-extrapolated network value − simulator) / its standard error; z_other: the largest-width "
             "network against the *other* system.", "",
             "| depth | mode | observable | networks at n = ∞ (fit) | system | simulator | z | z_other |",
             "|---|---|---|---|---|---|---|---|"]
    for r in red.tables["extrapolation"]:
        lines.append(f"| {r['depth']} | {r['mode']} | {r['observable']} | {r['limit']:.3f} ± {r['limit_se']:.3f} | "
                     f"{r['system']} | {r['system_value']:.3f} | {r['z']:+.1f} | {r['z_vs_other_system']:+.1f} |")
    lines += ["", "## The backprop − decoupled gap against depth (first input)", "",
              "| depth | observable | networks (largest width, paired) | simulator both − none |", "|---|---|---|---|"]
    for r in red.tables["gap"]:
        sg = r.get("simulator_gap")
        lines.append(f"| {r['depth']} | {r['observable']} | {r['network_gap']:.4f} ± {r['network_gap_se']:.4f} | "
                     + (f"{sg:.4f} |" if sg is not None else "– |"))
    lines += ["", "## Euler scheme in layer-time (both responses, common random numbers)", "",
              "| K_τ | observable | value | minus finest |", "|---|---|---|---|"]
    for r in red.tables["euler"]:
        lines.append(f"| {r['K_tau']} | {r['observable']} | {r['mean']:.4f} | {r['minus_finest']:+.4f} |")
    for name, e in s["euler"].items():
        lines.append(f"\n{name}: fit O_∞ + c/K: O_∞ = {e['limit']:.4f}, c = {e['c']:+.4f}"
                     + (f"; slope of |O(K) − O(2K)| in K: {e['increment_slope']:+.2f} (−1 expected)"
                        if "increment_slope" in e else ""))
    lines += ["", f"Compute: simulator {s['seconds']['system']:.0f} s, networks {s['seconds']['network']:.0f} s, "
              f"Euler runs {s['seconds']['euler']:.0f} s (this run's machine)."]
    return "\n".join(lines) + "\n"


def _figures(cfg, red, ctx) -> dict:
    from .plots import nfd_euler_figure, nfd_gap_figure, nfd_width_figure

    figs = {"width_convergence": nfd_width_figure(red.tables["observables"], red.tables["extrapolation"], cfg),
            "euler": nfd_euler_figure(red.tables["euler"], red.summary["euler"], cfg)}
    if red.tables["gap"]:
        figs["gap_vs_depth"] = nfd_gap_figure(red.tables["gap"], cfg)
    return figs


def _describe(s: dict) -> list[str]:
    lines = [f"depths {s.get('depths')}, widths {s.get('widths')}, {s.get('seeds')} seeds, {s.get('particles')} "
             f"particles, T = {s.get('steps')} GD steps"]
    for mode, sysname in LIMIT_OF.items():
        e = s.get(f"{mode}_vs_{sysname}")
        if e:
            lines.append(f"  {mode} networks vs the '{sysname}' system: median |z| {e['median_abs_z']:.1f}, max "
                         f"{e['max_abs_z']:.1f} over {e['observables']} observables; against the other system: median |z| "
                         f"{e['median_abs_z_vs_other_system']:.1f}")
    for k, (g, se, sg) in (s.get("gap_first_input") or {}).items():
        lines.append(f"  backprop - decoupled, {k}: networks {g:.4f} ± {se:.4f}, simulator "
                     + ("–" if sg is None else f"{sg:.4f}"))
    for name, e in (s.get("euler") or {}).items():
        sl = e.get("increment_slope")
        lines.append(f"  Euler {name}: O_inf {e['limit']:.4f}" + (f", increment slope {sl:+.2f}" if sl is not None else ""))
    return lines


STUDY = Study(
    "nfd-limit",
    "depth-muP ResNets of growing width (backprop, decoupled, coupling-ablated) against the NFD simulator's "
    "three response modes during GD, across depths, and the simulator's O(1/L) Euler error in layer-time",
    NFDLimitConfig, units=_units, compute=_compute, reduce=_reduce, setup=task, figures=_figures,
    describe=_describe, unit_name="run",
    defaults={"preset": "nfd-limit", "seed_batch": 2},
    quick={"depths": [2, 4, 8], "widths": [256, 512, 1024], "seeds": 6, "particles": 60_000,
           "euler_depths": [2, 4, 8, 16, 32], "euler_repeats": 1},
    tables={"observables": ("depth", "source", "variant", "width", "observable"),
            "extrapolation": ("depth", "mode", "observable"), "gap": ("depth", "observable"),
            "euler": ("observable", "K_tau")},
)
register(STUDY.preset())
