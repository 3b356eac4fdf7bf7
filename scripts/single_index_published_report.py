r"""The single-index He_4 study at the authors' setting: one learning-curve figure and one table from
``hermite-index`` run directories that each hold part of the P grid (same seed, so the same test set and
nested training sets; the P groups run separately because a run pads every chain to its largest P).

    python scripts/single_index_published_report.py OUT_DIR RUN_DIR [RUN_DIR ...] [--kappa 1e-3]
        [--network-runs RUN_DIR ... --network-label "kinetic, 5·10⁴ steps"]

``--network-runs``: runs of the network alone with another sampler or budget on the same data (same seed
and P groups); their network rows join the table as a second network, ``network-2``, labelled
``--network-label``, and the MF-ARD comparison is made against each network.

Writes OUT_DIR/learning_curve.{md,json,png}: per method and P the target overlap m of the posterior mean and
both test errors (posterior mean; Gibbs) as mean ± std over replicas, P_c of each method (first crossing of
m = ½, :func:`mflab.analysis.phase.critical_values`), the max |Δ test MSE| between MF-ARD and the network over
P ≥ P_c(network) (like with like: Gibbs against Gibbs, mean against mean), which prior each method used
(from the runs' summaries), and whether every point converged. No published numbers exist for this task.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path

import numpy as np

KEYS = ("overlap", "test_mse_mean", "test_mse_gibbs")


def read_rows(run: Path) -> list[dict]:
    rows = []
    with open(run / "results" / "points.csv") as f:
        for r in csv.DictReader(f):
            rows.append({"method": r["method"], "n_train": int(r["n_train"]), "kappa": float(r["kappa"]),
                         "replica": int(r["replica"]), "converged": r["converged"] == "True",
                         **{k: float(r[k]) if r[k] not in ("", None) else math.nan for k in KEYS}})
    return rows


def main(argv=None):
    from mflab.analysis.phase import critical_values

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--kappa", type=float, default=1e-3)
    ap.add_argument("--network-runs", nargs="*", default=[])
    ap.add_argument("--network-label", default="second sampler")
    args = ap.parse_args(argv)
    out = Path(args.out)
    runs = [Path(r) for r in args.runs]
    rows = [r for run in runs for r in read_rows(run) if math.isclose(r["kappa"], args.kappa)]
    rows += [dict(r, method="network-2") for run in map(Path, args.network_runs) for r in read_rows(run)
             if r["method"] == "sgld" and math.isclose(r["kappa"], args.kappa)]
    seen = {}
    for r in rows:  # a P in two runs would be counted twice
        key = (r["method"], r["n_train"], r["replica"])
        if key in seen:
            raise SystemExit(f"P = {r['n_train']} ({r['method']}, replica {r['replica']}) is in two runs")
        seen[key] = r
    summaries = [json.loads((run / "summary.json").read_text()) for run in runs]
    priors = summaries[0].get("priors", {})
    methods = [m for m in ("sgld", "network-2", "mf", "mf-ard", "krr") if any(r["method"] == m for r in rows)]
    net_summaries = [json.loads((Path(run) / "summary.json").read_text()) for run in args.network_runs]
    if net_summaries:
        priors["network-2"] = net_summaries[0].get("priors", {}).get("sgld", "")
    Ps = sorted({r["n_train"] for r in rows})

    def agg(m, P, k):
        v = np.array([r[k] for r in rows if r["method"] == m and r["n_train"] == P], float)
        v = v[np.isfinite(v)]
        return (float(v.mean()), float(v.std()), int(v.size)) if v.size else (math.nan, math.nan, 0)

    table = {m: {str(P): {k: agg(m, P, k) for k in KEYS} for P in Ps} for m in methods}
    pc = {m: critical_values(rows, m, "n_train", "kappa")[0]["critical"] for m in methods}
    non_converged = {m: sum(not r["converged"] for r in rows if r["method"] == m) for m in methods}
    claim = {}
    for net in ("sgld", "network-2"):
        if net in methods and "mf-ard" in methods:
            after = [P for P in Ps if np.isfinite(pc[net]) and P >= pc[net]]
            for k in KEYS[1:]:
                d = [abs(table["mf-ard"][str(P)][k][0] - table[net][str(P)][k][0]) for P in after
                     if np.isfinite(table[net][str(P)][k][0])]
                claim[f"{net}:{k}"] = max(d) if d else None
    labels = {"sgld": "network (SGLD, authors' schedule)", "network-2": f"network ({args.network_label})"}
    rec = {"kappa": args.kappa, "runs": [os.path.relpath(r, out) for r in runs],
           "network_runs": [os.path.relpath(r, out) for r in args.network_runs], "labels": labels, "priors": priors,
           "P_c": pc, "non_converged_points": non_converged,
           "mf_ard_vs_network_max_abs_diff_after_transition": claim, "table": table}
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning_curve.json").write_text(json.dumps(rec, indent=1) + "\n")

    def fmt(x, f=".3f"):
        return "—" if not np.isfinite(x[0]) else f"{x[0]:{f}} ± {x[1]:{f}}"

    L = [f"# Single-index He_4 at the authors' setting, κ = {args.kappa:g}", "",
         "m: overlap of the posterior mean with the target; 'mean': test MSE of the posterior mean; 'Gibbs': the "
         "posterior average of each sample's test MSE (for a network sampled by its final weights, the test MSE of "
         "that sample). Mean ± std over replicas. Raw units (E y² = 24).", "", "Priors:", ""]
    L += [f"- {m}: {v}" for m, v in priors.items() if m != "prior"]
    L += ["", "Methods: " + "; ".join(f"{m} = {labels[m]}" for m in methods if m in labels)]
    L += ["", "| P | " + " | ".join(f"{m} m | {m} mean | {m} Gibbs" for m in methods) + " |",
          "|---|" + "---|---|---|" * len(methods)]
    for P in Ps:
        cells = []
        for m in methods:
            t = table[m][str(P)]
            cells += [fmt(t["overlap"]), fmt(t["test_mse_mean"], ".3g"), fmt(t["test_mse_gibbs"], ".3g")]
        L.append(f"| {P} | " + " | ".join(cells) + " |")
    L += ["", "P_c (m = ½): " + ", ".join(f"{m} {'—' if not np.isfinite(v) else f'{v:.0f}'}" for m, v in pc.items()),
          "", "Non-converged points: " + ", ".join(f"{m} {n}" for m, n in non_converged.items())]
    if claim:
        L.append("MF-ARD vs network, max |Δ test MSE| over P ≥ P_c(that network): " + ", ".join(
            f"{k.replace('test_mse_', '')} {'—' if v is None else f'{v:.3g}'}" for k, v in claim.items()))
    (out / "learning_curve.md").write_text("\n".join(L) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    from mflab.studies.bayes.plots import learning_curves

    fig = learning_curves(rows, methods, args.kappa, "single-index He_4, d=18, k=2, N=1024 (authors' setting)", labels)
    fig.savefig(out / "learning_curve.png", dpi=120, bbox_inches="tight")
    print("\n".join(L))


if __name__ == "__main__":
    main()
