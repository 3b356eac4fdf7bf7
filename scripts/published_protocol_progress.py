"""Where a run of paper B's published SGLD protocol stands, finished or not, beside the published numbers.

Reads one ``sgld-parity-published`` run directory: its ``results/trace.csv`` when it has finished, else the
trace stored in its checkpoints (``checkpoints/sgld*.npz``: every log up to the last saved chunk), so a run
that spans sessions can be reported while it goes on. Writes ``progress.md``, ``progress.json`` and
``progress.png`` beside the run directory: per P and seed the step reached, the step at which the stopping
rule first held (paper B §1.4: test MSE < 0.03, or train 0-1 error ≤ 0.01 at P ≤ 550), the current test
overlap m, the test MSE of the current weights (one sample: a Gibbs error) and the train 0-1 error; per P the
mean over seeds beside the published SGLD numbers (``published_parity_report.PUBLISHED``) and, where given,
the equilibrium of the kinetic sampler on the same data (``--equilibrium``: a finished ``sgld-parity``
run's ``results/final.csv``). With ``--equilibrium`` it also gives each chain's *arrival* at that equilibrium
(:func:`mflab.analysis.equilibration.arrival_step`, the criterion of benchmarks/posterior_sampler_equilibration.py,
against the kinetic posterior average of m on the same training set): "not yet" while the current weights are
outside the band. With ``--fast`` (an ``equilibration.json`` of that benchmark and one of its sampler labels) it
gives, per P, the protocol's arrival over that sampler's median arrival: the ratio against the published
protocol of issue 16 (a lower bound, ≥, while the protocol's chains have not arrived).

With ``--clock`` (a finished constant-η ``sgld-parity`` run on the same training sets and starts, e.g. the
equilibration record's SGLD at η = 1) it puts both on the Langevin diffusion's clock τ = Σ η_t
(:func:`mflab.dynamics.elapsed_time`): per chain the protocol's m now beside the clock run's m at the same τ,
and the clock run's m and test MSE at the τ where the protocol will take its sample (its last step, τ ≈ 4,083,
or 10⁵ steps after the stopping rule first holds on the clock run's trace, if sooner): a prediction of the
finished protocol from a run ~2,000× shorter, beside the published numbers (``{stem}-clock.png``: m against τ).
``--clock`` may be given several times, and ``--clock-P`` predicts the protocol also at training-set sizes it has
not run (the clock runs' chains there; the protocol's schedule and rule from this run's configuration).
``--fallback-rule METRIC:BELOW`` predicts under another reading of the small-P rule (P ≤ 550: by default train
0-1 error ≤ 0.01, e.g. ``train_mse:0.01`` as the notes give it for the single-index runs); the protocol run's
own rule is unchanged.

    python scripts/published_protocol_progress.py docs/validation/published_parity/protocol/sgld-P10-1000 \
        --equilibrium docs/validation/published_parity/learning_curve/kinetic-P10-1000 \
        --fast "docs/validation/published_parity/equilibration/d35-P750-1000-2133-readout-gibbs/equilibration.json:kinetic:0.03 M⁻¹=(8,1) readout drawn every 10"
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from published_parity_report import PUBLISHED, mean_se, versus_published  # noqa: E402

FIELDS = ("overlap", "test_mse", "train_error01", "train_mse")


def read_trace(run: Path) -> tuple[dict, bool]:
    """{(P, replica): {"step": [...], field: [...]}} and whether the run has finished. Chains are ordered as
    the study orders them: (n_train, kappa, replica), kappa fastest after n_train."""
    from mflab.studies.bayes.design import chain_points

    cfg = tomllib.loads((run / "config.toml").read_text())
    points = chain_points(cfg["task"]["n_train"], cfg["sgld"]["kappa"], cfg["sgld"]["replicas"])
    out = defaultdict(lambda: defaultdict(list))
    done = (run / "results" / "trace.csv").is_file() and (run / "summary.json").is_file()
    if done:
        with open(run / "results" / "trace.csv") as f:
            for r in csv.DictReader(f):
                row = out[(int(r["n_train"]), int(r["replica"]))]
                row["step"].append(int(r["step"]))
                for k in FIELDS:
                    row[k].append(float(r[k]) if r.get(k) else np.nan)
        with open(run / "results" / "final.csv") as f:  # where each chain's rule first held (it then stood still)
            for r in csv.DictReader(f):
                met = r.get("criterion_met_at", "")
                if met not in ("", "nan"):
                    out[(int(r["n_train"]), int(r["replica"]))]["halt_hit"] = int(float(met))
        return out, True
    files = sorted((run / "checkpoints").glob("sgld*.npz"))
    if not files:
        raise SystemExit(f"{run}: no finished results and no checkpoint to read")
    for path in files:
        z = np.load(path)
        steps = z["trace_steps"]
        name = path.stem  # sgld (one padded batch) or sgld.P<P> (one group per training-set size)
        chains = ([c for c, p in enumerate(points) if p[0] == int(name.split(".P")[1])] if ".P" in name
                  else range(len(points)))
        for i, c in enumerate(chains):
            P, _, r = points[c]
            row = out[(P, r)]
            row["step"] = steps.tolist()
            for k in FIELDS:  # a field an older checkpoint did not log reads as NaN
                row[k] = z[f"trace_{k}"][i].tolist() if f"trace_{k}" in z.files else [np.nan] * len(steps)
            row["halt_hit"] = int(z["halt_hits"][i])
    return out, False


def equilibrium(run: Path | None) -> dict:
    """Per P: the mean over seeds of the posterior-average m and Gibbs test MSE of a finished run, and the m of
    each seed (``m_per_replica``: each training set's own equilibrium)."""
    if run is None:
        return {}
    per = defaultdict(lambda: defaultdict(list))
    reps = defaultdict(dict)
    with open(run / "results" / "final.csv") as f:
        for r in csv.DictReader(f):
            per[int(r["n_train"])]["m"].append(float(r["overlap"]))
            per[int(r["n_train"])]["mse"].append(float(r["test_mse_gibbs"]))
            reps[int(r["n_train"])][int(r["replica"])] = float(r["overlap"])
    return {P: {**{k: float(np.mean(v)) for k, v in d.items()}, "m_per_replica": reps[P]} for P, d in per.items()}


def fast_arrivals(spec: str | None) -> tuple[str | None, dict]:
    """``FILE:LABEL`` -> (label, {P: median arrival step of that sampler}) from an ``equilibration.json``."""
    if not spec:
        return None, {}
    if ":" not in spec or not Path(spec.split(":", 1)[0]).is_file():
        raise SystemExit(f"--fast: '{spec}' is not FILE:LABEL with an existing FILE (an equilibration.json of "
                         "benchmarks/posterior_sampler_equilibration.py)")
    path, label = spec.split(":", 1)
    pts = json.loads(Path(path).read_text())["points"]
    if not any(label in p for p in pts):
        labels = sorted({k for p in pts for k, v in p.items() if isinstance(v, dict) and "t_arr_median" in v})
        raise SystemExit(f"--fast: no sampler '{label}' in {path}; it has: {', '.join(labels)}")
    return label, {int(p["P"]): float(p[label]["t_arr_median"]) for p in pts if label in p}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--equilibrium", type=Path, default=None)
    ap.add_argument("--fast", default=None, help="FILE:LABEL, an equilibration.json and the sampler whose median "
                    "arrival the protocol's is divided by")
    ap.add_argument("--stem", default="progress", help="stem of the files written beside the run directory")
    ap.add_argument("--clock-P", default=None, help="comma-separated P whose clock-run chains are predicted "
                    "(default: the protocol run's own P)")
    ap.add_argument("--clock", type=Path, action="append", default=None, help="a finished constant-η sgld-parity run on the same "
                    "training sets: the protocol and it compared at equal τ = Σ η_t, and the protocol's end predicted")
    ap.add_argument("--fallback-rule", default=None, help="METRIC:BELOW, the small-P stopping rule the clock "
                    "prediction uses in place of the run's (e.g. train_mse:0.01)")
    args = ap.parse_args()
    fallback = parse_rule(args.fallback_rule) if args.fallback_rule else None
    from mflab.analysis.equilibration import arrival_step

    trace, done = read_trace(args.run)
    eq = equilibrium(args.equilibrium)
    fast_label, fast = fast_arrivals(args.fast)
    cfg = tomllib.loads((args.run / "config.toml").read_text())
    extra = (cfg["sgld"].get("stop") or {}).get("extra_steps", 100_000)  # the StopRule default
    chains, per_P = [], defaultdict(list)
    for (P, r), row in sorted(trace.items()):
        last = {k: row[k][-1] for k in FIELDS}
        hit = row.get("halt_hit", -1)
        reached = row["step"][-1] if hit < 0 else min(row["step"][-1], hit + extra)  # a stopped chain stands still
        m_ref = eq.get(P, {}).get("m_per_replica", {}).get(r)
        arr = None
        if m_ref is not None:
            s, v = np.asarray(row["step"], float), np.asarray(row["overlap"], float)
            keep = s <= reached
            arr = arrival_step(s[keep], v[keep], m_ref) if keep.sum() >= 2 else float("inf")
        chains.append({"n_train": P, "replica": r, "step": reached, "rule_met_at": hit if hit >= 0 else None,
                       "m_ref": m_ref, "arrival": arr, **last})
        per_P[P].append({**last, "arrival": arr, "reached": reached})
    points = []
    for P, rows in sorted(per_P.items()):
        m = np.array([x["overlap"] for x in rows])
        e = np.array([x["test_mse"] for x in rows])
        se = lambda v: float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")  # noqa: E731
        points.append({"n_train": P, "m": float(m.mean()), "m_se": se(m), "test_mse": float(e.mean()), "test_mse_se": se(e),
                       "published_m": PUBLISHED["sgld_m"].get(P), "published_m_se": PUBLISHED["sgld_m_se"].get(P),
                       "published_mse": PUBLISHED["sgld_mse"].get(P), "kinetic_equilibrium_m": eq.get(P, {}).get("m"),
                       "kinetic_equilibrium_mse": eq.get(P, {}).get("mse"), **_versus_fast(rows, fast.get(P))})
    status = "finished" if done else f"in progress (read from its checkpoints; last saved step {max(c['step'] for c in chains):,})"
    meta = {"run": str(args.run), "status": status, "protocol": cfg["sgld"], "equilibrium_run": str(args.equilibrium),
            "fast": args.fast}
    out = args.run.parent
    (out / f"{args.stem}.json").write_text(json.dumps({"meta": meta, "points": points, "chains": chains}, indent=1))
    f = lambda x, s=".3f": "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, s)  # noqa: E731
    lines = [f"# The published SGLD protocol: {args.run.name} ({status})", "",
             f"Parity d = {cfg['task']['d']}, k = {cfg['task']['k']}, N = {cfg['network']['width']}, κ = {cfg['sgld']['kappa']}, "
             f"η {cfg['sgld']['lr']:g} → {cfg['sgld']['lr_final']:g} (power {cfg['sgld']['power']:g} over "
             f"{cfg['sgld']['decay_steps']:,} steps), at most {cfg['sgld']['steps']:,} steps, {cfg['task']['n_test']:,} test "
             "points; the sample is each chain's current weights, so the test MSE is one sample's (a Gibbs error). "
             "Published: paper B §4.1 (m_S, plain test MSE). Kinetic equilibrium: the posterior averages of "
             f"`{args.equilibrium.name if args.equilibrium else '—'}` (same training sets).", "",
             "| P | m now (mean ± s.e.) | published m | kinetic equilibrium m | test MSE now | published test MSE | "
             "kinetic equilibrium Gibbs MSE |", "|---|---|---|---|---|---|---|"]
    for p in points:
        lines.append(f"| {p['n_train']} | {f(p['m'])} ± {f(p['m_se'])} | {f(p['published_m'], '.2f')}"
                     f"{'' if p['published_m_se'] is None else ' ± ' + f(p['published_m_se'])} | {f(p['kinetic_equilibrium_m'])} | "
                     f"{f(p['test_mse'])} ± {f(p['test_mse_se'])} | {f(p['published_mse'])} | {f(p['kinetic_equilibrium_mse'])} |")
    if fast:
        lines += ["", f"Arrival at the kinetic equilibrium of the same training set (m within ±0.05 from then on; "
                  f"the protocol logs every {cfg['sgld']['log_every']:,} steps) against `{fast_label}` "
                  f"(`{args.fast.split(':', 1)[0]}`):", "",
                  "| P | protocol arrival, median over seeds | fast sampler's median arrival | protocol / fast |",
                  "|---|---|---|---|"]
        for p in points:
            if p.get("fast_arrival") is not None:
                lines.append(f"| {p['n_train']} | {p['arrival_text']} | {p['fast_arrival']:,.0f} | {p['ratio_text']} |")
    row_end = {k: row["step"][-1] for k, row in trace.items()}  # the batch's step: a stopped chain stood still before it
    lines += ["", "| P | seed | step reached | stopping rule met at | m | test MSE | train 0-1 error | arrival |",
              "|---|---|---|---|---|---|---|---|"]
    for c in chains:
        stopped = c["rule_met_at"] is not None and c["step"] < row_end[(c["n_train"], c["replica"])]
        arr = ("—" if c["arrival"] is None else f"{c['arrival']:,.0f}" if np.isfinite(c["arrival"])
               else "never (stopped by its rule)" if stopped else "never (the run has ended)" if done else "not yet")
        lines.append(f"| {c['n_train']} | {c['replica']} | {c['step']:,} | {'—' if c['rule_met_at'] is None else format(c['rule_met_at'], ',')} "
                     f"| {f(c['overlap'])} | {f(c['test_mse'])} | {f(c['train_error01'])} | {arr} |")
    want = ({int(x) for x in args.clock_P.split(",")} if args.clock_P else {c["n_train"] for c in chains})
    clock = on_clock(args.run, trace, chains, args.clock, want, fallback) if args.clock else None
    if clock:
        lines += _clock_lines(clock, args.clock, f, fallback)
        meta["clock"] = {"runs": [str(c) for c in args.clock], "tau_end": clock["tau_end"],
                         "fallback_rule": None if fallback is None else {"metric": fallback[0], "below": fallback[1]}}
        (out / f"{args.stem}.json").write_text(json.dumps({"meta": meta, "points": points, "chains": chains,
                                                           "clock": {"per_P": clock["per_P"],
                                                                     "chains": clock["chains"]}}, indent=1))
        _clock_figure(clock, out / f"{args.stem}-clock.png")
    (out / f"{args.stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    _figure(trace, points, out / f"{args.stem}.png", status)


def run_clock(run: Path):
    """τ(steps) of a run directory's SGLD schedule (:func:`mflab.dynamics.elapsed_time`), and its config."""
    from mflab.dynamics import elapsed_time, make_schedule

    sg = tomllib.loads((run / "config.toml").read_text())["sgld"]
    if sg.get("sampler", "sgld") != "sgld":
        raise SystemExit(f"--clock: {run} ran the {sg['sampler']} sampler; the diffusion's clock τ = Σ η_t is that "
                         "of overdamped Langevin (SGLD) only")
    shape = make_schedule(sg["schedule"], sg["lr"], sg.get("lr_final"), sg.get("decay_steps"), sg.get("power", 2.0))
    return (lambda steps: elapsed_time(steps, sg["lr"], shape)), sg


def clock_grid(run: Path):
    """A run's clock on a grid of ~10⁴ steps, from its first to its last: (steps, τ at those steps, its config);
    τ of any step, or the step of any τ, by interpolation."""
    tau, sg = run_clock(run)
    grid = np.unique(np.r_[np.arange(0, sg["steps"], max(1, sg["steps"] // 10_000)), sg["steps"]])
    return grid, tau(grid), sg


def parse_rule(spec: str) -> tuple[str, float]:
    """``METRIC:BELOW`` -> (metric, threshold); one line naming the flag and the fix otherwise."""
    metric, _, below = spec.partition(":")
    if metric not in FIELDS[1:]:
        raise SystemExit(f"--fallback-rule {spec!r}: the metric must be one of {', '.join(FIELDS[1:])} "
                         "(e.g. train_mse:0.01)")
    try:
        return metric, float(below)
    except ValueError:
        raise SystemExit(f"--fallback-rule {spec!r}: give the threshold after the colon, e.g. {metric}:0.01") from None


def on_clock(run: Path, trace: dict, chains: list, clock_runs: list, want: set,
             fallback: tuple[str, float] | None = None) -> dict:
    """The protocol and constant-η runs compared at equal diffusion time τ (module docstring): for every chain of
    the clock runs with P in ``want``, its m and test MSE at the protocol's sample time and, where the protocol
    has that chain, the clock run's m at the protocol's τ now. ``fallback`` (metric, threshold) replaces the
    small-P rule of the run's configuration in the prediction."""
    grid, grid_tau, sg = clock_grid(run)
    ctrace, clock_of = {}, {}
    for clock_run in clock_runs:
        if not ((clock_run / "results" / "trace.csv").is_file() and (clock_run / "config.toml").is_file()):
            raise SystemExit(f"--clock: {clock_run} holds no finished run (results/trace.csv); run it first")
        tau_c, _ = run_clock(clock_run)
        for key, row in read_trace(clock_run)[0].items():
            if key[0] in want:
                ctrace[key], clock_of[key] = row, tau_c
    if not ctrace:
        raise SystemExit(f"--clock: the clock runs have no chain at P = {sorted(want)}")
    now = {(c["n_train"], c["replica"]): c for c in chains}
    tau_end = float(grid_tau[-1])
    stop = dict(sg.get("stop") or {})
    if fallback is not None:
        if not stop:
            raise SystemExit(f"--fallback-rule: {run} has no stopping rule (sgld.stop) whose small-P part it could "
                             "replace; leave the flag out")
        stop["fallback_metric"], stop["fallback_below"] = fallback
    kappa = max(sg["kappa"]) if isinstance(sg["kappa"], list) else sg["kappa"]
    out, per_P = [], defaultdict(list)
    for key, row in sorted(ctrace.items()):
        c = now.get(key)
        t = clock_of[key](np.asarray(row["step"]))
        m, mse = np.asarray(row["overlap"], float), np.asarray(row["test_mse"], float)
        tau_now = None if c is None else float(np.interp(c["step"], grid, grid_tau))
        small = key[0] <= stop.get("small_n_train", 550) or kappa >= stop.get("large_kappa", 0.02)
        metric = stop.get("fallback_metric", "train_error01") if small else stop.get("metric", "test_mse")
        below = stop.get("fallback_below", 0.01) if small else stop.get("below", 0.03)
        held = np.flatnonzero(np.asarray(row[metric], float) <= below) if stop else np.array([], int)
        tau_sample, step_hit, step_sample = tau_end, None, float(grid[-1])
        if len(held):  # the rule first holds at τ_hit: the protocol's step there, plus its extra steps
            step_hit = float(np.interp(t[held[0]], grid_tau, grid))
            step_sample = min(float(grid[-1]), step_hit + stop.get("extra_steps", 100_000))
            tau_sample = float(np.interp(step_sample, grid, grid_tau))
        covered = tau_sample <= t[-1]
        clock_m_now = float(np.interp(tau_now, t, m)) if c is not None and tau_now <= t[-1] else None
        rec = {"n_train": key[0], "replica": key[1], "tau_now": tau_now, "m_now": None if c is None else c["overlap"],
               "clock_m_at_tau_now": clock_m_now,
               "m_now_minus_clock": None if clock_m_now is None else c["overlap"] - clock_m_now,
               "tau_sample": tau_sample, "rule_on_clock_at_tau": float(t[held[0]]) if len(held) else None,
               "protocol_step_of_rule": step_hit, "protocol_step_of_sample": step_sample,
               "predicted_m": float(np.interp(tau_sample, t, m)) if covered else None,
               "predicted_test_mse": float(np.interp(tau_sample, t, mse)) if covered else None}
        out.append(rec)
        per_P[key[0]].append(rec)
    summary = {}
    for P, recs in sorted(per_P.items()):
        agg = {}
        for k in ("m_now", "clock_m_at_tau_now", "m_now_minus_clock", "predicted_m", "predicted_test_mse"):
            mean, se = mean_se([r[k] for r in recs if r[k] is not None])
            agg[k], agg[k + "_se"] = (mean if np.isfinite(mean) else None), (se if np.isfinite(se) else None)
        pm, pse, dz = versus_published(P, agg["predicted_m"])
        agg.update({"published_m": pm, "published_m_se": pse, "published_mse": PUBLISHED["sgld_mse"].get(P),
                    "predicted_minus_published_in_published_se": dz, "seeds": len(recs),
                    "tau_sample": float(np.mean([r["tau_sample"] for r in recs]))})
        keys = [(P, r["replica"]) for r in recs]
        agg["tau_of_published_mse"] = implied_tau(
            [clock_of[k](np.asarray(ctrace[k]["step"])) for k in keys],
            [np.asarray(ctrace[k]["test_mse"], float) for k in keys], agg["published_mse"])
        summary[str(P)] = agg
    return {"chains": out, "per_P": summary, "tau_end": tau_end, "trace": ctrace, "tau_of_clock": clock_of,
            "tau_of_protocol": (grid, grid_tau), "protocol_trace": trace}


def implied_tau(taus: list, curves: list, target: float | None) -> float | None:
    """The first diffusion time τ > 0 at which the seeds' mean curve reaches ``target`` (linear between logs): where
    on the clock run a published test MSE is met, i.e. when the published sample would have been taken if the
    clock run stands for the protocol. None without a target, or where the mean curve never reaches it. The seeds'
    logs are cut to their common length (one clock run per P shares one grid)."""
    if target is None or not curves:
        return None
    n = min(len(c) for c in curves)
    t, y = np.asarray(taus[0][:n], float), np.mean([np.asarray(c[:n], float) for c in curves], axis=0)
    keep = t > 0
    t, y = t[keep], y[keep] - target
    cross = np.flatnonzero(np.sign(y[:-1]) * np.sign(y[1:]) <= 0)
    if not len(cross):
        return None
    i = cross[0]
    return float(t[i] if y[i] == y[i + 1] else t[i] + (t[i + 1] - t[i]) * y[i] / (y[i] - y[i + 1]))


def _clock_lines(clock, clock_runs: list, f, fallback=None) -> list:
    pm = lambda a, k: f"{f(a[k])}" + ("" if a.get(k + "_se") is None else f" ± {f(a[k + '_se'])}")  # noqa: E731
    rule = ("" if fallback is None else f" **The prediction reads the small-P rule (P ≤ 550) as {fallback[0]} ≤ "
            f"{fallback[1]:g}, not as the run's configuration has it.**")
    lines = ["", "## On the diffusion's clock: against " + ", ".join(f"`{c}`" for c in clock_runs), "",
             f"τ = Σ η_t, the time of the Langevin diffusion both runs discretise (`mflab.dynamics.elapsed_time`); the "
             f"protocol ends at τ = {clock['tau_end']:,.0f}. *m at equal τ*: the clock run's m at the protocol's τ now "
             "(same training sets and starts, other noise); *protocol − clock*: their difference seed by seed, mean ± "
             "s.e. of the per-seed differences (paired: the training set's share of the spread cancels). *Predicted*: "
             "the clock run's m and test MSE at the τ where the protocol takes its sample (its end, or its extra "
             "steps after the stopping rule first holds on the clock run's trace): the finished protocol, predicted. "
             "Mean ± s.e. over seeds." + rule, "",
             "| P | protocol m now | clock run's m at equal τ | protocol − clock | predicted m at the protocol's sample | "
             "published m | (predicted − published) / published s.e. | predicted test MSE | published test MSE | "
             "sample τ (predicted) | τ where the clock run's mean test MSE meets the published |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for P, a in clock["per_P"].items():
        lines.append(f"| {P} | {pm(a, 'm_now')} | {pm(a, 'clock_m_at_tau_now')} | {pm(a, 'm_now_minus_clock')} | "
                     f"{pm(a, 'predicted_m')} | "
                     f"{f(a['published_m'], '.2f')}{'' if a['published_m_se'] is None else ' ± ' + f(a['published_m_se'])} | "
                     f"{f(a['predicted_minus_published_in_published_se'], '+.1f')} | {pm(a, 'predicted_test_mse')} | "
                     f"{f(a['published_mse'])} | {f(a.get('tau_sample'), ',.0f')} | "
                     f"{f(a.get('tau_of_published_mse'), ',.0f') if a.get('published_mse') else '—'} |")
    lines += ["", "The last column reads the published test MSE back on the clock run: the diffusion time at which the "
              "constant-η run's seed-mean test MSE first equals it (— where it never does within the run). Beside the "
              "predicted sample τ it says whether the published sample was taken where the notes' protocol takes it.",
              "", "| P | seed | τ now | m now | clock m at τ now | rule holds on the clock run at τ | sample τ | predicted m |",
              "|---|---|---|---|---|---|---|---|"]
    for c in clock["chains"]:
        lines.append(f"| {c['n_train']} | {c['replica']} | {f(c['tau_now'], ',.0f')} | {f(c['m_now'])} | "
                     f"{f(c['clock_m_at_tau_now'])} | {f(c['rule_on_clock_at_tau'], ',.0f')} | {c['tau_sample']:,.0f} | "
                     f"{f(c['predicted_m'])} |")
    return lines


def _clock_figure(clock, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ps = sorted({c["n_train"] for c in clock["chains"]})
    colors = {P: plt.get_cmap("plasma")(0.85 * i / max(len(Ps) - 1, 1)) for i, P in enumerate(Ps)}
    grid, grid_tau = clock["tau_of_protocol"]
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for c in clock["chains"]:
        P, r = c["n_train"], c["replica"]
        row = clock["protocol_trace"].get((P, r))
        if row is not None:  # the protocol has run this chain
            s = np.asarray(row["step"], float)
            keep = (s > 0) & (s <= grid[-1])
            ax.plot(np.interp(s[keep], grid, grid_tau), np.asarray(row["overlap"])[keep], color=colors[P], lw=1.4,
                    label=f"P = {P}, protocol" if r == 0 else None)
        crow = clock["trace"][(P, r)]
        t = clock["tau_of_clock"][(P, r)](np.asarray(crow["step"]))
        ax.plot(t[t > 0], np.asarray(crow["overlap"])[t > 0], color=colors[P], lw=0.8, ls="--",
                label=f"P = {P}, constant η" if r == 0 else None)
    for P in Ps:
        a = clock["per_P"][str(P)]
        if a["published_m"]:  # at the τ where the protocol samples (its end, or its rule's extra steps)
            tau = np.mean([c["tau_sample"] for c in clock["chains"] if c["n_train"] == P])
            ax.errorbar([tau], [a["published_m"]], yerr=[a["published_m_se"] or 0], fmt="k^", ms=5, capsize=3,
                        mfc=colors[P])
    ax.axvline(clock["tau_end"], color="k", lw=0.7, ls=":")
    ax.set(xscale="log", xlabel="diffusion time τ = Σ η_t", ylabel="test overlap m of the current weights",
           ylim=(-0.05, 1.0), title="the published protocol on the Langevin diffusion's clock")
    ax.legend(fontsize=7, loc="upper left")
    fig.text(0.01, 0.01, "solid: protocol (η 1e-3 → 5e-4); dashed: constant-η SGLD, same data and starts; triangles: "
             "published m where the protocol samples (its end: dotted line; or its rule)", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)


def _versus_fast(rows, fast_arrival) -> dict:
    """The protocol's median arrival over the seeds and its ratio to a fast sampler's: a lower bound while some
    seed has not arrived (its steps reached stand in for its arrival)."""
    arr = [x["arrival"] for x in rows]
    if fast_arrival is None or any(a is None for a in arr):
        return {}
    pending = [not np.isfinite(a) for a in arr]
    med = float(np.median([x["reached"] if p else a for x, a, p in zip(rows, arr, pending)]))
    bound = any(pending)  # a pending seed's steps reached understate its arrival, so the median is a lower bound
    return {"arrival_median": med, "arrival_is_lower_bound": bool(bound), "fast_arrival": fast_arrival,
            "ratio": med / fast_arrival, "arrival_text": f"{'≥ ' if bound else ''}{med:,.0f}",
            "ratio_text": f"{'≥ ' if bound else ''}{med / fast_arrival:,.0f}×"}


def _figure(trace, points, path, status):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ps = sorted({P for P, _ in trace})
    colors = {P: plt.get_cmap("viridis")(i / max(len(Ps) - 1, 1)) for i, P in enumerate(Ps)}
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for (P, r), row in sorted(trace.items()):
        s = np.asarray(row["step"], float)
        keep = s > 0
        ax.plot(s[keep], np.asarray(row["overlap"])[keep], color=colors[P], lw=1, label=f"P = {P}" if r == 0 else None)
    for p in points:
        if p["published_m"] is not None and p["published_m"] > 0:
            ax.axhline(p["published_m"], color=colors[p["n_train"]], ls="--", lw=0.8)
        if p["kinetic_equilibrium_m"] is not None and p["kinetic_equilibrium_m"] > 0.05:
            ax.axhline(p["kinetic_equilibrium_m"], color=colors[p["n_train"]], ls=":", lw=0.8)
    ax.set(xscale="log", xlabel="SGLD step", ylabel="test overlap m of the current weights", ylim=(-0.05, 1.0))
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"published SGLD protocol, parity d=35 k=4 N=512 κ=5e-3 ({status.split(' (')[0]})", fontsize=9)
    fig.text(0.01, 0.01, "lines: each seed; dashed: published m (final weights, η 1e-3→5e-4); dotted: the kinetic "
             "sampler's equilibrium m on the same data", fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
