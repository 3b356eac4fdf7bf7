"""NFD simulator (mflab.theory.nfd): time against M, L and T·P, against its floating-point work, the
machine's f32 matmul rate, a plain numpy implementation of the same algorithm, and the finite networks
that reach the same accuracy.

    python benchmarks/nfd_simulator.py [--repeats 3] [--quick]

Work model (float32): per pass and layer the forward and backward sweeps each form a slot covariance
(2 M S²), a regression (2 M S² + 2 M S Q), the response and drift products (4 M S Q) and the conditional
draw (2 M S Q): ≈ 2·L·(4 M S² + 16 M S Q) per pass, S = (T+1)·Q slots, summed over passes.

Networks at equal accuracy: a width-n network's estimate of an observable has a bias c/n and a seed spread
σ₁/√n (both measured here at n = 256…1024, L = 8). Reaching the simulator's Monte-Carlo error ε (the spread
over independent keys at M) needs n ≥ 2|c|/ε (bias ≤ ε/2) and S = (2σ₁/ε)²/n seeds (noise ≤ ε/2): the cost is
S × (the measured time of one network at that width).
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mflab.analysis.nfd_comparison import network_trajectories
from mflab.networks.resnet import ResNet
from mflab.theory.nfd import NFDSimulator, simulate
from sgld_parity_throughput import matmul_rate


def task(P=3, d=8):
    X = jax.random.normal(jax.random.PRNGKey(0), (P, d), jnp.float32)
    X = X / jnp.linalg.norm(X, axis=1, keepdims=True) * np.sqrt(d)
    return X, jnp.asarray(([1.0, -1.0, 0.5] * P)[:P], jnp.float32)


def flops(M, L, T1, Q):
    return sum(2 * L * (4 * M * (t + 1) ** 2 * Q * Q + 16 * M * (t + 1) * Q * Q) for t in range(T1))


def timed(sim, X, y, repeats, key=0):
    simulate(sim, X, y, 0.5, jax.random.key(key))  # compile
    ts = []
    for r in range(repeats):
        t = time.perf_counter()
        res = simulate(sim, X, y, 0.5, jax.random.key(key + 1 + r))
        ts.append(time.perf_counter() - t)
    return np.array(ts), res


def numpy_reference(X, y, L, T1, M, seed=0, lr=0.5):
    """The algorithm of the specification (§4) in plain numpy with growing per-layer lists (both responses,
    tanh): the prototype's shape, for speed comparison."""
    rng = np.random.default_rng(seed)
    X, y = np.asarray(X, np.float32), np.asarray(y, np.float32)
    P, d = X.shape
    s = 1 / np.sqrt(L)
    Kx = X @ X.T / d
    w, V = np.linalg.eigh(Kx)
    U = rng.standard_normal((M, P)).astype(np.float32) @ (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    V0 = rng.standard_normal(M).astype(np.float32)
    H = [[] for _ in range(L + 1)]
    G = [[] for _ in range(L + 1)]
    ZF = [[] for _ in range(L)]
    ZB = [[] for _ in range(L)]
    E = []

    def pinv(C):
        lam, Q = np.linalg.eigh(C)
        keep = lam > 1e-5 * max(lam.max(), 1e-30)
        return (Q[:, keep] / lam[keep]) @ Q[:, keep].T

    def draw(Zpast, C, n):
        if Zpast is None:
            lam, Q = np.linalg.eigh(C)
            return rng.standard_normal((M, n)).astype(np.float32) @ (Q * np.sqrt(np.clip(lam, 0, None))) @ Q.T
        p = Zpast.shape[1]
        reg = C[p:, :p] @ pinv(C[:p, :p])
        lam, Q = np.linalg.eigh(C[p:, p:] - reg @ C[:p, p:])
        return Zpast @ reg.T + rng.standard_normal((M, n)).astype(np.float32) @ (Q * np.sqrt(np.clip(lam, 0, None))) @ Q.T

    def regress(Z, F):
        Zc, Fc = Z - Z.mean(0), F - F.mean(0)
        return pinv(Zc.T @ Zc / M) @ (Zc.T @ Fc / M)

    cat = lambda lst: np.concatenate(lst, axis=1) if lst else None  # noqa: E731
    fs = []
    for t in range(T1):
        e_past = np.concatenate(E) if E else np.zeros(0, np.float32)
        h = U + (lr * cat(G[0]) @ (e_past[:, None] * np.tile(Kx, (t, 1))) if t else 0)
        H[0].append(h)
        for ell in range(1, L + 1):
            Hs = cat(H[ell - 1])
            Ph = np.tanh(Hs)
            Phi = Ph.T @ Ph / M
            z = draw(cat(ZF[ell - 1]), Phi, P)
            br = z
            if t:
                A = regress(cat(ZB[ell - 1]), np.tanh(h) - np.tanh(H[ell - 1][0]))
                br = br + cat(G[ell]) @ A
                br = br + lr * s * cat(G[ell]) @ (e_past[:, None] * Phi[:t * P, t * P:])
            ZF[ell - 1].append(z)
            h = h + s * br
            H[ell].append(h)
        Vt = V0 + (lr * np.tanh(cat(H[L])[:, :t * P]) @ e_past if t else 0)
        f = np.mean(Vt[:, None] * np.tanh(h), 0)
        fs.append(f)
        E.append((-(2 / P) * (f - y)).astype(np.float32))
        g = Vt[:, None] * (1 - np.tanh(h) ** 2)
        G[L].append(g)
        for ell in range(L, 0, -1):
            Gs = cat(G[ell])
            Gk = Gs.T @ Gs / M
            z = draw(cat(ZB[ell - 1]), Gk, P)
            Ph = np.tanh(cat(H[ell - 1]))
            inner = z
            if t:
                B = regress(cat(ZF[ell - 1]), g - G[ell][0])
                inner = inner + Ph @ B + lr * s * Ph[:, :t * P] @ (e_past[:, None] * Gk[:t * P, t * P:])
            ZB[ell - 1].append(z)
            g = g + s * (1 - np.tanh(H[ell - 1][t]) ** 2) * inner
            G[ell - 1].append(g)
    return np.array(fs)


def network_cost(X, y, L, steps, widths=(256, 512, 1024), seeds=8):
    """Bias c (from the 1/n fit of seed means) and seed spread σ₁ (σ(n)·√n, averaged) of f_T − f_0 of
    input 0 for backprop networks, and the time of one network per width (vmapped seeds / seeds)."""
    means, sds, secs = [], [], []
    for n in widths:
        net = ResNet.create(n, L, "tanh", "depth-mup")
        keys = jax.random.split(jax.random.key(5), seeds)
        network_trajectories(net, X, y, 0.5, steps, keys)  # compile
        t = time.perf_counter()
        tr = network_trajectories(net, X, y, 0.5, steps, keys)
        secs.append((time.perf_counter() - t) / seeds)
        v = tr["f"][:, steps, 0] - tr["f"][:, 0, 0]
        means.append(v.mean())
        sds.append(v.std(ddof=1))
    c, _ = np.polyfit(1 / np.asarray(widths, float), means, 1)  # (compile excluded: the jitted function is cached)
    sigma1 = float(np.mean(np.asarray(sds) * np.sqrt(widths)))
    return float(c), sigma1, dict(zip(widths, secs))


def peak_memory(M, L, steps, P=3):
    """Peak resident memory of a fresh process during one simulation, above what it held after a tiny
    warm-up run (imports, JAX runtime), against NFDSimulator.memory_bytes (what check_memory refuses on)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    # VmHWM (peak RSS of this address space) is reset by exec; ru_maxrss is not, it starts at the parent's
    hwm = "int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    code = ("import jax, json; from nfd_simulator import task; from mflab.theory.nfd import NFDSimulator, simulate;"
            f"X, y = task({P}); simulate(NFDSimulator.create(2, 1, 1000), X, y, 0.5, jax.random.key(0));"
            f"base = {hwm};"
            f"sim = NFDSimulator.create({L}, {steps}, {M}); simulate(sim, X, y, 0.5, jax.random.key(0));"
            f"print(json.dumps([base, {hwm}, sim.memory_bytes({P})]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
    base, peak, est = json.loads(out.stdout.strip().splitlines()[-1])
    return (peak - base) * 1024, est


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer sizes")
    a = ap.parse_args()
    R = a.repeats
    X, y = task()
    rate = matmul_rate()
    print(f"f32 matmul rate (numpy 2048^3): {rate / 1e9:.0f} GFLOP/s;  times: median [min, max] over {R} runs")

    def row(label, M, L, steps, Xi=X, yi=y):
        sim = NFDSimulator.create(L, steps, M)
        ts, res = timed(sim, Xi, yi, R)
        F = flops(M, L, steps + 1, Xi.shape[0])
        med = float(np.median(ts))
        print(f"  {label:<28s} {med:7.2f} s [{ts.min():.2f}, {ts.max():.2f}]  {F / med / 1e9:6.1f} GFLOP/s "
              f"({F / med / rate:.3f} of matmul)")
        return med

    print("against M (L = 16, P = 3, T = 3 steps):")
    for M in ((25_000, 50_000, 100_000) if a.quick else (25_000, 50_000, 100_000, 200_000)):
        row(f"M = {M}", M, 16, 3)
    print("against L (M = 50000, P = 3, T = 3):")
    for L in ((4, 16, 32) if a.quick else (4, 8, 16, 32, 64)):
        row(f"L = {L}", 50_000, L, 3)
    print("against T·P (M = 50000, L = 8; slots S = (T+1)·P):")
    for P, steps in (((3, 3), (3, 7), (6, 7)) if a.quick else ((3, 3), (3, 7), (6, 7), (8, 9))):
        Xp, yp = task(P)
        row(f"P = {P}, T = {steps} (S = {(steps + 1) * P})", 50_000, 8, steps, Xp, yp)

    M, L = 50_000, 16
    t_np = []
    for r in range(R):
        t = time.perf_counter()
        numpy_reference(X, y, L, 4, M, seed=r)
        t_np.append(time.perf_counter() - t)
    ts, _ = timed(NFDSimulator.create(L, 3, M), X, y, R)
    print(f"plain numpy implementation (M = {M}, L = {L}, T = 3): median {np.median(t_np):.2f} s "
          f"[{min(t_np):.2f}, {max(t_np):.2f}]; mflab {np.median(ts):.2f} s -> ratio {np.median(t_np) / np.median(ts):.2f}")

    for M, L in ((200_000, 16), (100_000, 32), (100_000, 64)):
        used, est = peak_memory(M, L, 3)
        print(f"memory M = {M}, L = {L}, T = 3, P = 3: peak RSS above the JAX import {used / 2**20:.0f} MiB, "
              f"estimate (memory_bytes) {est / 2**20:.0f} MiB -> ratio {used / est:.2f}")

    # equal accuracy: the simulator's Monte-Carlo error against networks' bias and seed noise (L = 8)
    L, steps, M = 8, 3, 100_000
    sim = NFDSimulator.create(L, steps, M)
    ts, _ = timed(sim, X, y, 1)
    vals = [simulate(sim, X, y, 0.5, jax.random.key(100 + k)).f for k in range(4 if a.quick else 6)]
    d = np.array([v[steps, 0] - v[0, 0] for v in vals])
    eps = float(d.std(ddof=1))
    c, sigma1, secs = network_cost(X, y, L, steps)
    n_star = 2 * abs(c) / eps
    widths = sorted(secs)
    # time of one network at n*: extrapolated from the largest measured width, between ∝ n (a lower bound) and
    # ∝ n² (the matmul cost; the measured times grow about 4x per doubling from 256 to 1024)
    grow = max(n_star / widths[-1], 1.0)
    t_lo, t_hi = secs[widths[-1]] * grow, secs[widths[-1]] * grow**2
    S_star = max((2 * sigma1 / eps) ** 2 / max(n_star, widths[0]), 1.0)
    print(f"equal accuracy (f_T - f_0, input 0; L = {L}, T = {steps}): simulator M = {M}: {np.median(ts):.2f} s, "
          f"Monte-Carlo error {eps:.4f} (spread over {len(d)} keys)")
    print(f"  networks: bias c/n with c = {c:+.3f}, seed spread sigma_1/sqrt(n) with sigma_1 = {sigma1:.3f}; "
          f"time per network {', '.join(f'n={n}: {1e3 * s:.0f} ms' for n, s in secs.items())}")
    print(f"  to reach {eps:.4f}: n* = {n_star:.0f}, {S_star:.0f} seeds -> {S_star * t_lo:.0f}-{S_star * t_hi:.0f} s of "
          f"networks = {S_star * t_lo / np.median(ts):.0f}-{S_star * t_hi / np.median(ts):.0f} x the simulator")


if __name__ == "__main__":
    main()
