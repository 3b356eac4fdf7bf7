"""Throughput of the μP mean-field Langevin particle system in both modes, with ratios to the machine's
matmul rate and to plain numpy implementations of the same steps run in the same process.

* data mode: N = 10⁴ particles, d = 20, n = 1024 fixed samples, erf, float32. One step needs ≈ 6·n·N·d
  flops of matrix work (forward X Wᵀ, backward Gᵀ X, plus the readout products).
* kernel (population) mode: N = 2000, d = 20, erf, float32, a two-atom Hermite target. One step
  evaluates the N×N dual kernel and its gradient (≈ 2·N²·d flops for the Gram products plus
  O(N²) transcendental evaluations, which dominate).

Both go through mflab.dynamics.run_chains (one chain, divergence checks on), i.e. exactly what the
presets run; compile time is removed by differencing a run of 3·steps and one of steps. With --preset, also times
`mflab run chaos-rate --quick` in a fresh process. Not a test: numbers vary run to run.

    python benchmarks/mfld_throughput.py [--steps 50] [--preset]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import erf

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from sgld_parity_throughput import matmul_rate  # noqa: E402  (the shared matmul probe)

from mflab.dynamics.mean_field_langevin import (DataObjective, MFLDSystem, ParticleInit,  # noqa: E402
                                                PopulationObjective, init_particles)
from mflab.dynamics.objectives import TrainData  # noqa: E402
from mflab.dynamics.runner import run_chains  # noqa: E402

D = 20
ETA, TAU, LAM = 0.1, 1e-3, 1e-3


def engine_steps_per_s(system: MFLDSystem, params, data, steps):
    kernel = system.kernel
    st = jax.tree_util.tree_map(lambda x: x[None], kernel.init(params))
    hyper = jax.tree_util.tree_map(lambda x: x[None], system.hyper(ETA, TAU))
    dat = None if data is None else jax.tree_util.tree_map(lambda x: x[None], data)
    run = lambda n: run_chains(kernel, st, jax.random.PRNGKey(1)[None], hyper, dat, n_steps=n,  # noqa: E731
                               log_every=n, observe=lambda p, _: {"a": jnp.mean(p.a)}, chunk_steps=n)
    # run_chains compiles its chunk on every call: time a short and a long run and difference them
    times = []
    for n in (steps, 3 * steps):
        t = time.perf_counter()
        jax.block_until_ready(run(n).states.params)
        times.append(time.perf_counter() - t)
    return 2 * steps / (times[1] - times[0])


def numpy_data_step(theta, X, y, rng):
    a, W = theta[:, 0], theta[:, 1:]
    H = X @ W.T
    S = erf(H)
    r = S @ a / len(a) - y
    ga = S.T @ r / len(y)
    gW = ((2 / np.sqrt(np.pi) * np.exp(-H**2) * r[:, None]).T @ X) * a[:, None] / len(y)
    g = np.concatenate([ga[:, None], gW], axis=1)
    return theta - ETA * (g + LAM * theta) + np.float32(np.sqrt(2 * ETA * TAU)) * rng.standard_normal(theta.shape, np.float32)


def numpy_kernel_step(theta, V, b, rng):
    """Population-mode step for erf and a target Σ_j b_j erf(v_j·x) (the Williams kernel and its
    gradient written out in numpy). Without noise it equals the engine's kernel-mode step to 2e-16 in
    float64 (checked by hand when this benchmark was written)."""
    a, W = theta[:, 0], theta[:, 1:]
    N = len(a)

    def kern(A, B):
        qa, qb = 1 + 2 * np.sum(A**2, 1), 1 + 2 * np.sum(B**2, 1)
        den = np.sqrt(np.outer(qa, qb))
        z = 2 * (A @ B.T) / den
        K = 2 / np.pi * np.arcsin(z)
        dK = 2 / np.pi / np.sqrt(np.maximum(1 - z**2, 1e-12))  # ∂K/∂z
        return K, dK, z, qa, den

    def grads(A, B, coef):  # ∂/∂A of Σ_ij coef_ij K(A_i, B_j)
        K, dK, z, qa, den = kern(A, B)
        M = coef * dK
        return K, 2 * (M / den) @ B - (M * z).sum(1)[:, None] * 2 * A / qa[:, None]

    K, gW1 = grads(W, W, np.outer(a, a) / N**2)
    Kt, gW2 = grads(W, V, np.outer(a, b) / N)
    ga = K @ a / N**2 - Kt @ b / N
    gW = gW1 - gW2  # ½ ∂/∂w_i of Σ_jk a_j a_k K: the self term's two slots cancel the ½
    g = np.concatenate([ga[:, None] * N, gW * N], axis=1)  # per-particle gradient ∇V = N ∂R/∂θ_i
    return theta - ETA * (g + LAM * theta) + np.float32(np.sqrt(2 * ETA * TAU)) * rng.standard_normal(theta.shape, np.float32)


def timed(fn, reps):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return reps / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--preset", action="store_true", help="also time `mflab run chaos-rate --quick`")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rate = matmul_rate()
    print(f"f32 matmul rate (numpy 2048³): {rate / 1e9:.0f} GFLOP/s")

    # data mode
    N, n = 10_000, 1024
    X = jax.random.normal(jax.random.PRNGKey(0), (n, D))
    y = erf(np.asarray(X[:, 0])) + 0.5 * erf(np.asarray(X[:, 1]))
    data = TrainData(X, jnp.asarray(y, jnp.float32), jnp.full(n, 1.0 / n))
    p = init_particles(ParticleInit(), jax.random.PRNGKey(0), N, D)
    sps = engine_steps_per_s(MFLDSystem(DataObjective("erf", LAM), N), p, data, args.steps)
    th = np.concatenate([np.asarray(p.a)[:, None], np.asarray(p.W)], axis=1)
    Xn = np.asarray(X)
    ref = timed(lambda: numpy_data_step(th, Xn, y.astype(np.float32), rng), 5)
    flops = 6 * n * N * D
    print(f"data mode   N={N}, d={D}, n={n}: mflab {sps:7.1f} steps/s = {sps * flops / 1e9:6.1f} GFLOP/s "
          f"({sps * flops / rate:.2f} of matmul rate); numpy {ref:6.1f} steps/s; ratio {sps / ref:.1f}x")

    # kernel mode
    N = 2000
    V = np.eye(D)[:2]
    b = np.array([1.0, 0.5])
    from mflab.networks.two_layer import TwoLayer, TwoLayerParams
    from mflab.tasks.teacher import Teacher

    target = Teacher(TwoLayer.create(2, "erf", "standard"), TwoLayerParams(jnp.asarray(V, jnp.float32), jnp.asarray(b, jnp.float32)))
    p = init_particles(ParticleInit(), jax.random.PRNGKey(0), N, D)
    sps = engine_steps_per_s(MFLDSystem(PopulationObjective("erf", target, LAM), N), p, None,
                             max(args.steps // 5, 5))
    th = np.concatenate([np.asarray(p.a)[:, None], np.asarray(p.W)], axis=1).astype(np.float64)
    ref = timed(lambda: numpy_kernel_step(th, V, b, rng), 3)
    print(f"kernel mode N={N}, d={D}: mflab {sps:7.2f} steps/s ({1e3 / sps:.0f} ms/step); numpy {ref:6.2f} steps/s "
          f"({1e3 / ref:.0f} ms/step); ratio {sps / ref:.1f}x")

    if args.preset:
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mflab.cli", "run", "chaos-rate", "--quick", "--out", d + "/cr",
                            "--no-progress"], check=True, capture_output=True)
            print(f"mflab run chaos-rate --quick: {time.perf_counter() - t:.0f} s wall")


if __name__ == "__main__":
    main()
