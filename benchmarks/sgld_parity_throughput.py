"""SGLD throughput in the parity setting of the Bayesian study, with ratios to physical and
practical references measured in the same process / session.

Setting: d = 35, k = 4, N = 512, P = 2000, ReLU, float32, full batch, 8 chains, κ = 5e-3
(T = 2κ²), η = 1e-3. One chain-step needs ≈ 4·P·N·d flops of matrix work (forward W Xᵀ and the
backward G X).

Prints chain-steps/s of
  * mflab's engine (mflab.dynamics.run_chains, divergence checks on, observables every 1000 steps),
  * a plain numpy reference of the same update (one chain, hand-written gradient),
  * the machine's float32 matmul rate (numpy/BLAS 2048³),
and, with --anchors, the shared anchors (../shared/anchors: the straightforward JAX probe, and the
PyTorch loop if torch is installed), then the ratios. Not a test: numbers vary run to run.

    python benchmarks/sgld_parity_throughput.py [--steps 2000] [--repeats 3] [--anchors]

The kinetic (BAOAB) sampler's step is timed the same way: its cost relative to SGLD's step; so is the kinetic
step with an exact readout draw every ``--gibbs-every`` steps (:mod:`mflab.dynamics.readout_gibbs`), its cost
per step averaged over the draws.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

D, K, N, P, C, KAPPA, ETA = 35, 4, 512, 2000, 8, 5e-3, 1e-3
FLOPS_PER_STEP = 4 * P * N * D


def matmul_rate(n=2048, reps=10):
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def numpy_reference(steps=100):
    """The same SGLD update written plainly in numpy (one chain, hand gradient)."""
    rng = np.random.default_rng(0)
    X = rng.choice([-1.0, 1.0], size=(P, D)).astype(np.float32)
    y = X[:, :K].prod(1)
    W = (rng.standard_normal((N, D)) / np.sqrt(D)).astype(np.float32)
    a = rng.standard_normal(N).astype(np.float32)
    T, s = 2 * KAPPA**2, N**-0.5
    sd = np.float32(np.sqrt(2 * T * ETA))

    def step(W, a):
        H = X @ W.T
        A = np.maximum(H, 0)
        g = (2.0 / P) * (s * (A @ a) - y)
        ga = s * (g @ A)
        gW = s * a[:, None] * (((H > 0) * g[:, None]).T @ X)
        W = W - ETA * (T * D * W + gW) + sd * rng.standard_normal(W.shape, dtype=np.float32)
        a = a - ETA * (T * a + ga) + sd * rng.standard_normal(a.shape, dtype=np.float32)
        return W, a

    for _ in range(5):
        W, a = step(W, a)
    t = time.perf_counter()
    for _ in range(steps):
        W, a = step(W, a)
    return steps / (time.perf_counter() - t)


def mflab_engine(steps=2000, chain_batch=None, sampler="sgld", repeats=3, gibbs_every=None):
    """chain-steps/s of the studies' guarded posterior kernel (``sampler``: sgld or kinetic, with a readout draw
    every ``gibbs_every`` steps) inside the runner's compiled chunk, one value per repeat (after a
    compile-and-warm-up call)."""
    import jax
    import jax.numpy as jnp

    from mflab.conventions import temperature
    from mflab.dynamics import TrainData, network_posterior_kernel, posterior_hyper
    from mflab.dynamics.runner import default_chain_batch, make_chunk_fn
    from mflab.networks import TwoLayer
    from mflab.tasks import SparseParity, make_dataset

    task, net = SparseParity(D, K), TwoLayer.create(N, "relu", "ntk")
    data = make_dataset(task, jax.random.key(0), P, 1000)
    td = TrainData(data.X_train, data.y_train, jnp.full((P,), 1.0 / P))
    tdC = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (C,) + x.shape), td)
    kern = network_posterior_kernel(net, D, sampler=sampler, readout_gibbs_every=gibbs_every)
    keys = jax.random.split(jax.random.key(1), C)
    T = jnp.full((C,), temperature(KAPPA))
    states = jax.vmap(lambda k, dat, t: kern.init(net.init(k, D), dat, k, t))(keys, tdC, T)
    hyp = posterior_hyper(sampler, net, D, T, ETA)
    cb = chain_batch or default_chain_batch(C)
    log_every = min(1000, steps)
    chunk = make_chunk_fn(kern, lambda p, d: {"a2": jnp.mean(p.a**2)}, log_every, cb)
    out = chunk(states, keys, hyp, tdC, jnp.int32(0), steps // log_every)  # compile + warm up
    jax.block_until_ready(out)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = chunk(states, keys, hyp, tdC, jnp.int32(0), steps // log_every)
        jax.block_until_ready(out)
        rates.append(C * steps / (time.perf_counter() - t))
    return np.array(rates), cb


def _spread(r):
    return f"{np.median(r):8.1f} [{r.min():.0f}-{r.max():.0f}]"


def run_anchor(name):
    path = Path(__file__).resolve().parents[2] / "shared" / "anchors" / name
    if not path.exists():
        return None, f"{name} not found"
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=900)
    m = re.search(r"([\d.]+) chain-steps/s", r.stdout)
    return (float(m.group(1)) if m else None), (r.stdout.strip() or r.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each engine (median and range shown)")
    ap.add_argument("--chain-batch", type=int, default=0, help="0: automatic")
    ap.add_argument("--gibbs-every", type=int, default=10, help="readout draw period of the timed kinetic+draw engine")
    ap.add_argument("--anchors", action="store_true", help="also run ../shared/anchors side by side")
    args = ap.parse_args()

    peak = matmul_rate()
    eng, cb = mflab_engine(args.steps, args.chain_batch or None, "sgld", args.repeats)
    kin, _ = mflab_engine(args.steps, args.chain_batch or None, "kinetic", args.repeats)
    kg, _ = mflab_engine(args.steps, args.chain_batch or None, "kinetic", args.repeats, args.gibbs_every)
    ref = np.array([numpy_reference() for _ in range(args.repeats)])
    med = float(np.median(eng))
    print(f"setting: d={D} k={K} N={N} P={P} ReLU float32 full-batch, {C} chains, chain_batch={cb}; "
          f"median [min-max] of {args.repeats} runs")
    print(f"f32 matmul rate (numpy 2048^3):   {peak / 1e9:8.1f} GFLOP/s")
    print(f"mflab SGLD engine:                {_spread(eng)} chain-steps/s  {med * FLOPS_PER_STEP / 1e9:6.1f} GFLOP/s")
    print(f"mflab kinetic (BAOAB) engine:     {_spread(kin)} chain-steps/s")
    print(f"mflab kinetic + readout draw/{args.gibbs_every}: {_spread(kg)} chain-steps/s")
    print(f"numpy reference (1 chain):        {_spread(ref)} chain-steps/s")
    print(f"ratio SGLD engine / matmul rate:  {med * FLOPS_PER_STEP / peak:8.2f}   (target >= 0.40)")
    print(f"ratio SGLD engine / numpy ref:    {med / np.median(ref):8.2f}   (target >= 2)")
    print(f"step cost kinetic / SGLD:         {med / np.median(kin):8.2f}   (target <= 1.3)")
    print(f"step cost kinetic+draw / SGLD:    {med / np.median(kg):8.2f}   (per step, the draws spread over them)")
    if args.anchors:
        for name in ("jax_parity_probe.py", "anchor_torch_parity.py"):
            rate, line = run_anchor(name)
            print(f"anchor {name}: {line}")
            if rate:
                print(f"ratio SGLD engine / {name}: {med / rate:8.2f}")


if __name__ == "__main__":
    main()
