"""Cost of the quick phase diagram (parity-phase --quick) per method, the time per MF / MF-ARD
solve, and how much cheaper the theory is than SGLD at the same grid points.

    python benchmarks/phase_quick.py [RUN_DIR]    # reuse a finished run's timings, or run it now

Equal budgets are not equal accuracy: the report also prints each method's convergence state.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main():
    if len(sys.argv) > 1:
        out = Path(sys.argv[1])
        total = None
    else:
        out = Path(tempfile.mkdtemp()) / "pp"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mflab.cli", "run", "parity-phase", "--quick", "--out", str(out),
                        "--no-progress"], check=True)
        total = time.perf_counter() - t
    s = json.loads((out / "summary.json").read_text())
    g = s["grid"]
    n_points = len(g["n_train"]) * len(g["kappa"]) * g["replicas"]
    print(f"grid: P={g['n_train']} x kappa={g['kappa']} x {g['replicas']} replicas = {n_points} points")
    if total is not None:
        print(f"whole quick preset (compile, all methods, figures): {total:.1f} s")
    for m, w in s["wall_seconds"].items():
        print(f"{m:7s} wall {w:7.1f} s   per point {w / n_points:6.2f} s   non-converged {s['non_converged_points'][m]}")
    for k, v in s.items():
        if k.startswith("speed_ratio"):
            print(f"{k}: {v:.2f}")


if __name__ == "__main__":
    main()
