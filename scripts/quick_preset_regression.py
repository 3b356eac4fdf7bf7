r"""Behaviour check for refactors: run every quick preset and compare its ``summary.json`` numbers with a
recorded reference.

    python scripts/quick_preset_regression.py record  docs/validation/quick_presets_reference.json
    python scripts/quick_preset_regression.py check   docs/validation/quick_presets_reference.json [--only P ...]
        [--from DIR]   # compare the finished runs DIR/<preset> instead of rerunning them

``record`` runs each preset with ``--quick`` into a scratch directory and stores every numeric leaf of
its summary (wall-clock fields dropped: they measure the machine, not the result). ``check`` reruns them
and reports, per preset, how many numbers are bit-identical, how many agree to ``--rtol`` and which
differ; it exits non-zero when any number differs beyond the tolerance or a key disappeared.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = ["sgld-parity", "parity-phase", "hermite-index", "depth-coordinate-check", "depth-limit", "depth-coupling",
           "depth-transfer", "chaos-rate", "sparse-atoms", "error-decomposition"]
# wall-clock and machine-dependent fields: not part of the result
TIMING = re.compile(r"(wall|seconds|per_second|_time|compile|speed_ratio|cost_ratio|_s$)")


def flatten(obj, prefix=""):
    """{dotted.path: number-or-string} for every leaf of a summary."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    elif not TIMING.search(prefix.split(".")[-1]):
        out[prefix] = obj
    return out


def run_preset(name: str, scratch: Path, done: Path | None = None) -> dict:
    if done is not None:  # a finished `mflab run NAME --quick --out DONE/NAME`
        return flatten(json.loads((done / name / "summary.json").read_text()))
    out = scratch / name
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mflab.cli", "run", name, "--quick", "--out", str(out),
                           "--no-progress"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    print(f"{name}: {wall:.0f} s", file=sys.stderr, flush=True)
    return flatten(summary)


def same(a, b, rtol):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            return "identical"
        return "close" if abs(a - b) <= rtol * max(abs(a), abs(b)) else "differs"
    return "identical" if a == b else "differs"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["record", "check"])
    ap.add_argument("reference")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--from", dest="done", type=Path, default=None,
                    help="read DIR/<preset>/summary.json of finished quick runs instead of running them")
    args = ap.parse_args(argv)
    names = args.only or PRESETS
    ref_path = Path(args.reference)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if args.mode == "record":
            ref = json.loads(ref_path.read_text()) if ref_path.exists() else {}
            for n in names:
                ref[n] = run_preset(n, scratch, args.done)
                ref_path.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
            return 0
        ref = json.loads(ref_path.read_text())
        bad = 0
        for n in names:
            got = run_preset(n, scratch, args.done)
            counts = {"identical": 0, "close": 0, "differs": 0, "missing": 0}
            diffs = []
            for k, v in ref[n].items():
                if any(TIMING.search(part.split("[")[0]) for part in k.split(".")):
                    continue  # recorded by an older filter
                if k not in got:
                    counts["missing"] += 1
                    diffs.append(f"    missing {k}")
                    continue
                s = same(v, got[k], args.rtol)
                counts[s] += 1
                if s == "differs":
                    diffs.append(f"    {k}: {v!r} -> {got[k]!r}")
            bad += counts["differs"] + counts["missing"]
            print(f"{n}: " + ", ".join(f"{c} {k}" for k, c in counts.items()), flush=True)
            for line in diffs[:20]:
                print(line)
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
