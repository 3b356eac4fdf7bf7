"""Depth-μP ResNet GD step: time at L = 64, n = 256 on this machine, against the FLOPs the step
must do, the machine's matmul rate (the probe of sgld_parity_throughput.py) and a plain numpy loop; and compile time vs depth.

    python benchmarks/resnet_step.py [--batch P] [--steps S]

FLOPs of one full-batch GD step with one-layer blocks, P inputs: forward 2Pn² per block, backward
4Pn² per block (input and weight cotangents), so 6 P n² L (input and readout layers are negligible).
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mflab.dynamics.resnet_training import train_kernel
from mflab.dynamics.objectives import TrainData
from mflab.networks.resnet import ResNet
from sgld_parity_throughput import matmul_rate  # the benchmarks' one f32 matmul-rate probe (numpy 2048³)


def numpy_reference(L, n, P, d, steps, lr=0.05):
    """The pilot loop of the notes (Form A, depth-μP, tanh, full batch), float32."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((d, P)).astype(np.float32)
    Y = np.sin(X[0])
    U = rng.standard_normal((n, d)).astype(np.float32)
    W = rng.standard_normal((L, n, n)).astype(np.float32)
    v = rng.standard_normal(n).astype(np.float32)
    s = 1 / np.sqrt(n * L)
    t = time.perf_counter()
    for _ in range(steps):
        H = [U @ X / np.sqrt(d)]
        for ell in range(L):
            H.append(H[-1] + s * (W[ell] @ np.tanh(H[-1])))
        f = v @ np.tanh(H[-1]) / n
        chi = 2 * (f - Y) / P
        G = v[:, None] * (1 - np.tanh(H[-1]) ** 2)
        for ell in range(L - 1, -1, -1):
            gW = s * (G * chi) @ np.tanh(H[ell]).T
            G = G + s * (1 - np.tanh(H[ell]) ** 2) * (W[ell].T @ G)
            W[ell] -= lr * gW
        v = v - lr * n * (np.tanh(H[-1]) @ chi / n)
    return (time.perf_counter() - t) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    a = ap.parse_args()
    P, d, n, L = a.batch, 16, 256, 64
    X = jax.random.normal(jax.random.PRNGKey(0), (P, d))
    data = TrainData(X, jnp.sin(X[:, 0]), jnp.full(P, 1.0 / P))
    print(f"f32 matmul rate (numpy 2048^3): {matmul_rate() / 1e9:.0f} GFLOP/s")

    def timed(L, steps):
        net = ResNet.create(n, L, "tanh", "depth-mup")
        p = net.init(jax.random.PRNGKey(1), d)
        k = train_kernel(net, p)
        lr = jnp.asarray(0.05)
        run = jax.jit(lambda s: jax.lax.fori_loop(0, steps, lambda i, s: k.step(s, None, lr, data)[0], s))
        s0 = k.init(p)
        t = time.perf_counter()
        compiled = run.lower(s0).compile()
        t_compile = time.perf_counter() - t
        jax.block_until_ready(compiled(s0))
        t = time.perf_counter()
        jax.block_until_ready(compiled(s0))
        return t_compile, (time.perf_counter() - t) / steps

    print("compile time vs depth (one-layer blocks, n = 256):")
    for depth in (4, 16, 64, 256):
        tc, _ = timed(depth, 2)
        print(f"  L = {depth:4d}: {tc:.2f} s")
    _, t_step = timed(L, a.steps)
    flops = 6 * P * n * n * L
    t_np = numpy_reference(L, n, P, d, max(5, a.steps // 5))
    print(f"step time L = {L}, n = {n}, P = {P}: {1e3 * t_step:.2f} ms = {flops / t_step / 1e9:.0f} GFLOP/s "
          f"({6 * P * n * n * L / 1e9:.2f} GFLOP per step)")
    print(f"numpy reference loop: {1e3 * t_np:.2f} ms  -> mflab / numpy speed ratio {t_np / t_step:.2f}")


if __name__ == "__main__":
    main()
