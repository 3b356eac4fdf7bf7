"""Overhead of the sweep machinery per grid point, for points that take about 10 s or more.

    python benchmarks/sweep_overhead.py [--points 3] [--steps 6000]

Three fresh processes run the same points (sgld-parity, the quick setting with `--steps` SGLD
steps; κ batched inside each point, `sgld.lr` spanning the points):

  direct  a plain script: `preset.run` on each point's configuration, one after another;
  local   `mflab run sweep.toml` (expansion, hashing, packing and atomic commits, dataset gather);
  dask    `mflab run sweep.toml --executor dask --workers 1` (adds cluster start, a worker process
          importing JAX, and shipping every point's files back to the client).

Every process pays the same start-up (Python, JAX import); the ratios are wall-time ratios of the
whole processes. The acceptance bound of the sweep issue is local/direct - 1 < 5 %.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

DIRECT = """
import sys, json, time
from mflab.framework.config import from_dict
from mflab.framework.presets import get_preset
from mflab.framework.rundir import RunDir
from mflab.framework.sweeps.spec import load_sweep
import tomllib
sw = load_sweep(tomllib.loads(open(sys.argv[1]).read()))
for i, pt in enumerate(sw.points):
    rd = RunDir(f"{sys.argv[2]}/{i}")
    rd.prepare(pt.config)
    t = time.perf_counter()
    sw.preset.run(from_dict(sw.preset.config_cls, pt.config), rd, progress=False, log=lambda m: None)
    print(json.dumps({"point": i, "seconds": time.perf_counter() - t}), flush=True)
"""


def timed(cmd) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return time.perf_counter() - t, r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6000)
    args = ap.parse_args()
    spec = {"preset": "sgld-parity", "sgld": {"steps": args.steps, "replicas": 1, "chunk_steps": args.steps},
            "task": {"n_train": [100, 200, 400]},
            "sweep": {"quick": True, "seed": 0, "grid": {"sgld.lr": [0.05 - 0.005 * i for i in range(args.points)],
                                                         "sgld.kappa": [2e-3, 5e-3]}}}
    tmp = Path(tempfile.mkdtemp(prefix="mflab-bench-"))
    f = tmp / "sweep.toml"
    f.write_text(tomli_w.dumps(spec))
    t_direct, out = timed([sys.executable, "-c", DIRECT, str(f), str(tmp / "direct")])
    direct_points = [json.loads(line)["seconds"] for line in out.splitlines()]
    t_local, _ = timed([sys.executable, "-m", "mflab.cli", "run", str(f), "--out", str(tmp / "local"), "--no-progress"])
    s_local = json.loads((tmp / "local" / "summary.json").read_text())
    t_dask, _ = timed([sys.executable, "-m", "mflab.cli", "run", str(f), "--out", str(tmp / "dask"), "--no-progress",
                    "--executor", "dask", "--workers", "1"])
    per_point = s_local["run_seconds_this_call"] / args.points
    import csv

    with open(tmp / "local" / "results" / "status.csv") as fh:
        sweep_points = [float(r["run_seconds"]) for r in csv.DictReader(fh)]
    print("seconds inside the preset, per point: direct " + " ".join(f"{x:.1f}" for x in direct_points)
          + " | sweep " + " ".join(f"{x:.1f}" for x in sweep_points))
    print(f"{args.points} points of sgld-parity (quick, {args.steps} steps, 2 kappas batched): "
          f"{per_point:.1f} s inside the preset per point")
    print(f"direct script      {t_direct:7.1f} s")
    print(f"sweep, local       {t_local:7.1f} s   ratio {t_local / t_direct:.3f}   overhead {t_local / t_direct - 1:+.1%}")
    print(f"sweep, dask (1 w)  {t_dask:7.1f} s   ratio {t_dask / t_direct:.3f}   overhead {t_dask / t_direct - 1:+.1%}")
    print(f"in-process overhead of the local sweep (summary.json): {s_local['overhead_fraction']:+.1%}")


if __name__ == "__main__":
    main()
