"""How the cost of the MF-ARD theory and of SGLD scale with the network width N.

A network step costs N × P × d; a particle step of the MF solver costs B × P × d, with B (the
number of Monte-Carlo particles) a numerical parameter that does not depend on N. So the theory's
advantage should grow like N/B. This runs the quick parity-phase grid (P = 25 … 800, three κ,
2 replicas) for SGLD and MF-ARD at several widths, and prints the wall times, the ratios (whole
budgets, and at equal accuracy: each method charged only up to each point's equilibration step,
see ``mflab.studies.bayes.phase.mf_equilibration_iterations``; MF compiles charged in full), the plateau overlaps and the
MF-ARD-vs-SGLD agreement.

    python benchmarks/mf_cost_vs_width.py [--widths 128,256,512] [--particles 128] [--out DIR]

Takes about 9 minutes on a 2-core CPU with the defaults. Each (N, B) run directory is kept under
``--out`` (rerunning resumes finished ones).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run_one(out: Path, width: int, particles: int) -> dict:
    cmd = [sys.executable, "-m", "mflab.cli", "run", "parity-phase", "--quick", "--out", str(out), "--no-progress",
           "--set", "methods=[\"sgld\",\"mf-ard\"]",
           "--set", f"network.width={width}", "--set", f"mf.particles={particles}"]
    subprocess.run(cmd, check=True)
    return json.loads((out / "summary.json").read_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="128,256,512")
    ap.add_argument("--particles", type=int, default=128)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    root = Path(a.out) if a.out else Path(tempfile.mkdtemp())
    rows = []
    for N in [int(w) for w in a.widths.split(",")]:
        s = run_one(root / f"N{N}_B{a.particles}", N, a.particles)
        w = s["wall_seconds"]
        rows.append((N, a.particles, w["sgld"], w["mf-ard"], s["compile_seconds"]["mf-ard"], s["speed_ratio_sgld_over_mf-ard"],
                     s["speed_ratio_equal_accuracy_sgld_over_mf-ard"], s["plateau_overlap"]["sgld"],
                     s["plateau_overlap"]["mf-ard"], s["mf_ard_vs_sgld_max_abs_test_mse_diff_after_transition"],
                     s["sgld_equilibration"]["median_step"], s["mf-ard_equilibration"]["median_iterations"]))
    print("N     B    SGLD wall  MF-ARD wall (compiling)  ratio(whole)  ratio(equal acc.)  m_SGLD  m_MF-ARD  max|dMSE|  "
          "SGLD t_eq(median steps)  MF-ARD t_eq(median iterations)")
    for r in rows:
        dm = "—" if r[9] is None else f"{r[9]:.3f}"
        print(f"{r[0]:<5d} {r[1]:<4d} {r[2]:8.1f} s  {r[3]:9.1f} s ({r[4]:4.1f} s)  {r[5]:11.2f}  {r[6]:16.2f}  "
              f"{r[7]:6.3f}  {r[8]:8.3f}  {dm:>9s}  {r[10]:>10.0f}  {r[11]:>10.0f}")
    print(f"run directories: {root}")


if __name__ == "__main__":
    main()
