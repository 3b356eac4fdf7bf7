"""Paper B's κ = 5·10⁻³ parity learning curve: mflab's runs beside the published numbers, one table, one figure.

Reads the run directories under ``docs/validation/published_parity/learning_curve`` (``sgld-parity`` runs,
any sampler; each holds some of the published P values, with NNGP-KRR on the same data) and
``.../mean_field`` (``parity-phase`` runs of MF and MF-ARD, B = 512 particles, on the same data) and
``.../protocol/progress*.json`` (the published SGLD protocol run by mflab, as
``scripts/published_protocol_progress.py`` last read it from its checkpoints: finished or in progress), and writes
``learning_curve.md``, ``learning_curve.json`` and ``learning_curve.png`` beside them, with P_c of every
method and the paper's claim (max |Δ test MSE| between MF-ARD and the network over P ≥ 1000).

Published numbers (paper B §4.1 and §8, ``../shared/papers/B_simple_mean_field_feature_learning.md``):
m_S from the heat-map notebook (mean of 3 seeds; standard errors only where §8 gives them), test MSE from
the learning-curve notebook (plain MSE; the heat maps' ½·MSE is *not* used here). The published SGLD
sample is each seed's final weights, so its test MSE is a Gibbs error; mflab's Gibbs error
(``test_mse_gibbs``: the posterior average of each sample's error) is the like-for-like number.

    python scripts/published_parity_report.py [--root docs/validation/published_parity]
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

# paper B §4.1 (SGLD m_S heat map; fig2 learning curves, plain MSE) and §8 (standard errors of the mean)
PUBLISHED = {
    "sgld_m": {10: 0.0, 100: 0.0, 500: 0.0, 750: 0.40, 1000: 0.79, 2133: 0.93, 3666: 0.93, 10000: 0.93},
    "sgld_m_se": {750: 0.040, 1000: 0.034},
    "sgld_mse": {10: 1.53, 500: 1.67, 750: 0.82, 1000: 0.136, 2133: 0.037, 10000: 0.0275},
    "mf_m": {10: 0.002, 500: 0.03, 1000: 0.21, 2133: 0.36, 10000: 0.46},
    "mf_mse": {10: 1.45, 500: 1.26, 750: 1.16, 1000: 0.73, 2133: 0.41, 10000: 0.30},
    "krr_m": {10: 0.002, 500: 0.008, 750: 0.018, 1000: 0.027, 2133: 0.061, 10000: 0.285},
    "krr_mse": {10: 1.33, 500: 2.00, 750: 2.01, 1000: 1.87, 2133: 1.29, 10000: 0.73},
    # fig1's "NN (alt)" series, probably MF-ARD (the label mapping is a guess in the notes)
    "mf_ard_mse_guess": {500: 1.20, 750: 0.038, 1000: 0.033, 2133: 0.028, 3666: 0.025, 5000: 0.028, 7500: 0.025,
                         10000: 0.025},
}


def read_runs(folder: Path) -> dict:
    """Per P: the network's and KRR's numbers over seeds (mean, standard error), from every run's final.csv."""
    per = {}
    for run in sorted(p for p in folder.iterdir() if (p / "results" / "final.csv").exists()):
        summary = json.loads((run / "summary.json").read_text())
        with open(run / "results" / "final.csv") as f:
            for r in csv.DictReader(f):
                if r["alive"] != "True":
                    continue
                row = per.setdefault(int(r["n_train"]), {"runs": set(), "method": summary.get("method", "SGLD")})
                row["runs"].add(run.name)
                for k in ("overlap", "test_mse_gibbs", "test_mse_mean", "krr_overlap", "krr_test_mse_mean",
                          "krr_test_mse_gibbs"):
                    row.setdefault(k, []).append(float(r[k]) if r[k] else np.nan)
    out = {}
    for P, row in sorted(per.items()):
        out[P] = {"method": row["method"], "runs": sorted(row["runs"]), "seeds": len(row["overlap"])}
        out[P].update(_mean_se({k: v for k, v in row.items() if isinstance(v, list)}))
    return out


def mean_se(values) -> tuple[float, float]:
    """The mean over the finite values and its standard error std(ddof=1)/√(number of finite values), NaN where
    there are none (the mean) or fewer than two (the s.e.): the one estimate every table of these reports uses."""
    v = np.asarray(values, float)
    n = int(np.isfinite(v).sum())
    return (float(np.nanmean(v)) if n else np.nan), (float(np.nanstd(v, ddof=1) / np.sqrt(n)) if n > 1 else np.nan)


def _mean_se(values: dict) -> dict:
    """:func:`mean_se` per key, as ``key`` and ``key_se``."""
    out = {}
    for k, v in values.items():
        out[k], out[k + "_se"] = mean_se(v)
    return out


def mf_points(runs) -> dict:
    """Per method (mf, mf-ard) and P: m and both test errors, mean and s.e. over the replicas of the
    ``parity-phase`` runs ``runs`` (their ``results/points.csv``)."""
    per = {}
    for run in runs:
        with open(run / "results" / "points.csv") as f:
            for r in csv.DictReader(f):
                if r["method"] in ("mf", "mf-ard"):
                    row = per.setdefault(r["method"], {}).setdefault(int(r["n_train"]), {})
                    for k in ("overlap", "test_mse_mean", "test_mse_gibbs"):
                        row.setdefault(k, []).append(float(r[k]) if r[k] else np.nan)
    out = {}
    for m, by_p in per.items():
        for P, row in by_p.items():
            out.setdefault(m, {})[P] = _mean_se(row)
    return out


def mean_field(folder: Path) -> dict:
    """:func:`mf_points` of the learning curve's ``parity-phase`` runs under ``folder``, the folders named ``P…``
    (same seed and P groups as the network's runs: the same data). The ``mf-…`` folders are experiments on the
    solver itself (longer solves, cold starts, the authors' readout particles) and are not averaged into the
    curve: each is one setting of its own."""
    runs = sorted(p for p in folder.glob("P*") if (p / "results" / "points.csv").exists()) if folder.exists() else []
    return mf_points(runs)


def mf_as_published(run: Path) -> dict:
    """Per P: plain MF solved as the authors solve it (``mf.readout = "particles"``, every P from the prior) and
    read where their solver ends (the run's last iterations, at the diffusion time τ = iterations·K·η of its
    config; ``scripts/mf_overlap_trace.py`` has the authors' τ), m and the test MSE of the particle estimate of
    the MF mean (averaged over the last ``mf.patience`` chunks), mean and s.e. over replicas (:func:`mf_points`).
    Empty without the run."""
    if not (run / "results" / "points.csv").is_file():
        return {}
    import tomllib

    cfg = tomllib.loads((run / "config.toml").read_text())["mf"]
    tau = cfg["iterations"] * cfg["inner_steps"] * cfg["lr"]
    return {P: {"m": r["overlap"], "m_se": r["overlap_se"], "mse": r["test_mse_mean"], "mse_se": r["test_mse_mean_se"],
                "tau": tau, "readout": cfg.get("readout", "integrated"), "run": run.name}
            for P, r in sorted(mf_points([run]).get("mf", {}).items())}


def clock_predictions(folder: Path) -> dict:
    """Per P: the published protocol's sample predicted on the diffusion's clock (``published_protocol_progress.py
    --clock``: constant-η SGLD on the same data at the τ where the protocol samples), from every
    ``progress*.json`` under ``folder`` that has one, the run's own stopping rule (a report made with
    ``--fallback-rule`` predicts another reading of the rule and is left out)."""
    out = {}
    for f in sorted(folder.glob("progress*.json")) if folder.exists() else []:
        prog = json.loads(f.read_text())
        if ((prog.get("meta") or {}).get("clock") or {}).get("fallback_rule"):
            continue
        for P, a in (prog.get("clock") or {}).get("per_P", {}).items():
            if a.get("predicted_m") is not None:
                out[int(P)] = {**a, "source": f.name}
    return dict(sorted(out.items()))


def protocol(folder: Path) -> dict:
    """Per P: the published SGLD protocol as mflab runs it (m and test MSE of each seed's current weights, mean
    and s.e.; the step its chains reached and how many ended by the stopping rule), from every
    ``progress*.json`` under ``folder``. An unfinished run is reported as such, never as a result."""
    out = {}
    for f in sorted(folder.glob("progress*.json")) if folder.exists() else []:
        prog = json.loads(f.read_text())
        cfg = prog["meta"]["protocol"]
        extra = (cfg.get("stop") or {}).get("extra_steps", 0)
        ended = lambda c: c["rule_met_at"] is not None and int(c["step"]) >= c["rule_met_at"] + extra  # noqa: E731
        for pt in prog["points"]:
            P = int(pt["n_train"])
            mine = [c for c in prog["chains"] if int(c["n_train"]) == P]
            by_rule = sum(ended(c) for c in mine)
            out[P] = {"m": pt["m"], "m_se": pt["m_se"], "test_mse": pt["test_mse"], "test_mse_se": pt["test_mse_se"],
                      "step": max(int(c["step"]) for c in mine), "seeds": len(mine), "ended_by_rule": by_rule,
                      "finished": all(ended(c) or int(c["step"]) >= cfg["steps"] for c in mine),
                      "max_steps": int(cfg["steps"]), "source": f.name}
    return dict(sorted(out.items()))


def krr_conventions(path: Path) -> dict:
    """Per ridge convention of ``scripts/krr_ridge_convention.py``'s record: P -> |MSE / published − 1|."""
    if not path.exists():
        return {}
    rows = [r for r in json.loads(path.read_text())["rows"] if r["published_mse"]]
    names = [k for k in rows[0] if isinstance(rows[0][k], dict)] if rows else []
    return {n: {r["P"]: abs(r[n]["mse"] / r["published_mse"] - 1) for r in rows} for n in names}


AUTHORS_KRR = "authors' script: κ²/d"  # the ridge of 2608_NNGP.py on mflab's kernel (scripts/krr_ridge_convention.py)


def krr_as_published(path: Path) -> dict:
    """P -> m, MSE (mean, s.e. over seeds) of mflab's KRR mean with the authors' ridge, scored as their script
    scores it (``krr_ridge_convention.py --eval-set authors``); {} without the record."""
    if not path.exists():
        return {}
    return {r["P"]: r[AUTHORS_KRR] for r in json.loads(path.read_text())["rows"] if AUTHORS_KRR in r}


def versus_published(P, m):
    """The published SGLD m at P, its standard error, and m − published in those errors (None without one)."""
    pm, pse = PUBLISHED["sgld_m"].get(P), PUBLISHED["sgld_m_se"].get(P)
    return pm, pse, ((m - pm) / pse if pm is not None and pse and m is not None else None)


def _m_cells(P, m, m_se) -> str:
    """Table cells: m ± s.e. | the published m (± its s.e.) | the difference in published standard errors."""
    pm, pse, dz = versus_published(P, m)
    return f"{_f(m)} ± {_f(m_se)} | {_f(pm, '.2f')}{' ± ' + _f(pse) if pse else ''} | {_f(dz, '+.1f')}"


def critical_p(Ps, m, threshold=0.5):
    """P_c as the grid interval (P_prev, P] where m first reaches ``threshold`` (None: not in the grid)."""
    for i, (P, v) in enumerate(zip(Ps, m)):
        if v is not None and np.isfinite(v) and v >= threshold:
            return [Ps[i - 1] if i else 0, P]
    return None


def _f(x, spec=".3f"):
    return "–" if x is None or not np.isfinite(x) else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="docs/validation/published_parity")
    args = ap.parse_args()
    root = Path(args.root)
    net = read_runs(root / "learning_curve")
    mf = mean_field(root / "mean_field")
    if not net:
        raise SystemExit(f"no finished sgld-parity runs under {root / 'learning_curve'}")
    method = next(iter(net.values()))["method"]
    lines = [f"# κ = 5·10⁻³ parity learning curve (d = 35, k = 4, N = 512): mflab ({method}) vs paper B", "",
             "m: target overlap of the posterior mean ⟨f⟩; test MSE: the Gibbs error (posterior average of each "
             "sample's error; the published SGLD sample is each seed's final weights, also a Gibbs error), plain MSE "
             "(no ½). mflab: mean ± s.e. over seeds. Published: paper B §4.1 (3 seeds; s.e. from §8 where given). "
             "MF / MF-ARD: mflab's solvers with B = 512 particles on the same data (`mean_field/P…`, where run; warm starts along P); their "
             "test MSE is the error of the MF posterior mean plus its predictive variance (the Gibbs error).", "",
             "| P | m (mflab) | m (published SGLD) | Δm / published s.e. | test MSE (mflab) | test MSE (published SGLD) | "
             "NNGP-KRR m | NNGP-KRR MSE, mean / Gibbs (published) | MF-ARD m | MF-ARD MSE (mflab) | MF-ARD MSE (published, "
             "guessed label) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for P, r in net.items():
        pm, pse, dz = versus_published(P, r["overlap"])
        ard = mf.get("mf-ard", {}).get(P, {}).get("test_mse_gibbs")
        rows.append({"P": P, **r, "published_m": pm, "published_m_se": pse, "delta_m_in_published_se": dz,
                     "published_mse": PUBLISHED["sgld_mse"].get(P), "mf_ard_mse": ard,
                     "published_mf_ard_mse_guess": PUBLISHED["mf_ard_mse_guess"].get(P)})
        lines.append(f"| {P} | {_m_cells(P, r['overlap'], r['overlap_se'])} | {_f(r['test_mse_gibbs'], '.4f')} ± "
                     f"{_f(r['test_mse_gibbs_se'], '.4f')} | {_f(PUBLISHED['sgld_mse'].get(P), '.4f')} | "
                     f"{_f(r['krr_overlap'])} | {_f(r['krr_test_mse_mean'])} / {_f(r['krr_test_mse_gibbs'])} "
                     f"({_f(PUBLISHED['krr_mse'].get(P), '.2f')}) | {_f(mf.get('mf-ard', {}).get(P, {}).get('overlap'))} | "
                     f"{_f(ard, '.4f')} | "
                     f"{_f(PUBLISHED['mf_ard_mse_guess'].get(P), '.3f')} |")
    proto = protocol(root / "protocol")
    if proto:
        lines += ["", "The published SGLD protocol as mflab runs it (`protocol/`; η 10⁻³ → 5·10⁻⁴, at most 7.5·10⁶ steps, "
                  "the stopping rule of §3, each seed's current weights as the sample, so the test MSE is one sample's: a "
                  "Gibbs error; 10⁵ test points). **A row not marked finished is the state at the last checkpoint, not "
                  "a result.**", "",
                  "| P | m (protocol) | m (published SGLD) | Δm / published s.e. | test MSE (protocol) | test MSE "
                  "(published SGLD) | state |", "|---|---|---|---|---|---|---|"]
        for P, r in proto.items():
            pm, pse, dz = versus_published(P, r["m"])
            r.update({"published_m": pm, "published_m_se": pse, "delta_m_in_published_se": dz,
                      "published_mse": PUBLISHED["sgld_mse"].get(P)})
            state = (f"finished ({r['ended_by_rule']} of {r['seeds']} seeds by the stopping rule)" if r["finished"]
                     else f"in progress: step {r['step']:,} of {r['max_steps']:,}")
            lines.append(f"| {P} | {_m_cells(P, r['m'], r['m_se'])} | {_f(r['test_mse'], '.4f')} ± {_f(r['test_mse_se'], '.4f')} | "
                         f"{_f(PUBLISHED['sgld_mse'].get(P), '.4f')} | {state} |")
    pred = clock_predictions(root / "protocol")
    if pred:
        lines += ["", "The published protocol predicted on the Langevin diffusion's clock (`protocol/progress*.md`, "
                  "`scripts/published_protocol_progress.py --clock`): constant-η SGLD (η = 1) on the same training sets "
                  "and starts, read at the diffusion time τ = Σ η_t where the protocol takes its sample (its end, "
                  "τ = 4,083, or 10⁵ steps after its stopping rule first holds): m and the test MSE of that sample, mean "
                  "± s.e. over seeds, beside the published SGLD.", "",
                  "| P | predicted m | published m | Δm / published s.e. | predicted test MSE | published test MSE |",
                  "|---|---|---|---|---|---|"]
        for P, a in pred.items():
            lines.append(f"| {P} | {_m_cells(P, a['predicted_m'], a.get('predicted_m_se'))} | {_f(a['predicted_test_mse'], '.4f')} ± "
                         f"{_f(a.get('predicted_test_mse_se'), '.4f')} | {_f(PUBLISHED['sgld_mse'].get(P), '.4f')} |")
    Ps = sorted(net)
    pc = {f"mflab {method}": critical_p(Ps, [net[P]["overlap"] for P in Ps]),
          "mflab NNGP-KRR": critical_p(Ps, [net[P]["krr_overlap"] for P in Ps]),
          "published SGLD": critical_p(sorted(PUBLISHED["sgld_m"]), [PUBLISHED["sgld_m"][P] for P in sorted(PUBLISHED["sgld_m"])]),
          "published MF": critical_p(sorted(PUBLISHED["mf_m"]), [PUBLISHED["mf_m"][P] for P in sorted(PUBLISHED["mf_m"])])}
    if proto and all(r["finished"] for r in proto.values()):
        xs = sorted(proto)
        pc["mflab SGLD, published protocol"] = critical_p(xs, [proto[x]["m"] for x in xs])
    elif proto:
        pc["mflab SGLD, published protocol"] = "in progress"
    if pred:  # over the P that have clock runs (an interval starting at 0 means: already at the smallest)
        xs = sorted(pred)
        pc["mflab SGLD on the protocol's clock (predicted protocol)"] = critical_p(xs, [pred[x]["predicted_m"] for x in xs])
    for m in ("mf", "mf-ard"):
        if m in mf:
            xs = sorted(mf[m])
            pc[f"mflab {m.upper()}"] = critical_p(xs, [mf[m][x]["overlap"] for x in xs])
    both = [P for P in Ps if P >= 1000 and P in mf.get("mf-ard", {})]
    claim = (max(abs(mf["mf-ard"][P]["test_mse_gibbs"] - net[P]["test_mse_gibbs"]) for P in both) if both else None)
    lines += ["", "P_c (the grid interval where m first reaches 0.5):", ""]
    lines += [f"- {k}: {'not reached in the grid' if v is None else v if isinstance(v, str) else f'({v[0]}, {v[1]}]'}"
              for k, v in pc.items()]
    lines += ["", f"Paper B's claim, MF-ARD matches the network after the transition: max over P ≥ 1000 (P = "
                  f"{', '.join(map(str, both)) or 'none run'}) of |Δ test MSE| (Gibbs errors, same data) = {_f(claim, '.4f')}"]
    krr = krr_conventions(root / "krr_ridge.json")
    if krr:
        lines += ["", "NNGP-KRR's ridge (`krr_ridge.md`, `scripts/krr_ridge_convention.py`: the KRR mean on fresh parity "
                  "training sets in float64): the relative deviation |MSE / published − 1| of the KRR mean's test MSE, "
                  "per P with a published value:", ""]
        lines += [f"- ridge {name}: " + ", ".join(f"P = {P}: {dev:.0%}" for P, dev in devs.items())
                  for name, devs in krr.items()]
    mf_pub = mf_as_published(root / "mean_field" / "mf-particles-clock")
    if mf_pub:
        tau = next(iter(mf_pub.values()))["tau"]
        lines += ["", f"Plain MF solved as the authors solve it (`mean_field/{next(iter(mf_pub.values()))['run']}`: readout "
                  f"particles, field ← s Σ a φ, every P from the prior, B = 512), read at τ = {tau:,.0f}, where their "
                  "solver's iteration budget ends (τ = 10,018; no stop fires): m and the test MSE of the particles' "
                  "estimate of the MF mean, mean ± s.e. over seeds, beside the published plain MF (`overlap_trace.png` "
                  "has the path).", "",
                  "| P | m | published m | test MSE | published test MSE |", "|---|---|---|---|---|"]
        lines += [f"| {P} | {r['m']:.3f} ± {r['m_se']:.3f} | {_f(PUBLISHED['mf_m'].get(P))} | {r['mse']:.3f} ± "
                  f"{r['mse_se']:.3f} | {_f(PUBLISHED['mf_mse'].get(P), '.2f')} |" for P, r in mf_pub.items()]
    as_pub = krr_as_published(root / "krr_ridge-authors-eval.json")
    if as_pub:
        lines += ["", "NNGP-KRR as the published series was made (`krr_ridge-authors-eval.md`: the authors' ridge κ²/d, "
                  "scored on 50,000 points whose first P are the training set, as their script draws both): m − published "
                  "m and |MSE / published − 1| per P with a published value:", ""]
        lines += [f"- P = {P}: m {r['m']:.3f} ({r['m'] - PUBLISHED['krr_m'][P]:+.3f}), MSE {r['mse']:.3f} "
                  f"({abs(r['mse'] / PUBLISHED['krr_mse'][P] - 1):.1%})"
                  for P, r in as_pub.items() if P in PUBLISHED["krr_m"] and P in PUBLISHED["krr_mse"]]
    (root / "learning_curve.md").write_text("\n".join(lines) + "\n")
    (root / "learning_curve.json").write_text(json.dumps({"published": {k: {str(p): v for p, v in d.items()}
                                                                        for k, d in PUBLISHED.items()},
                                                          "rows": rows, "critical_P": pc,
                                                          "protocol": {str(P): r for P, r in proto.items()},
                                                          "protocol_predicted_on_the_clock": {str(P): a for P, a in pred.items()},
                                                          "krr_as_published": {str(P): r for P, r in as_pub.items()},
                                                          "mf_as_published": {str(P): r for P, r in mf_pub.items()},
                                                          "krr_mse_relative_deviation_by_ridge": {
                                                              n: {str(P): v for P, v in d.items()} for n, d in krr.items()},
                                                          "mf_ard_vs_network_max_abs_test_mse_diff_P_ge_1000": claim,
                                                          "mean_field": {m: {str(P): v for P, v in d.items()}
                                                                         for m, d in mf.items()}},
                                                         indent=1, default=float))
    print("\n".join(lines))
    _figure(net, mf, proto, pred, as_pub, mf_pub, root / "learning_curve.png", method)


def _figure(net, mf, proto, pred, as_pub, mf_pub, path, method):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ps = np.array(sorted(net))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 6))
    get = lambda k: np.array([net[P][k] for P in Ps])  # noqa: E731
    a1.errorbar(Ps, get("overlap"), yerr=get("overlap_se"), marker="o", capsize=3, label=f"mflab {method}")
    a2.errorbar(Ps, get("test_mse_gibbs"), yerr=get("test_mse_gibbs_se"), marker="o", capsize=3,
                label=f"mflab {method} (Gibbs error)")
    a1.plot(Ps, get("krr_overlap"), "s--", label="mflab NNGP-KRR (N = ∞)")
    a2.plot(Ps, get("krr_test_mse_mean"), "s--", label="mflab NNGP-KRR (error of its mean)")
    for key, ax, lab, style in (("sgld_m", a1, "published SGLD", "k^:"), ("sgld_mse", a2, "published SGLD", "k^:"),
                                ("krr_m", a1, "published NNGP-KRR", "kx:"), ("krr_mse", a2, "published NNGP-KRR", "kx:"),
                                ("mf_ard_mse_guess", a2, "published 'NN (alt)' (MF-ARD?)", "kd:")):
        d = PUBLISHED[key]
        xs = sorted(d)
        ax.plot(xs, [d[x] for x in xs], style, alpha=0.7, label=lab)
    a1.errorbar(sorted(PUBLISHED["sgld_m_se"]), [PUBLISHED["sgld_m"][p] for p in sorted(PUBLISHED["sgld_m_se"])],
                yerr=[PUBLISHED["sgld_m_se"][p] for p in sorted(PUBLISHED["sgld_m_se"])], fmt="none", ecolor="k")
    for m, style in (("mf", "v-"), ("mf-ard", "D-")):
        if m in mf:
            xs = sorted(mf[m])
            lab = f"mflab {m.upper()} (B = 512, same data, warm starts along P)"
            a1.errorbar(xs, [mf[m][x]["overlap"] for x in xs], yerr=[mf[m][x]["overlap_se"] for x in xs], fmt=style,
                        capsize=3, label=lab)
            a2.errorbar(xs, [mf[m][x]["test_mse_gibbs"] for x in xs], yerr=[mf[m][x]["test_mse_gibbs_se"] for x in xs],
                        fmt=style, capsize=3, label=lab + " (Gibbs error)")
    if mf_pub:
        xs = sorted(mf_pub)
        lab = f"mflab plain MF as the authors solve it, at their τ = {mf_pub[xs[0]]['tau']:,.0f}"
        for ax, k in ((a1, "m"), (a2, "mse")):
            ax.errorbar(xs, [mf_pub[x][k] for x in xs], yerr=[mf_pub[x][k + "_se"] for x in xs], fmt="v--", mfc="none",
                        color="tab:olive", capsize=3, label=lab)
    for key, ax in (("mf_m", a1), ("mf_mse", a2)):
        d = PUBLISHED[key]
        ax.plot(sorted(d), [d[x] for x in sorted(d)], "kv:", alpha=0.7, label="published plain MF")
    if as_pub:
        xs = sorted(as_pub)
        lab = "mflab NNGP-KRR as the authors made it (ridge κ²/d, test set ∋ training set)"
        for ax, k in ((a1, "m"), (a2, "mse")):
            ax.errorbar(xs, [as_pub[x][k] for x in xs], yerr=[as_pub[x][k + "_se"] for x in xs], fmt="+-", ms=9,
                        color="tab:gray", capsize=3, label=lab)
    if proto:
        xs = sorted(proto)
        done = all(proto[x]["finished"] for x in xs)
        lab = "mflab SGLD, published protocol" + ("" if done else f" (in progress: step ≤ {max(proto[x]['step'] for x in xs):,})")
        for ax, k in ((a1, "m"), (a2, "test_mse")):
            ax.errorbar(xs, [proto[x][k] for x in xs], yerr=[proto[x][k + "_se"] for x in xs], fmt="^" if done else "^--",
                        mfc="none" if not done else None, color="tab:purple", capsize=3, label=lab)
    if pred:
        xs = sorted(pred)
        lab = "mflab SGLD η = 1 at the protocol's τ (predicted protocol)"
        for ax, k in ((a1, "predicted_m"), (a2, "predicted_test_mse")):
            ax.errorbar(xs, [pred[x][k] for x in xs], yerr=[pred[x].get(k + "_se") or 0 for x in xs], fmt="*-",
                        ms=9, color="tab:brown", capsize=3, label=lab)
    a1.set(xscale="log", xlabel="training set size P", ylabel="target overlap m_S", title="order parameter, κ = 5·10⁻³")
    a2.set(xscale="log", yscale="log", xlabel="training set size P", ylabel="test MSE (plain, no ½)",
           title="test error, κ = 5·10⁻³")
    for ax in (a1, a2):  # below the axes: inside, they hide the transition
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.suptitle("paper B parity, d = 35, k = 4, N = 512, ReLU: mflab vs published (error bars: s.e. over seeds)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
