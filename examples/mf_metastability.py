"""Is the MF single-neuron law in the learning phase one equilibrium, or several?

In a frozen residual r the MF particles sample p_r(w) ∝ exp(−U(w)) with
(``mflab.theory.mean_field.single_neuron_energy``; docs/mean_field.md)

    U(w) = ½ρ|w|² + ½ log D(w) − Ĵ_r(w)²/(2κ² D(w)),   D = Aκ² + Σ̂(w),   A = N^{2γ}/σ_a².

The last term is O(1/κ²). This script samples p_r with MALA, which is exact for any step size,
from two starts: the isotropic prior, and the prior restricted to the relevant coordinates. It
prints ⟨U⟩ and the second moments after each half of the run. Runs that end at different energies,
or are still drifting, show basins and time scales that a local sampler does not cross within the
budget. The MF fixed point the solver reports is then the one its dynamics reaches from the
symmetric start, as SGLD's answer is the state its chains reach from the prior.

Measured (2·10⁵ steps, 2026-11-23, with the inline MALA this example had before it used
``mflab.dynamics.adjusted_langevin``): the prior start reaches ⟨U⟩ = −107.8, then −111.5 (still falling); the
relevant-coordinates start reaches −81.1, then −82.0. The library kernel draws its own random stream;
with it, 4·10³ steps (2026-12-01) give −76.1, −81.0 (prior start) and −75.1, −76.3 (relevant start).

    python examples/mf_metastability.py [--kappa 5e-3] [--steps 200000]

Setting: 4-sparse parity, d = 12, P = 400, N = 128, γ = ½, ReLU, ρ = d, r = 0.3 y (the field
of an MF point with m ≈ 0.7). Float64, 256 particles per start; about 4 minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from mflab.dynamics import guard, mala, run_chains, stack_chains
from mflab.dynamics.objectives import TrainData
from mflab.tasks import SparseParity
from mflab.tasks.base import sample
from mflab.theory.mean_field import MeanField, single_neuron_energy


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kappa", type=float, default=5e-3)
    ap.add_argument("--steps", type=int, default=200_000)
    ap.add_argument("--eta", type=float, default=5e-5, help="MALA step (exact for any value; sets the acceptance)")
    a = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    d, k, P, N, B = 12, 4, 400, 128, 256
    task = SparseParity(d, k)
    X, y = sample(task, jax.random.key(2), P)
    data = TrainData(X, y, jnp.full((P,), 1.0 / P))
    mf = MeanField.create("relu", N)  # γ = ½, σ_a = σ_w = 1
    rho = jnp.full((d,), mf.rho0(d))

    def U(w):
        return single_neuron_energy(mf, w, rho, 0.3 * y, data, a.kappa**2)

    U_b = jax.vmap(U)
    # one MALA chain per particle (the library kernel, exact for any step), driven by run_chains
    kernel = guard(mala(lambda w, data: U(w)))
    half = a.steps // 2
    log_every = max(half // 10, 1)
    half = (half // log_every) * log_every

    def run(W, key):
        states = jax.vmap(kernel.init)(W)
        res = run_chains(kernel, states, jax.random.split(key, W.shape[0]), jnp.full(W.shape[0], a.eta),
                         stack_chains(jnp.zeros(()), W.shape[0]), n_steps=half, log_every=log_every,
                         chunk_steps=half, chain_batch=W.shape[0],
                         observe=lambda w, d: {"U": U(w)})
        return res.states.params

    eta = a.eta

    def stats(W):
        return float(jnp.mean(U_b(W))), float(jnp.mean(W[:, :k] ** 2)), float(jnp.mean(W[:, k:] ** 2))

    W0 = jax.random.normal(jax.random.key(0), (B, d)) / np.sqrt(mf.rho0(d))
    starts = {"isotropic prior": W0, "relevant coordinates only": W0.at[:, k:].set(0.0) * np.sqrt(d / k)}
    print(f"κ = {a.kappa:g}, MALA η = {eta:g}, {a.steps} steps, {B} particles per start")
    print(f"{'start':28s} {'half':>5s} {'<U>':>9s} {'<w_j²> relevant':>16s} {'<w_j²> irrelevant':>18s}")
    for name, W in starts.items():
        for h in (1, 2):
            W = run(W, jax.random.key(h))
            u, wr, wi = stats(W)
            print(f"{name:28s} {h:5d} {u:9.2f} {wr:16.4f} {wi:18.5f}")


if __name__ == "__main__":
    main()
