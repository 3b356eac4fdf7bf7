"""The step bias of mflab's MF solve (the integrated readout, ``mflab.theory.mean_field``) against the particle step η.

On the small parity problem of ``tests/theory/test_mean_field.py`` (d = 4, k = 1, P = 16, N = B = 256 particles,
K = 10 inner steps), for κ = 0.3 (the test's) and κ = 5·10⁻³ (paper B's published one), it solves at
η ∈ {0.5, 0.25, 0.1, 0.05, 0.025} for the same diffusion time τ = iterations · K · η = 600, averages the training
field over the last two thirds of the iterations and over three seeds, and reports each field's RMS distance from
the η = 0.025 field in units of RMS(y) (``gap``), with the seeds' standard error of the field (``se``, same units)
as the noise floor. Overdamped Langevin's invariant law is biased by O(η), so the gap should fall about linearly
in η down to the floor.

    python scripts/mf_step_bias.py docs/validation/published_parity/mean_field/step_bias.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from mflab.conventions import posterior_noise
from mflab.dynamics import TrainData
from mflab.tasks import SparseParity, make_dataset
from mflab.theory.mean_field import MeanField, mf_init, mf_run

D, P, WIDTH, K, TAU, SEEDS = 4, 16, 256, 10, 600.0, 3
STEPS = (0.5, 0.25, 0.1, 0.05, 0.025)


def averaged_field(kappa: float, lr: float, data: TrainData) -> tuple[np.ndarray, np.ndarray]:
    """The training field averaged over the last 2/3 of a τ = TAU solve, per seed."""
    iterations = int(round(TAU / (K * lr)))
    mf = MeanField.create("relu", WIDTH, particles=WIDTH, inner_steps=K, lr=lr)
    fields = []
    for seed in range(SEEDS):
        st = mf_init(mf, jax.random.key(1 + seed), D, P)
        st, _, f = mf_run(mf, st, jax.random.key(2 + 10 * seed), data, posterior_noise(kappa), iterations,
                          observe=lambda s: s.field)
        if not bool(st.alive):
            raise SystemExit(f"κ = {kappa}, η = {lr}: the solve diverged; drop this η from STEPS")
        fields.append(np.mean(np.asarray(f)[iterations // 3:], axis=0))
    return np.mean(fields, axis=0), np.asarray(fields)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="JSON file to write")
    args = ap.parse_args(argv)
    ds = make_dataset(SparseParity(D, 1), jax.random.key(5), P, 64)
    data = TrainData(ds.X_train, ds.y_train, jnp.full((P,), 1.0 / P))
    rms = float(np.sqrt(np.mean(np.asarray(data.y) ** 2)))
    out = {"setting": {"d": D, "k": 1, "P": P, "particles": WIDTH, "inner_steps": K, "tau": TAU, "seeds": SEEDS,
                       "readout": "integrated", "units": "RMS(y)"}, "kappa": {}}
    for kappa in (0.3, 5e-3):
        runs = {lr: averaged_field(kappa, lr, data) for lr in STEPS}
        ref = runs[min(STEPS)][0]
        rows = {}
        for lr, (mean, seeds) in runs.items():
            rows[str(lr)] = {"gap": float(np.sqrt(np.mean((mean - ref) ** 2)) / rms),
                             "se": float(np.sqrt(np.mean(np.var(seeds, axis=0, ddof=1) / SEEDS)) / rms),
                             "rms_field": float(np.sqrt(np.mean(mean ** 2)) / rms)}
            print(f"κ = {kappa:g}  η = {lr:<6g} gap to η = {min(STEPS):g}: {rows[str(lr)]['gap']:.4f} "
                  f"(seeds' s.e. {rows[str(lr)]['se']:.4f})  RMS field {rows[str(lr)]['rms_field']:.3f}", flush=True)
        out["kappa"][str(kappa)] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
