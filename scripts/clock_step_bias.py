"""The diffusion clock's own step bias: constant-η SGLD at several η against the published protocol at equal τ.

``published_protocol_progress.py --clock`` predicts the published protocol (η 10⁻³ → 5·10⁻⁴) from constant-η SGLD
read at the same diffusion time τ = Σ η_t (:func:`mflab.dynamics.elapsed_time`). Overdamped Langevin discretised
with step η follows the diffusion up to O(η), so the clock run's m at a given τ carries an O(η) error. This script
measures it: given clock runs at several constant η on the same training sets and starts as the protocol run (same
seed, P and replicas), it reads every chain's m at a grid of τ, fits m(τ; η) = a(τ) + b(τ)·η per chain over the η
(least squares, linear in η), and sets the extrapolation a(τ) + b(τ)·η_protocol(τ) (≈ a: the protocol's η is
~10⁻³) beside the protocol's own m at that τ, seed by seed. Writes ``{stem}.md``, ``{stem}.json`` and
``{stem}.png`` next to the protocol run: per P and τ the mean ± s.e. over seeds of m at each η, of the
extrapolation, of the mean over η (*pooled*: the η as further noise realisations of the same chain, no step
bias assumed) and of the protocol, and the paired differences protocol − extrapolation and protocol − pooled.

    python scripts/clock_step_bias.py docs/validation/published_parity/protocol/sgld-P10-1000 \
        --clock docs/validation/published_parity/equilibration/d35-P750-1000-2133-readout-gibbs/sgld-lr1 \
        --clock docs/validation/published_parity/clock/sgld-lr0.5-P750-2133 \
        --clock docs/validation/published_parity/clock/sgld-lr0.25-P750-2133 --P 750,1000
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from published_parity_report import mean_se  # noqa: E402
from published_protocol_progress import clock_grid, read_trace, run_clock  # noqa: E402

TAUS = (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000)


def clock_bias(protocol: Path, clocks: list[Path], Ps: set, taus=TAUS) -> dict:
    """Per P and τ (``taus`` and the protocol's end): m at each clock η, the η → η_protocol extrapolation, the mean
    over η and the protocol's m (where it has run that far), per seed and as mean ± s.e.; see the module
    docstring."""
    ptrace, _ = read_trace(protocol)
    steps_p, tau_grid, _ = clock_grid(protocol)
    eta_grid = np.gradient(tau_grid, steps_p)  # the protocol's η at each grid step: dτ/dstep
    taus = sorted({float(t) for t in taus} | {round(float(tau_grid[-1]), 1)})  # and the protocol's end
    runs = {}
    for run in clocks:
        tau_c, sg = run_clock(run)
        if sg["schedule"] != "constant":
            raise SystemExit(f"--clock: {run} ran the {sg['schedule']} schedule; give constant-η runs")
        runs[float(sg["lr"])] = (read_trace(run)[0], tau_c)
    if len(runs) < 2:
        raise SystemExit("--clock: give runs at two or more different η (one η cannot show a step bias)")
    etas = sorted(runs)
    out = {}
    for P in sorted(Ps):
        reps = sorted(r for (p, r) in ptrace if p == P)
        if not reps:
            raise SystemExit(f"--P {P}: the protocol run {protocol} has no chain there")
        curves = {}  # (replica, η) -> (τ of its logs, m): each chain's clock read once, not per τ
        for r in reps:
            for eta in etas:
                trace, tau_c = runs[eta]
                if (P, r) not in trace:
                    raise SystemExit(f"--clock: the η = {eta:g} run has no chain P = {P}, replica {r}")
                curves[r, eta] = tau_c(np.asarray(trace[(P, r)]["step"])), trace[(P, r)]["overlap"]
        rows = []
        for tau in taus:
            per_seed = []
            for r in reps:
                ms = np.array([float(np.interp(tau, t, m)) if tau <= t[-1] else np.nan
                               for t, m in (curves[r, eta] for eta in etas)])
                step = float(np.interp(tau, tau_grid, steps_p))  # the protocol's step at τ, and its η there
                eta_here = float(np.interp(step, steps_p, eta_grid))
                ok = np.isfinite(ms)
                b, a = np.polyfit(np.asarray(etas)[ok], ms[ok], 1) if ok.sum() >= 2 else (np.nan, np.nan)
                prow = ptrace[(P, r)]
                s = np.asarray(prow["step"], float)
                m_proto = float(np.interp(step, s, prow["overlap"])) if step <= s[-1] else np.nan
                per_seed.append({"replica": r, "m": dict(zip(map(str, etas), ms.tolist())),
                                 "extrapolated": float(a + b * eta_here), "slope": float(b),
                                 "pooled": float(np.mean(ms[ok])) if ok.any() else np.nan, "protocol": m_proto})
            row = {"tau": tau, "seeds": per_seed}
            for eta in etas:
                row[f"m_eta{eta:g}"] = mean_se([s["m"][str(eta)] for s in per_seed])
            row["extrapolated"] = mean_se([s["extrapolated"] for s in per_seed])
            row["slope"] = mean_se([s["slope"] for s in per_seed])
            row["pooled"] = mean_se([s["pooled"] for s in per_seed])
            have = [s for s in per_seed if np.isfinite(s["protocol"])]
            row["protocol"] = mean_se([s["protocol"] for s in have]) if len(have) == len(per_seed) else None
            row["protocol_minus_extrapolated"] = (mean_se([s["protocol"] - s["extrapolated"] for s in have])
                                                  if row["protocol"] else None)
            row["protocol_minus_pooled"] = (mean_se([s["protocol"] - s["pooled"] for s in have])
                                            if row["protocol"] else None)
            row["protocol_minus_largest_eta"] = (mean_se([s["protocol"] - s["m"][str(max(etas))] for s in have])
                                          if row["protocol"] else None)
            rows.append(row)
        out[str(P)] = rows
    return {"etas": etas, "per_P": out, "protocol": str(protocol), "clocks": [str(c) for c in clocks]}


def _lines(res) -> list[str]:
    pm = lambda x: "—" if x is None or not np.isfinite(x[0]) else f"{x[0]:.3f} ± {x[1]:.3f}"  # noqa: E731
    etas = res["etas"]
    lines = [f"# The diffusion clock's step bias: constant-η SGLD at η = {', '.join(f'{e:g}' for e in etas)} "
             f"against `{res['protocol']}`", "",
             "m of the current weights at equal diffusion time τ = Σ η_t, mean ± s.e. over seeds (same training sets "
             "and starts). *Extrapolated*: per seed, the least-squares line through m(η) at that τ, read at the "
             "protocol's η there (~10⁻³). *Pooled*: per seed, the mean over the η (no step bias assumed: each η is "
             "another noise realisation of the same chain). *Differences* are paired: per seed, then mean ± s.e. Clock runs: "
             + ", ".join(f"`{c}`" for c in res["clocks"]) + ".", ""]
    for P, rows in res["per_P"].items():
        lines += [f"## P = {P}", "",
                  "| τ | " + " | ".join(f"η = {e:g}" for e in etas) + " | slope dm/dη | extrapolated η → 0 | pooled over η | protocol | "
                  "protocol − extrapolated | protocol − pooled | protocol − η = " + f"{max(etas):g} |",
                  "|---|" + "---|" * (len(etas) + 7)]
        for r in rows:
            lines.append(f"| {r['tau']:,g} | " + " | ".join(pm(r[f'm_eta{e:g}']) for e in etas) +
                         f" | {pm(r['slope'])} | {pm(r['extrapolated'])} | {pm(r['pooled'])} | {pm(r['protocol'])} | "
                         f"{pm(r['protocol_minus_extrapolated'])} | {pm(r['protocol_minus_pooled'])} | "
                         f"{pm(r['protocol_minus_largest_eta'])} |")
        lines.append("")
    return lines


def _figure(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ps = list(res["per_P"])  # one panel per P
    fig, axes = plt.subplots(1, len(Ps), figsize=(4.2 * len(Ps), 3.8), squeeze=False)
    for ax, P in zip(axes[0], Ps):
        rows = res["per_P"][P]
        tau = np.array([r["tau"] for r in rows])
        for i, e in enumerate(res["etas"]):
            y = np.array([r[f"m_eta{e:g}"] for r in rows])
            ax.errorbar(tau, y[:, 0], yerr=y[:, 1], color=plt.get_cmap("viridis")(0.8 * i / len(res["etas"])),
                        lw=1, capsize=2, label=f"constant η = {e:g}")
        y = np.array([r["extrapolated"] for r in rows])
        ax.errorbar(tau, y[:, 0], yerr=y[:, 1], color="k", ls="--", lw=1, capsize=2, label="extrapolated η → 0")
        have = [(r["tau"], r["protocol"]) for r in rows if r["protocol"]]
        if have:
            t, y = zip(*have)
            y = np.array(y)
            ax.errorbar(t, y[:, 0], yerr=y[:, 1], color="C3", marker="o", ms=3, lw=1.4, capsize=2,
                        label="published protocol (η ≈ 10⁻³)")
        ax.set(xlabel="diffusion time τ = Σ η_t", ylabel="test overlap m", title=f"P = {P}")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("the diffusion clock's step bias: m at equal τ against η (mean ± s.e. over 3 seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("protocol", type=Path, help="the sgld-parity-published run directory")
    ap.add_argument("--clock", type=Path, action="append", required=True,
                    help="a finished constant-η sgld-parity run on the same data (give two or more)")
    ap.add_argument("--P", default="750,1000", help="training-set sizes, comma-separated")
    ap.add_argument("--tau", default=",".join(map(str, TAUS)), help="diffusion times to read, comma-separated")
    ap.add_argument("--stem", default="clock-step-bias")
    args = ap.parse_args(argv)
    try:
        Ps = {int(x) for x in args.P.split(",")}
    except ValueError:
        raise SystemExit(f"--P {args.P!r}: give integers separated by commas, e.g. 750,1000") from None
    try:
        taus = tuple(float(x) for x in args.tau.split(","))
    except ValueError:
        raise SystemExit(f"--tau {args.tau!r}: give numbers separated by commas, e.g. 1000,2000,4000") from None
    res = clock_bias(args.protocol, args.clock, Ps, taus)
    out = args.protocol.parent
    lines = _lines(res)
    (out / f"{args.stem}.md").write_text("\n".join(lines) + "\n")
    (out / f"{args.stem}.json").write_text(json.dumps(res, indent=1) + "\n")
    _figure(res, out / f"{args.stem}.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
