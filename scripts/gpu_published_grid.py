"""Paper B's full parity grid (10 P × 8 κ × 3 seeds) with the kinetic sampler, sized for ~10 minutes of one GPU.

One ``sgld-parity`` run per group of P values (chains are padded to their run's largest P, so P values are
grouped by size; within a run every (P, κ, seed) chain is vmapped on the device), each in a resumable run
directory under ``--out``. Afterwards it writes ``throughput.json``: per run, chain-steps/s and the share
of the device's measured float32 matmul rate (4·P_max·N·d flops per chain-step). The published SGLD
protocol's column is *not* run here: its ≥ 7.5·10⁶ sequential steps per chain take longer than the budget
at any throughput (the step latency alone), see docs/samplers.md.

    python scripts/gpu_published_grid.py --out runs/gpu-grid            # the published grid (GPU)
    python scripts/gpu_published_grid.py --tiny --out /tmp/gpu-grid      # CPU smoke test, seconds
    python scripts/gpu_published_grid.py --first-layer 8 --readout-gibbs-every 30 --out runs/gpu-grid-draw  # the fast sampler

The default is the plain kinetic sampler, which is stable at every κ of the grid at the tiny scale. The draw and
the mass were measured at κ = 5·10⁻³ only. At the tiny scale (``--tiny``, η = 0.03, 2026-12-07) a draw every 10
steps diverged on 3 of 72 chains, all at κ = 5·10⁻⁴. With the first layer ×4 as well, every chain at κ ≤ 10⁻³
diverged (18 of 72). The guard freezes such chains and the run reports them.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

P_GROUPS = [[10, 100, 500, 750, 1000], [2133, 3666], [5000], [7500], [10000]]
KAPPAS = [5e-4, 1e-3, 5e-3, 7.5e-3, 1e-2, 2.5e-2, 5e-2, 7.5e-2]


def matmul_rate(n=4096, reps=20) -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    t = time.perf_counter()
    for _ in range(reps):
        out = f(a)
    out.block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/gpu-grid")
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--lr", type=float, default=0.03, help="kinetic base rate (docs/samplers.md: the largest unbiased)")
    ap.add_argument("--first-layer", type=float, default=1.0, help="the first layer's inverse mass "
                    "(sgld.preconditioner.first_layer; 1: the plain sampler; docs/samplers.md measured 8 at κ = 5e-3 only)")
    ap.add_argument("--readout-gibbs-every", type=int, default=0, help="an exact readout draw every that many steps "
                    "(0: none); clocked, so it costs only when due with the chains vmapped")
    ap.add_argument("--tiny", action="store_true", help="d = 8, N = 16, small P: a CPU check of the script")
    args = ap.parse_args()
    from mflab.cli import main as mflab

    d, N, groups, steps, n_test = 35, 512, P_GROUPS, args.steps, 20_000
    if args.tiny:
        d, N, groups, steps, n_test = 8, 16, [[10, 40], [80]], 200, 256
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rate = matmul_rate(512 if args.tiny else 4096)
    record = {"matmul_flops_per_s": rate, "runs": {}}
    for group in groups:
        rd = out / f"P{group[0]}-{group[-1]}"
        sets = {"task.d": d, "task.n_train": json.dumps(group), "task.n_test": n_test, "network.width": N,
                "sgld.kappa": json.dumps(KAPPAS), "sgld.replicas": 3, "sgld.sampler": "kinetic", "sgld.lr": args.lr,
                "sgld.schedule": "constant", "sgld.steps": steps, "sgld.log_every": steps // 20,
                "sgld.chunk_steps": steps // 4, "sgld.chain_batch": 0}
        if args.first_layer != 1.0:
            sets["sgld.preconditioner.first_layer"] = args.first_layer
        if args.readout_gibbs_every:
            sets["sgld.readout_gibbs_every"] = args.readout_gibbs_every
        cli = ["run", "sgld-parity", "--out", str(rd), "--no-progress"] + [x for k, v in sets.items() for x in ("--set", f"{k}={v}")]
        code = mflab(cli)
        summary = json.loads((rd / "summary.json").read_text()) if (rd / "summary.json").exists() else {}
        cps = summary.get("chain_steps_per_second")
        flops = 4 * max(group) * N * d
        record["runs"][rd.name] = {"exit": code, "chains": summary.get("chains"), "chain_steps_per_second": cps,
                                   "share_of_matmul_rate": cps * flops / rate if cps else None}
        print(rd.name, record["runs"][rd.name])
    (out / "throughput.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
