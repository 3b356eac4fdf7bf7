"""The target overlap m of every MF / MF-ARD lane of a ``parity-phase`` run over its outer iterations.

The phase study logs each MF point's test overlap at the end of every chunk of outer iterations
(``trace_overlap`` in ``results/units/<method>.npz``; ``mflab.studies.bayes.phase``). This script writes it out
as ``overlap_trace.csv`` (iteration, method, P, κ, replica, m) and plots the mean over replicas against the
iteration (a lane that stopped early, converged, holds its last value), with the published MF m of paper B §4.1
where it has one (plain MF only): is a non-converged point still moving, and where does the published number
sit on its path?

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
    for method in ("mf", "mf-ard"):
        f = run / "results" / "units" / f"{method}.npz"
        if f.is_file():
            trace = np.load(f, allow_pickle=False)["trace_overlap"]
            if trace.shape[0] != len(points):
                raise SystemExit(f"{f}: {trace.shape[0]} lanes, but the configuration gives {len(points)} points")
            out[method] = (points, trace, int(cfg["mf"]["chunk_iterations"]))
    if not out:
        raise SystemExit(f"{run}: no results/units/mf.npz or mf-ard.npz; run the study (with an MF method) first")
    return out


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
    ap.add_argument("run", type=Path)
    args = ap.parse_args()
    data = read(args.run)
    with open(args.run / "overlap_trace.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "method", "n_train", "kappa", "replica", "overlap"])
        for method, (points, trace, chunk) in data.items():
            for (P, k, r), row in zip(points, trace):
                w.writerows([(chunk * (j + 1), method, P, k, r, f"{m:.5f}") for j, m in enumerate(row) if np.isfinite(m)])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, (points, trace, chunk) in data.items():
        for P in sorted({p[0] for p in points}):
            rows = held(trace[[i for i, p in enumerate(points) if p[0] == P]])
            it = chunk * np.arange(1, rows.shape[1] + 1)
            line, = ax.plot(it, np.nanmean(rows, axis=0), label=f"{method.upper()}, P = {P} (mean of {len(rows)})")
            for row in rows:
                ax.plot(it, row, color=line.get_color(), lw=0.5, alpha=0.4)
            pub = PUBLISHED.get("mf_m", {}).get(P) if method == "mf" else None
            if pub is not None:
                ax.axhline(pub, color=line.get_color(), ls=":", lw=1, label=f"published plain MF, P = {P}")
    ax.set(xlabel="outer iteration", ylabel="target overlap m of the MF mean", title=f"{args.run.name}: m over the solve")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.run / "overlap_trace.png", dpi=110)
    print(f"wrote {args.run / 'overlap_trace.csv'} and overlap_trace.png")


if __name__ == "__main__":
    main()
