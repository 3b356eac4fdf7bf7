"""Steps and wall time to equilibrium of the network-posterior samplers, side by side in one run.

Each sampler (``--samplers sgld:1e-3,kinetic:1e-3``: name and constant base rate η, then optionally its
steps, its per-group preconditioner and its readout draw, ``kinetic:0.03:10000:4:1`` = 10⁴ steps with inverse
mass ×4 on the first layer and ×1 on the readout, :class:`mflab.dynamics.Preconditioner`, and
``kinetic:0.03:2000:8:1:10`` the same with an exact draw of the readout every 10 steps,
:mod:`mflab.dynamics.readout_gibbs`) runs the same
``sgld-parity`` grid (same data, initialisations from the prior, P values, κ and seeds) in its own
resumable run directory under ``--out`` (rerunning resumes). For every chain the equilibration step
t_eq of its test-overlap trace is taken by the criterion the phase report uses
(:mod:`mflab.analysis.equilibration`: m stays within max(tol, 3σ) of its final value). Per P it prints and
writes (``equilibration.json``, ``equilibration.md``, ``traces.png``):

* t_arr per sampler, the *arrival step* at the equilibrium value m_ref (median over seeds), where m_ref is
  the posterior average of m of the ``--reference`` sampler (default: the last) on the same training set
  (the chain of the same P and replica: each training set has its own equilibrium, which differ by up to
  0.06 at P = 750), and the ratio of the first
  sampler's t_arr to each other's, in gradient evaluations (one per step for both samplers) and in wall
  time (t_arr × the run's measured seconds per chain-step). A sampler that settles on a wrong value
  never arrives (∞). The settling step t_eq of the phase report is listed too: it cannot tell a chain
  stuck on its way from an equilibrated one, which is why arrival is the measure here;
* the posterior average of m and of the test MSE over the second half of each run, mean ± standard error
  over seeds, so a sampler that is fast but wrong shows.

A t_eq within the last 20% of its run is a lower bound (the chain may not have settled): such entries
are flagged ``>=``. Not a test; the numbers vary with the machine and the seeds.

    python benchmarks/posterior_sampler_equilibration.py --d 12 --width 128 --P 100,200 --steps 100000 \
        --samplers sgld:5e-2,kinetic:5e-2 --out runs/equilibration-small
"""
from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def run_directory(out: Path, name: str, lr: float, precondition=(1.0, 1.0), gibbs=None) -> Path:
    """Where a sampler's run lives under ``out``."""
    return out / (f"{name}-lr{lr:g}" + ("" if tuple(precondition) == (1.0, 1.0) else
                                        f"-M{precondition[0]:g},{precondition[1]:g}") + (f"-G{gibbs}" if gibbs else ""))


def run_sampler(out: Path, name: str, lr: float, steps: int, args, precondition=(1.0, 1.0), gibbs=None) -> Path:
    from mflab.cli import main

    rd = run_directory(out, name, lr, precondition, gibbs)
    sets = {"task.d": args.d, "task.k": args.k, "task.n_train": f"[{args.P}]", "task.n_test": args.n_test,
            "network.width": args.width, "sgld.kappa": args.kappa, "sgld.lr": lr, "sgld.schedule": "constant",
            "sgld.steps": steps, "sgld.log_every": args.log_every, "sgld.chunk_steps": args.chunk_steps,
            "sgld.replicas": args.seeds, "sgld.sampler": name, "theory": "false", "seed": args.seed}
    if name == "kinetic" and args.friction:
        sets["sgld.friction"] = args.friction
    if tuple(precondition) != (1.0, 1.0):
        sets["sgld.preconditioner.first_layer"], sets["sgld.preconditioner.readout"] = precondition
    if gibbs:
        sets["sgld.readout_gibbs_every"] = gibbs
    cli = ["run", "sgld-parity", "--out", str(rd), "--no-progress"] + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
    return rd if main(cli) == 0 else None  # None: every chain diverged (the run says where)


def read_run(rd: Path, tol: float) -> dict:
    from mflab.analysis.equilibration import equilibration_step

    summary = json.loads((rd / "summary.json").read_text())
    traces = defaultdict(list)
    with open(rd / "results" / "trace.csv") as f:
        for r in csv.DictReader(f):
            traces[(int(r["n_train"]), int(r["replica"]))].append((int(r["step"]), float(r["overlap"])))
    finals = {}
    with open(rd / "results" / "final.csv") as f:
        for r in csv.DictReader(f):
            finals[(int(r["n_train"]), int(r["replica"]))] = (float(r["overlap"] or "nan"),
                                                              float(r["test_mse_gibbs"] or "nan"),
                                                              float(r["train_mse"] or "nan"))
    sec_per_step = 1.0 / summary["chain_steps_per_second"] if summary.get("chain_steps_per_second") else float("nan")
    alive = {}
    with open(rd / "results" / "final.csv") as f:
        for r in csv.DictReader(f):
            alive[(int(r["n_train"]), int(r["replica"]))] = r["alive"] == "True"
    out = {}
    for key, rows in traces.items():
        if not alive[key]:
            continue  # a diverged chain is reported by the run, not timed here
        s, m = np.array(sorted(rows)).T
        t_eq = equilibration_step(s, m, tol)
        out[key] = {"t_eq": t_eq, "lower_bound": bool(t_eq >= 0.8 * s[-1]), "steps": s.tolist(), "overlap": m.tolist(),
                    "m": finals[key][0], "test_mse": finals[key][1], "train_mse": finals[key][2]}
    return {"chains": out, "sec_per_chain_step": sec_per_step, "steps": summary["steps"]}


def _label(name, lr, pre, gibbs) -> str:
    return (f"{name}:{lr:g}" + ("" if pre == (1.0, 1.0) else f" M⁻¹=({pre[0]:g},{pre[1]:g})")
            + (f" readout drawn every {gibbs}" if gibbs else ""))


def _mse(v):
    v = np.asarray(v, float)
    return f"{v.mean():.3f} ± {v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=35)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--P", default="750,1000,2133")
    ap.add_argument("--kappa", type=float, default=5e-3)
    ap.add_argument("--n-test", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=400_000)
    ap.add_argument("--log-every", type=int, default=2_000)
    ap.add_argument("--chunk-steps", type=int, default=50_000)
    ap.add_argument("--samplers", default="sgld:1e-3,kinetic:1e-3", help="name:lr[:steps[:first_layer[:readout[:gibbs]]]], "
                    "comma separated (steps default --steps; first_layer and readout: the preconditioner, default 1; gibbs: "
                    "draw the readout exactly every that many steps, default never); "
                    "the first is the one the others are compared with")
    ap.add_argument("--friction", type=float, default=0.0, help="kinetic friction γ (0: critical, the default)")
    ap.add_argument("--tol", type=float, default=0.05)
    ap.add_argument("--reference", default="", help="name:lr of the sampler whose posterior average of m is m_ref "
                    "(default: the last of --samplers), or 'best-fit': per training set, the m of the run (any sampler) "
                    "whose posterior average of the train MSE is lowest, the most probable of the states found when "
                    "samplers land in different metastable states (their densities differ by exp(ΔL/T))")
    ap.add_argument("--out", default="runs/equilibration")
    ap.add_argument("--report", default="equilibration", help="stem of the written table and figure files")
    ap.add_argument("--no-run", action="store_true", help="read the run directories under --out as they are, "
                    "without running or resuming them (a committed record, whose checkpoints are left out)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samplers = [(f[0], float(f[1]), int(float(f[2])) if len(f) > 2 else args.steps,
                 (float(f[3]) if len(f) > 3 else 1.0, float(f[4]) if len(f) > 4 else 1.0),
                 int(f[5]) if len(f) > 5 and f[5] else None)
                for f in (s.split(":") for s in args.samplers.split(","))]
    runs = {}
    for n, lr, steps, pre, gibbs in samplers:
        rd = run_directory(out, n, lr, pre, gibbs) if args.no_run else run_sampler(out, n, lr, steps, args, pre, gibbs)
        if args.no_run and not (rd / "summary.json").is_file():
            raise SystemExit(f"--no-run: {rd} holds no finished run (no summary.json); run it first, without --no-run")
        lab = _label(n, lr, pre, gibbs)
        if rd is None:
            print(f"{lab}: every chain diverged; left out")
            continue
        runs[lab] = read_run(rd, args.tol)
    labels = list(runs)
    from mflab.analysis.equilibration import arrival_step

    ref = labels[0]
    truth = labels[-1]
    best_fit = args.reference == "best-fit"
    if args.reference and not best_fit:  # name:lr, written any way float() reads it
        name, lr = args.reference.split(":")[:2]
        truth = f"{name}:{float(lr):g}"
    if best_fit:
        truth = "best fit"
    elif truth not in runs:
        raise SystemExit(f"--reference {truth} is not one of --samplers ({', '.join(labels)})")
    Ps = [int(p) for p in args.P.split(",")]
    table = []
    for P in Ps:
        if best_fit:  # per training set, the m of the sampler whose posterior average fits the training set best
            fits = defaultdict(list)
            for lab in labels:
                for (p, r), v in runs[lab]["chains"].items():
                    if p == P and np.isfinite(v["train_mse"]):
                        fits[r].append((v["train_mse"], v["m"], lab))
            refs = {r: min(f)[1] for r, f in fits.items()}
            ref_from = {r: f"{min(f)[2]} (train MSE {min(f)[0]:.4f})" for r, f in fits.items()}
        else:
            refs = {r: v["m"] for (p, r), v in runs[truth]["chains"].items() if p == P}  # per training set (replica)
            ref_from = {r: truth for r in refs}
        m_ref = float(np.mean(list(refs.values())))
        row = {"P": P, "m_ref": m_ref, "m_ref_per_replica": refs, "m_ref_from": ref_from}
        for lab in labels:
            ch = [(r, v) for (p, r), v in runs[lab]["chains"].items() if p == P and r in refs]
            t = np.array([c["t_eq"] for _, c in ch])
            arr = np.array([arrival_step(c["steps"], c["overlap"], refs[r], args.tol) for r, c in ch])
            ch = [c for _, c in ch]
            med = float(np.median(arr))
            row[lab] = {"t_arr_median": med, "t_arr": arr.tolist(), "t_eq_median": float(np.median(t)),
                        "t_eq": t.tolist(), "lower_bound": any(c["lower_bound"] for c in ch),
                        "seconds_to_arrival": med * runs[lab]["sec_per_chain_step"],
                        "m": [c["m"] for c in ch], "test_mse": [c["test_mse"] for c in ch],
                        "train_mse": [c["train_mse"] for c in ch]}
        for lab in labels[1:]:
            row[f"ratio_steps {ref}/{lab}"] = row[ref]["t_arr_median"] / max(row[lab]["t_arr_median"], 1)
            row[f"ratio_wall {ref}/{lab}"] = row[ref]["seconds_to_arrival"] / max(row[lab]["seconds_to_arrival"], 1e-9)
        table.append(row)
    meta = {"setting": dict(vars(args)), "sec_per_chain_step": {k: r["sec_per_chain_step"] for k, r in runs.items()},
            "reference": truth,
            "criterion": f"arrival: m stays within max({args.tol}, 3σ of its last 20%) of m_ref (the reference on the same training set) from t_arr on; settling "
                         "t_eq: the same band around the trace's own final value (mflab.analysis.equilibration)"}
    (out / f"{args.report}.json").write_text(json.dumps({"meta": meta, "points": table}, indent=1))
    lines = [f"# Equilibration: d={args.d} k={args.k} N={args.width} κ={args.kappa:g}, {args.seeds} seeds, "
             f"{', '.join(f'{_label(n, lr, pre, gb)} {st:,} steps' for n, lr, st, pre, gb in samplers)}", "",
             f"t_arr: median over seeds of the step from which the test overlap m stays within max({args.tol:g}, 3σ) of "
             f"the posterior average of m under {truth} on the same training set (m_ref: their mean over seeds; ∞: not "
             "within the run). t_eq: the same band around the "
             "chain's own final value ('≥': in the last 20% of the run, a lower bound). m, test MSE: posterior averages "
             "over the second half of each run, mean ± s.e. over seeds (the test MSE is the Gibbs error).", "",
             "Per seed: each seed's arrival step and its posterior average of the train MSE (lower: a state of higher "
             "posterior density, by exp(ΔL/T)). The run's time per step includes its logging (the test overlap on "
             "n_test points every log); benchmarks/sgld_parity_throughput.py times the steps alone.", "",
             "| P | m_ref | sampler | t_arr (steps) | per seed | time to arrive (s) | t_eq (steps) | m | test MSE | train MSE per seed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        for lab in labels:
            r = row[lab]
            lines.append(f"| {row['P']} | {row['m_ref']:.3f} | {lab} | {r['t_arr_median']:,.0f} | "
                         f"{' / '.join(f'{a:,.0f}' for a in r['t_arr'])} | "
                         f"{r['seconds_to_arrival']:.1f} | {'≥' if r['lower_bound'] else ''}{r['t_eq_median']:,.0f} | "
                         f"{_mse(r['m'])} | {_mse(r['test_mse'])} | {' / '.join(f'{v:.4f}' for v in r['train_mse'])} |")
        for lab in labels[1:]:
            lines.append(f"| {row['P']} | | ratio {ref} / {lab} | {row[f'ratio_steps {ref}/{lab}']:.1f}× steps | | "
                         f"{row[f'ratio_wall {ref}/{lab}']:.1f}× wall | | | | |")
        if best_fit:
            lines.append(f"| {row['P']} | | m_ref per seed from | " + "; ".join(f"{r}: {v}" for r, v in
                                                                          sorted(row['m_ref_from'].items())) + " | | | | | | |")
    (out / f"{args.report}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _figure(runs, Ps, out / f"{args.report.replace('equilibration', 'traces')}.png", meta)


def _figure(runs, Ps, path, meta):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(Ps), figsize=(5 * len(Ps), 3.6), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, P in zip(axes[0], Ps):
        for i, (lab, r) in enumerate(runs.items()):
            for (p, _), c in sorted(r["chains"].items()):
                if p == P:
                    ax.plot(c["steps"], c["overlap"], color=colors(i), lw=0.8, label=lab)
        ax.set_xscale("symlog", linthresh=10)  # fast samplers arrive in ~10² steps, SGLD in ~10⁴
        ax.set(xlabel="step (= gradient evaluations), log scale", ylabel="test overlap m", title=f"P = {P}")
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=8)
    s = meta["setting"]
    fig.suptitle(f"posterior samplers from the prior: parity d={s['d']} k={s['k']}, N={s['width']}, κ={s['kappa']:g}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
