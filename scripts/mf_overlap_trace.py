"""The target overlap m of every MF / MF-ARD lane of a ``parity-phase`` run over its outer iterations.

The phase study logs each MF point's test overlap at the end of every chunk of outer iterations
(``trace_overlap`` in ``results/units/<method>.npz``; ``mflab.studies.bayes.phase``). This script writes it out
as ``overlap_trace.csv`` (iteration, method, P, κ, replica, m) and plots the mean over replicas against the
iteration (a lane that stopped early, converged, holds its last value), with the published MF m of paper B §4.1
where it has one (plain MF only): is a non-converged point still moving, and where does the published number
sit on its path?

The CSV's ``tau`` is the particles' diffusion time, τ = iteration · K · η (``mf.inner_steps``, ``mf.lr``): the
integrated and the particle readout (``mf.readout``) and different steps compare at equal τ. The figure plots
m against τ, with the time at which the authors' plain-MF solver ends (:func:`authors_mf_time`, τ ≈ 10⁴).
Several runs give one figure (``--figure``), each run's CSV in its own folder.

    python scripts/mf_overlap_trace.py docs/validation/published_parity/mean_field/mf-P750-1000-it8000
"""
from __future__ import annotations

import argparse
import csv
import sys
import tomllib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from published_parity_report import PUBLISHED  # noqa: E402


def read(run: Path) -> dict:
    """{method: (points [(P, κ, replica)], trace (C, n_chunks), iterations per chunk)} from a finished run."""
    if not (run / "config.toml").is_file():
        raise SystemExit(f"{run}: not a run directory (no config.toml); give the folder `mflab run --out` wrote")
    from mflab.studies.bayes.design import chain_points

    cfg = tomllib.loads((run / "config.toml").read_text())
    points = chain_points(cfg["task"]["n_train"], cfg["sgld"]["kappa"], cfg["sgld"]["replicas"])
    out = {}
    mf = cfg["mf"]
    tau_per_iteration = float(mf["inner_steps"]) * float(mf["lr"])
    for method in ("mf", "mf-ard"):
        f = run / "results" / "units" / f"{method}.npz"
        if f.is_file():
            trace = np.load(f, allow_pickle=False)["trace_overlap"]
            if trace.shape[0] != len(points):
                raise SystemExit(f"{f}: {trace.shape[0]} lanes, but the configuration gives {len(points)} points")
            label = f"{method.upper()}, {mf.get('readout', 'integrated')} readout, η = {mf['lr']:g}, K = {mf['inner_steps']}"
            out[method] = (points, trace, int(mf["chunk_iterations"]), tau_per_iteration, label)
    if not out:
        raise SystemExit(f"{run}: no results/units/mf.npz or mf-ard.npz; run the study (with an MF method) first")
    return out


def authors_mf_time(n_train: int, iterations: int = 7_500_000) -> float:
    """τ = Σ_t K_t η_t of the authors' MF particles after ``iterations`` outer iterations (their final parity
    script, notes §2.4; no stop fired): η_t = 5·10⁻⁴ + 5·10⁻⁴ (1 − min(t − 1, 2·10⁶)/2·10⁶)², halved when P ≤ 100,
    K_t = max(2, round(12 f² + 2 (1 − f²))) with f = 1 − min(t − 1, 6·10⁵)/6·10⁵. 10,018 at P > 100."""
    t = np.arange(iterations, dtype=np.float64)  # t − 1
    eta = 5e-4 + 5e-4 * (1 - np.minimum(t, 2e6) / 2e6) ** 2
    f = 1 - np.minimum(t, 6e5) / 6e5
    K = np.maximum(2, np.round(12 * f**2 + 2 * (1 - f**2)))
    return float(np.sum(K * eta) * (0.5 if n_train <= 100 else 1.0))


def held(rows: np.ndarray) -> np.ndarray:
    """A lane that stopped (converged) keeps its last m for the rest of the plot, so that the mean over replicas
    stays a mean of all of them."""
    rows = rows.copy()
    for row in rows:
        ok = np.flatnonzero(np.isfinite(row))
        if len(ok):
            row[ok[-1] + 1:] = row[ok[-1]]
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", metavar="run")
    ap.add_argument("--figure", type=Path, help="the figure's path (default: overlap_trace.png in the one run given)")
    args = ap.parse_args()
    if len(args.runs) > 1 and args.figure is None:
        raise SystemExit("several runs make one figure: give its path with --figure")
    runs = [(run, read(run)) for run in args.runs]
    for run, data in runs:
        with open(run / "overlap_trace.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "tau", "method", "n_train", "kappa", "replica", "overlap"])
            for method, (points, trace, chunk, dtau, _) in data.items():
                for (P, k, r), row in zip(points, trace):
                    w.writerows([(chunk * (j + 1), f"{dtau * chunk * (j + 1):g}", method, P, k, r, f"{m:.5f}")
                                 for j, m in enumerate(row) if np.isfinite(m)])
        print(f"wrote {run / 'overlap_trace.csv'}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    styles, shown = iter(["-", "--", "-.", ":"]), set()
    all_P = sorted({p[0] for _, d in runs for v in d.values() for p in v[0]})  # one colour per P across runs
    for run, data in runs:
        ls = next(styles, "-")
        for method, (points, trace, chunk, dtau, label) in data.items():
            for P in sorted({p[0] for p in points}):
                rows = held(trace[[i for i, p in enumerate(points) if p[0] == P]])
                tau = dtau * chunk * np.arange(1, rows.shape[1] + 1)
                color = f"C{all_P.index(P)}"
                ax.plot(tau, np.nanmean(rows, axis=0), ls=ls, color=color,
                        label=f"{label}, P = {P} (mean of {len(rows)})" + ("" if len(runs) == 1 else f" [{run.name}]"))
                for row in rows:
                    ax.plot(tau, row, color=color, ls=ls, lw=0.5, alpha=0.35)
                pub = PUBLISHED.get("mf_m", {}).get(P) if method == "mf" else None
                if pub is not None and P not in shown:
                    shown.add(P)
                    ax.axhline(pub, color=color, ls=":", lw=1, label=f"published plain MF, P = {P}")
    tau_end = authors_mf_time(1000)
    ax.axvline(tau_end, color="k", lw=0.8, ls="--", label=f"authors' MF solver ends, τ = {tau_end:,.0f}")
    ax.set_xscale("log")
    ax.set(xlabel="particle diffusion time τ = iteration · K · η", ylabel="target overlap m of the MF mean",
           title="m over the MF solve" if len(runs) > 1 else f"{runs[0][0].name}: m over the solve")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    out = args.figure or runs[0][0] / "overlap_trace.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
