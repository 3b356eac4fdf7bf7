r"""P_c against the input dimension d for the single-index He_4 task: reads hermite-index run directories made
at several d (same κ, N, P grid otherwise), and fits P_c ∝ d^a per method by least squares in log-log.

    python scripts/single_index_dimension_scaling.py OUT_DIR RUN_DIR [RUN_DIR ...] [--kappa 0.005]

Writes OUT_DIR/dimension_scaling.{json,md,png}. P_c per run is the study's own (results/critical.csv: the
geometric mean over replicas of the first crossing of m = ½ in P, log-linear interpolation); its error bar is
the replicas' log-std. A method without a crossing at some d is reported and left out of its fit.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import tomllib
from pathlib import Path

import numpy as np


def read_run(run: Path, kappa: float) -> tuple[int, dict]:
    cfg = tomllib.loads((run / "config.toml").read_text())
    d = int(cfg["task"]["d"])
    out = {}
    with open(run / "results" / "critical.csv") as f:
        for r in csv.DictReader(f):
            if r["kind"] == "P_c" and math.isclose(float(r["kappa"]), kappa):
                num = lambda v: float(v) if v not in ("", None) else float("nan")  # noqa: E731
                out[r["method"]] = (num(r["critical"]), num(r["log_std"]),
                                    int(r["replicas_with_transition"]), int(r["replicas"]))
    return d, out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--kappa", type=float, default=5e-3)
    args = ap.parse_args(argv)
    table = dict(read_run(Path(r), args.kappa) for r in args.runs)
    ds = sorted(table)
    methods = sorted({m for v in table.values() for m in v})
    fits = {}
    for m in methods:
        pts = [(d, table[d][m][0]) for d in ds if m in table[d] and np.isfinite(table[d][m][0])]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            a, b = np.polyfit(x, y, 1)
            fits[m] = {"exponent": float(a), "prefactor": float(np.exp(b)), "dims": [p[0] for p in pts]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import os

    data = {"kappa": args.kappa, "runs": [os.path.relpath(r, out) for r in args.runs],  # relative: no host paths
            "P_c": {str(d): {m: {"P_c": v[0], "log_std": v[1], "replicas_with_transition": v[2], "replicas": v[3]}
                             for m, v in table[d].items()} for d in ds}, "fit_P_c_vs_d": fits}
    (out / "dimension_scaling.json").write_text(json.dumps(data, indent=1) + "\n")
    L = [f"# P_c against d, single-index He_4, κ = {args.kappa:g}", "",
         "P_c: first crossing of m = ½ in P (geometric mean over replicas; ± the replicas' log-std as a factor).", "",
         "| d | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for d in ds:
        cells = []
        for m in methods:
            v = table[d].get(m)
            cells.append("—" if v is None or not np.isfinite(v[0]) else
                         f"{v[0]:.0f} (×{math.exp(v[1]):.2f}^±1, {v[2]}/{v[3]})" if np.isfinite(v[1]) else f"{v[0]:.0f} ({v[2]}/{v[3]})")
        L.append(f"| {d} | " + " | ".join(cells) + " |")
    L += ["", "Fitted P_c ∝ d^a:", ""] + [f"- {m}: a = {f['exponent']:.2f} over d = {f['dims']}" for m, f in fits.items()]
    (out / "dimension_scaling.md").write_text("\n".join(L) + "\n")
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 4))
    for m in methods:
        pts = [(d, *table[d][m][:2]) for d in ds if m in table[d] and np.isfinite(table[d][m][0])]
        if pts:
            d_, pc, ls = (np.array(c) for c in zip(*pts))
            ls = np.nan_to_num(ls)
            ax.errorbar(d_, pc, yerr=[pc * (1 - np.exp(-ls)), pc * (np.exp(ls) - 1)], marker="o", capsize=3,
                        label=m + (f": P_c ∝ d^{fits[m]['exponent']:.2f}" if m in fits else ""))
    ax.set(xscale="log", yscale="log", xlabel="input dimension d", ylabel="P_c (m = ½ crossing)",
           title=f"single-index He_4: P_c vs d at κ = {args.kappa:g}")
    ax.set_xticks(ds, [str(d) for d in ds])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.legend(fontsize=8)
    fig.text(0.5, 0.005, "error bars: replicas' log-std of P_c", ha="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "dimension_scaling.png", dpi=120)
    print("\n".join(L))


if __name__ == "__main__":
    main()
